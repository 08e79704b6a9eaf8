"""What the SEG / SR export tests share: a small written T1 series and a finding."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bmes_imaging import Volume
from bmes_imaging.bones import Bone
from bmes_imaging.detection import BoneFinding
from bmes_imaging.dicom import load_series, write_series

#: A sagittal grid (0.7 mm pixels, 3 mm slices), as the small export studies use.
SMALL_T1_AFFINE = np.array([[0, 0, -3.0, 12], [0.7, 0, 0, -50], [0, 0.7, 0, -40],
                            [0, 0, 0, 1]])


def small_t1(folder: Path, *, seed: int, shape: tuple[int, int, int], uid_seed: str
             ) -> Volume:
    """A random T1 series written as DICOM into ``folder`` and loaded back."""
    arr = np.random.default_rng(seed).uniform(0, 800, shape).astype(np.float32)
    write_series(Volume(arr, SMALL_T1_AFFINE), folder, patient_id="7",
                 patient_name="DOE^JANE", series_description="T1 SAG", uid_seed=uid_seed)
    return load_series(folder)


def finding_for(bone: Bone, status: str = "confirmed") -> BoneFinding:
    """A grade-1 finding of ``bone`` (2 ml bone, 0.3 ml edema)."""
    return BoneFinding(bone, 2.0, 0.3, 0.15, 1, 0.6, 1.8, 0.9, status=status)

"""A small archive of DICOM studies mixed with junk, for the screening tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bmes_imaging import Volume
from bmes_imaging.dicom import write_series

#: Patient names written into the archive: the run log must never contain them.
NAMES = ("KOCA^AYSE", "YILMAZ^MEHMET", "DEMIR^FATMA", "CELIK^ALI", "SAHIN^ZEYNEP",
         "ARSLAN^EMRE")

_T1 = {"ScanningSequence": "SE", "SequenceVariant": "SK", "RepetitionTime": 520,
       "EchoTime": 12}
_STIR = {"ScanningSequence": ["SE", "IR"], "SequenceVariant": "SK", "RepetitionTime": 4200,
         "EchoTime": 40, "InversionTime": 160}


def write_mr_study(folder: Path, n: int, side: str, *, stir: bool = True,
                   shape: tuple[int, int, int] = (48, 40, 10)) -> None:
    """Write a T1 (and a STIR) series of one study into ``folder``."""
    rng = np.random.default_rng(n)
    affine = np.array([[0, 0, -3.0, 0], [0.8, 0, 0, -50], [0, 0.8, 0, -40], [0, 0, 0, 1]])
    common = {"patient_id": f"10{n}", "patient_name": NAMES[n % len(NAMES)],
              "study_instance_uid": f"1.2.826.0.1.3680043.8.498.7{n}"}
    write_series(Volume(rng.uniform(50, 900, shape).astype(np.float32), affine), folder,
                 series_number=1, series_description="T1 TSE SAG", uid_seed=f"t1-{n}",
                 attributes={**_T1, "Laterality": side}, shuffle_seed=n, **common)
    if stir:
        write_series(Volume(rng.uniform(10, 400, shape).astype(np.float32), affine), folder,
                     series_number=2, series_description="STIR SAG", uid_seed=f"stir-{n}",
                     attributes={**_STIR, "Laterality": side}, shuffle_seed=n,
                     filename_pattern="ST{index:05d}.dcm", **common)


@pytest.fixture
def junk_archive(tmp_path: Path) -> dict[str, object]:
    """4 good studies, one without STIR, one with a truncated file, plus junk files."""
    root = tmp_path / "archive"
    for n in range(4):
        write_mr_study(root / f"good{n}", n, "R" if n % 2 else "L")
    write_mr_study(root / "nostir", 4, "L", stir=False)
    write_mr_study(root / "truncated", 5, "R")
    victim = sorted((root / "truncated").glob("IM*.dcm"))[3]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 1500])  # pixel data cut short
    (root / "notes.txt").write_text("scanned on the old console\n")
    (root / "good0" / "DICOMDIR.bak").write_bytes(b"\x00" * 50)
    (root / "good1" / "broken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 64)
    return {"root": root, "good": [f"1.2.826.0.1.3680043.8.498.7{n}" for n in range(4)],
            "nostir": "1.2.826.0.1.3680043.8.498.74",
            "truncated": "1.2.826.0.1.3680043.8.498.75"}

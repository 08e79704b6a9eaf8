"""Fixtures for the DICOM loading tests: synthetic volumes in named orientations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bmes_imaging.volume import Volume

#: Direction of (i, j, k) in RAS+ for each orientation, as a 3x3 rotation.
_ORIENTATIONS: dict[str, np.ndarray] = {
    # axial: i -> L (rows run R to L), j -> P (columns run A to P), k -> S
    "axial": np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]]),
    # sagittal: i -> P, j -> I, k -> L  (as Siemens sagittals: IOP 0 1 0 0 0 -1)
    "sagittal": np.array([[0.0, 0, -1], [-1, 0, 0], [0, -1, 0]]),
    # coronal: i -> L, j -> I, k -> A  (IOP 1 0 0 0 0 -1)
    "coronal": np.array([[-1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
    # double oblique: sagittal tilted about two axes
    "oblique": Rotation.from_euler("xz", [17.0, -23.0], degrees=True).as_matrix()
    @ np.array([[0.0, 0, -1], [-1, 0, 0], [0, -1, 0]]),
}


def make_volume(orientation: str = "axial", shape: tuple[int, int, int] = (12, 10, 7),
                spacing: tuple[float, float, float] = (0.45, 0.55, 3.3),
                origin: tuple[float, float, float] = (12.5, -40.25, 33.0),
                seed: int = 0, reverse_slices: bool = False,
                dtype: type = np.float32) -> Volume:
    """A volume with smooth-plus-noise content in a named orientation."""
    rot = _ORIENTATIONS[orientation]
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag(spacing)
    affine[:3, 3] = origin
    rng = np.random.default_rng(seed)
    ii, jj, kk = np.meshgrid(*(np.arange(s) for s in shape), indexing="ij")
    data = (200 + 50 * np.sin(ii / 3.0) + 30 * jj + 11 * kk
            + rng.normal(0, 5, shape)).astype(dtype)
    if reverse_slices:
        flip = np.eye(4)
        flip[2, 2] = -1
        flip[2, 3] = shape[2] - 1
        affine = affine @ flip
        data = data[:, :, ::-1].copy()
    return Volume(data, affine)


@pytest.fixture
def volume_factory() -> Callable[..., Volume]:
    """Return :func:`make_volume` (orientation, shape, spacing, origin, seed...)."""
    return make_volume

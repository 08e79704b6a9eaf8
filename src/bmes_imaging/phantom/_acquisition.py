"""Acquisition: series grids, through-slice partial volume, bias field, Rician noise.

A series is a stack of sagittal (or axial) slices with its own field of view, matrix,
slice thickness, gap and slice positions. Each slice is rendered by sampling the
anatomy at ``n_sub`` planes spread across the slice thickness and averaging them
(partial-volume averaging through the slice), then blurred in-plane a little (the
point-spread function of a finite k-space), multiplied by a smooth receive-coil bias
field and given Rician noise.

Volumes are indexed ``(column, row, slice)`` like volumes loaded from DICOM, with a
RAS+ affine (:mod:`bmes_imaging.geometry`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..geometry import LPS_TO_RAS

__all__ = [
    "VENDORS",
    "SeriesProtocol",
    "bias_field",
    "render_series",
    "rician",
    "series_affine",
]


@dataclass(frozen=True)
class SeriesProtocol:
    """How one series is acquired.

    Attributes
    ----------
    sequence
        ``"t1"`` or ``"stir"``.
    plane
        ``"sagittal"``, ``"axial"`` or ``"coronal"``.
    fov_mm
        In-plane field of view ``(along a row, along a column)``.
    matrix
        ``(columns, rows)``.
    thickness_mm, spacing_mm
        Slice thickness and centre-to-centre spacing (spacing - thickness = gap).
    n_slices
        Number of slices.
    n_sub
        Samples through each slice for partial-volume averaging.
    """

    sequence: str
    plane: str
    fov_mm: tuple[float, float]
    matrix: tuple[int, int]
    thickness_mm: float
    spacing_mm: float
    n_slices: int
    n_sub: int = 3

    @property
    def pixel_mm(self) -> tuple[float, float]:
        """Pixel spacing along a row and along a column."""
        return (self.fov_mm[0] / self.matrix[0], self.fov_mm[1] / self.matrix[1])


#: Vendor styles: manufacturer, model, series descriptions and sequence attributes.
VENDORS: dict[str, dict[str, Any]] = {
    "SIEMENS": {
        "model": "MAGNETOM Aera", "field": 1.5, "model_3t": "MAGNETOM Skyra",
        "t1": {"description": "t1_tse_sag", "ScanningSequence": "SE",
               "SequenceVariant": ["SK", "SP", "OSP"], "ScanOptions": "",
               "SequenceName": "*tse2d1_3", "tr": (500.0, 650.0), "te": (9.0, 13.0),
               "ti": None, "etl": 3},
        "stir": {"description": "t2_tirm_sag", "ScanningSequence": ["SE", "IR"],
                 "SequenceVariant": ["SK", "SP", "MP", "OSP"], "ScanOptions": "IR",
                 "SequenceName": "*tir2d1_11", "tr": (3500.0, 5000.0), "te": (30.0, 45.0),
                 "ti": (150.0, 170.0), "etl": 11},
        "t2_fs": {"description": "t2_tse_fs_sag", "ScanningSequence": "SE",
                  "SequenceVariant": ["SK", "SP", "OSP"], "ScanOptions": "FS",
                  "SequenceName": "*tse2d1_15", "tr": (3000.0, 4500.0),
                  "te": (60.0, 85.0), "ti": None, "etl": 15},
        "pd_fs": {"description": "pd_tse_fs_sag", "ScanningSequence": "SE",
                  "SequenceVariant": ["SK", "SP", "OSP"], "ScanOptions": "FS",
                  "SequenceName": "*tse2d1_9", "tr": (2500.0, 3800.0),
                  "te": (28.0, 40.0), "ti": None, "etl": 9},
        "axial": {"stir": "t2_tirm_tra", "t2_fs": "t2_tse_fs_tra", "pd_fs": "pd_tse_fs_tra"},
        "coronal": {"stir": "t2_tirm_cor", "t2_fs": "t2_tse_fs_cor", "pd_fs": "pd_tse_fs_cor"},
    },
    "GE MEDICAL SYSTEMS": {
        "model": "SIGNA Explorer", "field": 1.5, "model_3t": "SIGNA Premier",
        "t1": {"description": "Sag T1 FSE", "ScanningSequence": "SE",
               "SequenceVariant": ["SK"], "ScanOptions": ["FAST_GEMS"],
               "SequenceName": "fse-xl", "tr": (450.0, 700.0), "te": (8.0, 14.0),
               "ti": None, "etl": 3},
        "stir": {"description": "Sag STIR", "ScanningSequence": ["SE", "IR"],
                 "SequenceVariant": ["SK", "MP"], "ScanOptions": ["IR_GEMS", "FAST_GEMS"],
                 "SequenceName": "fse-xl", "tr": (3000.0, 5500.0), "te": (35.0, 50.0),
                 "ti": (140.0, 160.0), "etl": 9},
        "t2_fs": {"description": "Sag T2 FS", "ScanningSequence": "SE",
                  "SequenceVariant": ["SK"], "ScanOptions": ["FAST_GEMS", "FS"],
                  "SequenceName": "fse-xl", "tr": (3000.0, 5000.0), "te": (60.0, 85.0),
                  "ti": None, "etl": 14},
        "pd_fs": {"description": "Sag PD FS", "ScanningSequence": "SE",
                  "SequenceVariant": ["SK"], "ScanOptions": ["FAST_GEMS", "FS"],
                  "SequenceName": "fse-xl", "tr": (2400.0, 3600.0), "te": (28.0, 40.0),
                  "ti": None, "etl": 8},
        "axial": {"stir": "Ax STIR", "t2_fs": "Ax T2 FS", "pd_fs": "Ax PD FS"},
        "coronal": {"stir": "Cor STIR", "t2_fs": "Cor T2 FS", "pd_fs": "Cor PD FS"},
    },
    "Philips Medical Systems": {
        "model": "Ingenia", "field": 1.5, "model_3t": "Ingenia Elition X",
        "t1": {"description": "T1W_TSE SAG", "ScanningSequence": "SE",
               "SequenceVariant": ["SK"], "ScanOptions": "",
               "SequenceName": "TSE", "tr": (480.0, 650.0), "te": (10.0, 15.0),
               "ti": None, "etl": 4},
        "stir": {"description": "STIR_TSE SAG", "ScanningSequence": ["SE", "IR"],
                 "SequenceVariant": ["SK", "MP"], "ScanOptions": "",
                 "SequenceName": "TIR", "tr": (3000.0, 4500.0), "te": (30.0, 50.0),
                 "ti": (160.0, 180.0), "etl": 10},
        "t2_fs": {"description": "T2W_TSE_SPAIR SAG", "ScanningSequence": "SE",
                  "SequenceVariant": ["SK"], "ScanOptions": "FS",
                  "SequenceName": "TSE", "tr": (3000.0, 4500.0), "te": (60.0, 85.0),
                  "ti": None, "etl": 14},
        "pd_fs": {"description": "PDW_TSE_SPAIR SAG", "ScanningSequence": "SE",
                  "SequenceVariant": ["SK"], "ScanOptions": "FS",
                  "SequenceName": "TSE", "tr": (2400.0, 3600.0), "te": (28.0, 40.0),
                  "ti": None, "etl": 8},
        "axial": {"stir": "STIR_TSE TRA", "t2_fs": "T2W_TSE_SPAIR TRA",
                  "pd_fs": "PDW_TSE_SPAIR TRA"},
        "coronal": {"stir": "STIR_TSE COR", "t2_fs": "T2W_TSE_SPAIR COR",
                    "pd_fs": "PDW_TSE_SPAIR COR"},
    },
}


def series_affine(protocol: SeriesProtocol, centre: NDArray[np.float64],
                  slice_shift_mm: float = 0.0) -> NDArray[np.float64]:
    """RAS+ affine of a series centred on ``centre`` (world mm).

    Sagittal: rows run anterior to posterior (ImageOrientationPatient 0\\1\\0\\0\\0\\-1,
    anterior on the left of the screen), columns superior to inferior, slices left to
    right. Axial: rows right to left (1\\0\\0), columns anterior to posterior
    (0\\1\\0), slices inferior to superior. Coronal: rows right to left, columns
    superior to inferior (1\\0\\0\\0\\0\\-1), slices anterior to posterior.
    """
    if protocol.plane == "sagittal":
        row_lps = np.array([0.0, 1.0, 0.0])
        col_lps = np.array([0.0, 0.0, -1.0])
    elif protocol.plane == "coronal":
        row_lps = np.array([1.0, 0.0, 0.0])
        col_lps = np.array([0.0, 0.0, -1.0])
    else:
        row_lps = np.array([1.0, 0.0, 0.0])
        col_lps = np.array([0.0, 1.0, 0.0])
    normal_lps = np.cross(row_lps, col_lps)
    dx, dy = protocol.pixel_mm
    lps = np.eye(4)
    lps[:3, 0] = row_lps * dx
    lps[:3, 1] = col_lps * dy
    lps[:3, 2] = normal_lps * protocol.spacing_mm
    centre_lps = (LPS_TO_RAS @ np.r_[centre, 1.0])[:3]
    half = np.array([(protocol.matrix[0] - 1) / 2, (protocol.matrix[1] - 1) / 2,
                     (protocol.n_slices - 1) / 2])
    first = centre_lps - lps[:3, :3] @ half + normal_lps * slice_shift_mm
    lps[:3, 3] = first
    return np.asarray(LPS_TO_RAS @ lps, dtype=np.float64)


def render_series(protocol: SeriesProtocol, affine: NDArray[np.float64],
                  sample: Callable[[NDArray[np.float64], NDArray[np.float64],
                                    NDArray[np.float64], bool], NDArray[np.float32]],
                  ) -> NDArray[np.float32]:
    """Render one series: for each slice, average ``n_sub`` planes across its thickness.

    Parameters
    ----------
    protocol, affine
        The series grid.
    sample
        ``sample(origin, step_i, step_j, is_centre) -> signal`` of the plane of world
        points ``origin + i * step_i + j * step_j`` (``i < columns``, ``j < rows``) as a
        flat ``(columns * rows,)`` array in ``(i, j)`` C order; ``is_centre`` is True for
        the plane through the slice centre (where the caller may record ground truth).

    Returns
    -------
    numpy.ndarray
        ``float32`` array ``(columns, rows, slices)`` before blur, bias and noise.
    """
    ni, nj = protocol.matrix
    step_i, step_j, step_k = affine[:3, 0], affine[:3, 1], affine[:3, 2]
    normal = step_k / np.linalg.norm(step_k)
    n = protocol.n_sub
    offsets = ((np.arange(n) + 0.5) / n - 0.5) * protocol.thickness_mm
    centre_sub = n // 2 if n % 2 == 1 else -1
    if centre_sub >= 0:
        offsets[centre_sub] = 0.0
    out = np.empty((ni, nj, protocol.n_slices), np.float32)
    for k in range(protocol.n_slices):
        origin = affine[:3, 3] + k * step_k
        acc = np.zeros(ni * nj, np.float32)
        for m, off in enumerate(offsets):
            acc += sample(origin + off * normal, step_i, step_j, m == centre_sub)
        out[:, :, k] = (acc / np.float32(n)).reshape(ni, nj)
    return out


def psf_blur(image: NDArray[np.float32], sigma_px: float) -> NDArray[np.float32]:
    """In-plane Gaussian blur of every slice (finite k-space resolution)."""
    return np.asarray(ndimage.gaussian_filter(image, (sigma_px, sigma_px, 0.0)),
                      dtype=np.float32)


def bias_field(shape: tuple[int, int, int], strength: float,
               rng: np.random.Generator) -> NDArray[np.float32]:
    """Smooth multiplicative receive-coil field: 1 +- about 0.4 * ``strength``."""
    coeffs = rng.uniform(-1.0, 1.0, 6)
    axes = [np.linspace(-1.0, 1.0, s, dtype=np.float32) for s in shape]
    u, v, w = np.meshgrid(*axes, indexing="ij", sparse=True)
    f = (coeffs[0] * u + coeffs[1] * v + 0.5 * coeffs[2] * w
         + coeffs[3] * (u * u - 0.33) + coeffs[4] * (v * v - 0.33) + coeffs[5] * u * v)
    f = f / max(float(np.abs(coeffs).sum()), 1e-6) * 2.0
    return np.asarray(1.0 + 0.4 * strength * np.clip(f, -1.0, 1.0), dtype=np.float32)


def rician(image: NDArray[np.float32], sigma: float,
           rng: np.random.Generator) -> NDArray[np.float32]:
    """Magnitude of the image plus complex Gaussian noise of s.d. ``sigma``."""
    re = image + rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma)
    im = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(sigma)
    return np.asarray(np.sqrt(re * re + im * im), dtype=np.float32)

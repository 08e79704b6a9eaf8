"""Real vendor DICOM (``../shared/real-dicom``) against a fresh dcm2niix run.

The data are the dcm2niix QA collections (Siemens, Philips, XA enhanced, mosaics,
transfer syntaxes, 12-bit); they are read in place, never copied into the repository.
Tests skip, saying why, when the folder or dcm2niix is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bmes_imaging.geometry import apply_affine
from bmes_imaging.volume import Volume

#: The shared data folder: ``<repo>/../shared/real-dicom``.
REAL_DICOM = Path(__file__).resolve().parents[3].parent / "shared" / "real-dicom"
#: Folder -> vendor / kind, as test ids.
DATASETS = {
    "dcm_qa_decubitus": "siemens_classic_decubitus",
    "dcm_qa_xa30": "siemens_xa30_enhanced",
    "dcm_qa_mosaic": "siemens_mosaic",
    "dcm_qa_enh": "philips_and_siemens_enhanced",
    "dcm_qa_ts": "siemens_transfer_syntaxes",
    "dcm_qa_12bit": "siemens_12bit",
}
#: Folders holding transfer syntaxes this dcm2niix build cannot decode (JPEG-LS): the
#: reference is dcm2niix on copies decompressed by gdcmconv (GDCM, another reader).
DECOMPRESS_FIRST = ("dcm_qa_ts",)
#: World corners must agree within this (mm).
CORNER_MM = 0.05


@dataclass
class RefVolume:
    """One 3-D volume written by dcm2niix (a 4-D NIfTI gives one per volume)."""

    name: str
    affine: np.ndarray
    data: np.ndarray  # scaled values (scl_slope / scl_inter applied)


def run_dcm2niix(in_dir: Path, out_dir: Path) -> list[RefVolume]:
    """Every volume dcm2niix writes for ``in_dir`` (``-z n``, no BIDS sidecars)."""
    import nibabel as nib

    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dcm2niix", "-b", "n", "-z", "n", "-f", "%s_%d_%j_%e_%z",
                    "-o", str(out_dir), str(in_dir)], check=True, capture_output=True)
    refs = []
    for path in sorted(out_dir.glob("*.nii")):
        img = nib.load(path)
        if img.get_data_dtype().names:  # RGB (colour FA): not a greyscale volume
            continue
        data = np.asarray(img.get_fdata(dtype=np.float64))
        if data.ndim == 3:
            refs.append(RefVolume(path.name, img.affine, data))
        else:
            for t in range(data.shape[3]):
                refs.append(RefVolume(f"{path.name}[{t}]", img.affine, data[..., t]))
    return refs


def corners(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """RAS+ world position of the 8 corner voxel centres."""
    c = np.array([[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1)
                  for k in (0, shape[2] - 1)], dtype=np.float64)
    return apply_affine(affine, c)


def same_corners(vol: Volume, ref: RefVolume) -> bool:
    """The two grids have the same 8 world corners (as sets) within CORNER_MM."""
    if sorted(vol.shape) != sorted(ref.data.shape):
        return False
    ours, theirs = corners(vol.affine, vol.shape), corners(ref.affine, ref.data.shape)
    dist = np.linalg.norm(ours[:, None, :] - theirs[None, :, :], axis=2)
    return bool(np.all(dist.min(axis=1) <= CORNER_MM) and np.all(dist.min(axis=0) <= CORNER_MM))


def voxel_pairs(vol: Volume, ref: RefVolume) -> tuple[np.ndarray, np.ndarray] | None:
    """Our values and the reference's at the same world positions (None if the index
    grids are not the same voxel set up to axis permutation and flips; dcm2niix flips
    the row axis). The reference array is turned onto our grid by transposes and flips
    (no per-voxel index arithmetic: the XA30 collection compares thousands of pairs)."""
    m = np.linalg.inv(ref.affine) @ vol.affine  # our index -> reference index
    perm = np.rint(m[:3, :3])
    if not (np.all(np.abs(perm).sum(axis=0) == 1) and np.all(np.abs(perm).sum(axis=1) == 1)):
        return None
    if np.abs(m[:3, :3] - perm).max() > 1e-3:
        return None
    shift = np.rint(m[:3, 3]).astype(int)
    axes = [int(np.argmax(np.abs(perm[:, i]))) for i in range(3)]  # ref axis of our i
    view = np.transpose(ref.data, axes)
    index = []
    for i in range(3):
        a, sign, n = axes[i], int(perm[axes[i], i]), vol.shape[i]
        first, last = shift[a], shift[a] + sign * (n - 1)
        if min(first, last) < 0 or max(first, last) >= ref.data.shape[a]:
            return None
        index.append(slice(first, last + 1) if sign > 0 else
                     slice(first, last - 1 if last > 0 else None, -1))
    theirs = view[tuple(index)]
    if theirs.shape != vol.shape:
        return None
    return np.asarray(vol.array, dtype=np.float64).ravel(), theirs.ravel()


def value_scale(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float] | None:
    """``(factor, offset)`` with ``theirs == factor * ours + offset`` for every voxel
    (within float32 precision), or None when no constant map fits."""
    span = max(1.0, float(np.ptp(theirs)))
    if np.allclose(ours, theirs, rtol=0, atol=1e-4 * span):
        return 1.0, 0.0
    if np.ptp(ours) == 0:
        return None
    a = np.vstack([ours, np.ones_like(ours)]).T
    (factor, offset), *_ = np.linalg.lstsq(a, theirs, rcond=None)
    if np.allclose(factor * ours + offset, theirs, rtol=0, atol=1e-4 * span):
        return float(factor), float(offset)
    return None


def match(vol: Volume, refs: list[RefVolume]) -> tuple[RefVolume, tuple[float, float]] | None:
    """The dcm2niix volume with the same world corners and values (equal or a constant
    linear map of ours), or None."""
    for ref in refs:
        if not same_corners(vol, ref):
            continue
        pairs = voxel_pairs(vol, ref)
        if pairs is None:
            continue
        scale = value_scale(*pairs)
        if scale is not None:
            return ref, scale
    return None


def _decompressed(source: Path, out: Path) -> Path:
    for f in sorted(source.glob("*.dcm")):
        subprocess.run(["gdcmconv", "--raw", str(f), str(out / f.name)], check=True,
                       capture_output=True)
    return out


@pytest.fixture(scope="session")
def dcm2niix_refs(tmp_path_factory: pytest.TempPathFactory):
    """``refs(folder)``: dcm2niix volumes of ``REAL_DICOM/folder/In`` (run once each)."""
    cache: dict[str, list[RefVolume]] = {}

    def refs(folder: str) -> list[RefVolume]:
        if folder not in cache:
            source = REAL_DICOM / folder / "In"
            if folder in DECOMPRESS_FIRST:
                source = _decompressed(source, tmp_path_factory.mktemp(f"raw_{folder}"))
            out = tmp_path_factory.mktemp(f"dcm2niix_{folder}")
            cache[folder] = run_dcm2niix(source, out)
        return cache[folder]

    return refs


@pytest.fixture(scope="session")
def real():
    """Skip unless the real data and dcm2niix are here; the comparison helpers."""
    if not REAL_DICOM.is_dir():
        pytest.skip(f"real vendor DICOM not found at {REAL_DICOM}")
    if shutil.which("dcm2niix") is None:
        pytest.skip("needs dcm2niix (Debian package dcm2niix)")
    return SimpleNamespace(root=REAL_DICOM, datasets=DATASETS, match=match,
                           same_corners=same_corners)


@pytest.fixture(scope="session")
def real_index():
    """``real_index(folder)``: ``index_folder(REAL_DICOM/folder/In)``, indexed once per run
    (the XA30 enhanced collection alone takes seconds to index)."""
    from bmes_imaging.dicom import index_folder

    if not REAL_DICOM.is_dir():
        pytest.skip(f"real vendor DICOM not found at {REAL_DICOM}")
    cache: dict[str, object] = {}

    def get(folder: str):
        if folder not in cache:
            cache[folder] = index_folder(REAL_DICOM / folder / "In")
        return cache[folder]

    return get

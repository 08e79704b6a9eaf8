"""A noise-free MR image of the atlas foot, for registering the atlas to a study.

The tissue classes come from :mod:`bmes_imaging.anatomy`; their signal is the
phantom's (:func:`~bmes_imaging.phantom._tissue.signal_tables` without jitter).
"""

from __future__ import annotations

from ..anatomy import MIRROR, atlas
from ..errors import PhantomError
from ..volume import SeriesInfo, Volume
from ._tissue import signal_tables

__all__ = ["load_foot_template"]


def load_foot_template(side: str = "R", sequence: str = "t1", *,
                       step: int = 2) -> Volume:
    """A noise-free intensity image of the atlas foot, for registering the atlas.

    Parameters
    ----------
    side
        ``"R"`` or ``"L"`` (mirrored), as :func:`~bmes_imaging.anatomy.load_foot_atlas`.
    sequence
        ``"t1"`` or ``"stir"``: typical phantom signal of each tissue (no texture, no
        edema, no bias).
    step
        Keep every ``step``-th atlas voxel (2: 1 mm voxels, about 30 MB as float32).

    Returns
    -------
    Volume
        ``float32`` image in the atlas frame;
        :func:`~bmes_imaging.anatomy.load_foot_atlas` subsampled with the same ``step``
        (``array[::step, ::step, ::step]``, affine scaled) gives the matching labels.
    """
    side = side.upper()
    if side not in ("L", "R"):
        raise PhantomError(f"side must be 'L' or 'R', found {side!r}")
    if sequence not in ("t1", "stir"):
        raise PhantomError(f"sequence must be 't1' or 'stir', found {sequence!r}")
    if step < 1:
        raise PhantomError(f"step must be >= 1, found {step}")
    a = atlas()
    tables = signal_tables(None, effusion=False, vessel=False)
    lut = tables.t1 if sequence == "t1" else tables.stir
    codes = a.codes[::step, ::step, ::step]
    affine = a.affine.copy()
    affine[:3, :3] *= step
    if side == "L":
        affine = MIRROR @ affine
    info = SeriesInfo(laterality=side, sequence=sequence,
                      series_description=f"foot atlas template ({sequence})")
    return Volume(lut[codes], affine, info)

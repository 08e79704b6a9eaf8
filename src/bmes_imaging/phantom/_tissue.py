"""MR signal of the atlas tissue classes on T1 and STIR.

The class codes (``1..14`` bone marrow by label, ``15`` other bone, ``CORTEX_BIT``
added for cortex, ``16..`` soft tissues, ``0`` air) belong to the atlas and live in
:mod:`bmes_imaging.anatomy`.

Signals are in arbitrary units close to a 12-bit scanner range: fat about 1000 on T1,
fluid about 1100 on STIR. :func:`signal_tables` gives the per-class look-up tables for
one study, jittered by the study's random generator so no two studies share contrast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..anatomy import (
    CARTILAGE,
    CORTEX_BIT,
    FAT,
    KAGER_FAT,
    MUSCLE,
    OTHER_BONE,
    RECESS,
    SKIN,
    TENDON,
    VESSEL,
)

__all__ = [
    "SOFT_TEXTURE",
    "FatRamp",
    "SignalTables",
    "adjust_contrast",
    "edema_ratios",
    "fat_suppressed_variant",
    "signal_tables",
    "soft_texture_tables",
]

#: Texture of soft tissues: code -> ((T1 fine, T1 coarse), (STIR fine, STIR coarse))
#: relative amplitudes of the study's noise tiles (fat lobules, muscle fibres...).
SOFT_TEXTURE: dict[int, tuple[tuple[float, float], tuple[float, float]]] = {
    FAT: ((0.03, 0.035), (0.15, 0.10)),
    KAGER_FAT: ((0.03, 0.03), (0.15, 0.10)),
    MUSCLE: ((0.06, 0.05), (0.06, 0.06)),
    TENDON: ((0.10, 0.05), (0.10, 0.05)),
    CARTILAGE: ((0.05, 0.03), (0.05, 0.03)),
    SKIN: ((0.05, 0.04), (0.05, 0.04)),
    RECESS: ((0.04, 0.05), (0.05, 0.08)),
}


def soft_texture_tables() -> tuple[NDArray[np.float32], ...]:
    """``(t1_fine, t1_coarse, stir_fine, stir_coarse)`` amplitude per class code."""
    out = [np.zeros(256, np.float32) for _ in range(4)]
    for code, ((t1f, t1c), (stf, stc)) in SOFT_TEXTURE.items():
        out[0][code], out[1][code], out[2][code], out[3][code] = t1f, t1c, stf, stc
    return tuple(out)


@dataclass(frozen=True)
class SignalTables:
    """Per-class signal of one study.

    Attributes
    ----------
    t1, stir
        ``float32[256]``: signal of each atlas class code.
    marrow_t1, marrow_stir
        Signal of normal fatty marrow (before texture).
    edema_t1_drop, edema_stir_gain
        Fraction of marrow T1 signal removed at full edema, and STIR signal added.
    red_t1, red_stir
        Signal of red (haematopoietic) marrow islands.
    fluid_t1, fluid_stir
        Signal of joint fluid (effusion).
    vessel_t1, vessel_stir
        Signal of a slow-flow vein (the bright-vessel confounder).
    muscle_t1, muscle_stir
        Signal of muscle (the noise reference).
    """

    t1: NDArray[np.float32]
    stir: NDArray[np.float32]
    marrow_t1: float
    marrow_stir: float
    edema_t1_drop: float
    edema_stir_gain: float
    red_t1: float
    red_stir: float
    fluid_t1: float
    fluid_stir: float
    vessel_t1: float
    vessel_stir: float
    muscle_t1: float
    muscle_stir: float


def signal_tables(rng: np.random.Generator | None, *, effusion: bool,
                  vessel: bool) -> SignalTables:
    """Draw the tissue signals of one study.

    Parameters
    ----------
    rng
        The study's random generator (consumed in a fixed order: deterministic);
        ``None`` gives the typical values without jitter.
    effusion
        Joint recesses hold fluid (bright STIR) instead of fat pad.
    vessel
        Vessels are slow-flow veins, bright on STIR; otherwise flow voids.
    """
    def j(value: float, rel: float = 0.06) -> float:
        if rng is None:
            return float(value)
        return float(value * (1.0 + rel * rng.uniform(-1.0, 1.0)))

    fat_t1, fat_stir = j(1000.0), j(70.0, 0.2)
    marrow_t1, marrow_stir = j(930.0), j(85.0, 0.2)
    muscle_t1, muscle_stir = j(360.0), j(290.0)
    tendon_t1, tendon_stir = j(70.0, 0.2), j(40.0, 0.2)
    cortex_t1, cortex_stir = j(55.0, 0.2), j(30.0, 0.2)
    cart_t1, cart_stir = j(470.0), j(360.0)
    fluid_t1, fluid_stir = j(260.0), j(1150.0)
    skin_t1, skin_stir = j(520.0), j(260.0)
    if vessel:
        vessel_t1, vessel_stir = j(330.0), j(950.0)
    else:
        vessel_t1, vessel_stir = j(60.0, 0.2), j(60.0, 0.2)
    t1 = np.zeros(256, np.float32)
    stir = np.zeros(256, np.float32)
    for code in range(1, OTHER_BONE + 1):
        t1[code], stir[code] = marrow_t1, marrow_stir
        t1[code | CORTEX_BIT], stir[code | CORTEX_BIT] = cortex_t1, cortex_stir
    t1[FAT], stir[FAT] = fat_t1, fat_stir
    t1[KAGER_FAT], stir[KAGER_FAT] = fat_t1 * 0.97, fat_stir * 1.1
    t1[MUSCLE], stir[MUSCLE] = muscle_t1, muscle_stir
    t1[TENDON], stir[TENDON] = tendon_t1, tendon_stir
    t1[CARTILAGE], stir[CARTILAGE] = cart_t1, cart_stir
    t1[SKIN], stir[SKIN] = skin_t1, skin_stir
    t1[VESSEL], stir[VESSEL] = vessel_t1, vessel_stir
    if effusion:
        t1[RECESS], stir[RECESS] = fluid_t1, fluid_stir
    else:
        # fat pad with a little synovium: fat-like, slightly darker on T1
        t1[RECESS], stir[RECESS] = fat_t1 * 0.85, fat_stir * 1.6
    return SignalTables(
        t1=t1, stir=stir, marrow_t1=marrow_t1, marrow_stir=marrow_stir,
        edema_t1_drop=float(rng.uniform(0.42, 0.62)) if rng is not None else 0.52,
        edema_stir_gain=float(rng.uniform(520.0, 900.0)) if rng is not None else 700.0,
        red_t1=j(560.0), red_stir=j(230.0),
        fluid_t1=fluid_t1, fluid_stir=fluid_stir,
        vessel_t1=vessel_t1, vessel_stir=vessel_stir,
        muscle_t1=muscle_t1, muscle_stir=muscle_stir,
    )


#: Fluid-sensitive sequences other than STIR: factors applied to the STIR signal of a
#: class (T2 fat-suppressed: darker muscle and cartilage; PD fat-suppressed: brighter
#: muscle, cartilage and marrow, a little less fluid, less even fat suppression).
_FS_FACTORS: dict[str, dict[int, float]] = {
    "t2_fs": {MUSCLE: 0.6, CARTILAGE: 0.8, SKIN: 0.8, TENDON: 0.9},
    "pd_fs": {MUSCLE: 1.15, CARTILAGE: 1.35, SKIN: 1.2, FAT: 1.4, KAGER_FAT: 1.4},
}
_FS_MARROW = {"t2_fs": 1.0, "pd_fs": 1.3}
_FS_FLUID = {"t2_fs": 1.0, "pd_fs": 0.8}
_FS_EDEMA = {"t2_fs": 0.85, "pd_fs": 0.7}


def fat_suppressed_variant(tables: SignalTables, kind: str) -> SignalTables:
    """The same study's tables with the fluid series as ``"t2_fs"`` or ``"pd_fs"``."""
    import dataclasses

    if kind == "stir":
        return tables
    fluid = _FS_FACTORS[kind]
    st = tables.stir.copy()
    for code, factor in fluid.items():
        st[code] *= factor
    for code in range(1, OTHER_BONE + 1):
        st[code] *= _FS_MARROW[kind]
    if st[RECESS] == np.float32(tables.fluid_stir):
        st[RECESS] *= _FS_FLUID[kind]
    return dataclasses.replace(
        tables, stir=st, marrow_stir=tables.marrow_stir * _FS_MARROW[kind],
        fluid_stir=tables.fluid_stir * _FS_FLUID[kind],
        edema_stir_gain=tables.edema_stir_gain * _FS_EDEMA[kind],
        muscle_stir=tables.muscle_stir * fluid.get(MUSCLE, 1.0),
        red_stir=tables.red_stir * _FS_MARROW[kind])


#: Mean edema weight over the core of a lesion (the sampler multiplies the 0..1 edema
#: weight by ``0.85 + 0.15 * coarse texture``): what turns a wanted mean ratio into a
#: T1 drop or a fluid-image gain.
EDEMA_CORE_WEIGHT = 0.85
#: Fat signal on the fluid image without any suppression (a T2 / PD fast spin echo
#: image: fat about as bright as fluid), and the residual fraction the default tables
#: were drawn with (STIR fat about 70 against fluid about 1150).
FAT_UNSUPPRESSED = 1000.0
FAT_RESIDUAL_DEFAULT = 0.05
#: Fat fraction of each class whose fluid-image signal follows the fat suppression.
_FAT_CONTENT = {FAT: 0.95, KAGER_FAT: 0.95, RECESS: 0.8}
_MARROW_FAT = 0.9
_RED_FAT = 0.4


def edema_ratios(tables: SignalTables) -> tuple[float, float]:
    """``(fluid ratio, T1 ratio)`` of the mean edema core against normal marrow."""
    fluid = 1.0 + EDEMA_CORE_WEIGHT * tables.edema_stir_gain / tables.marrow_stir
    t1 = 1.0 - EDEMA_CORE_WEIGHT * tables.edema_t1_drop
    return float(fluid), float(t1)


def adjust_contrast(tables: SignalTables, *, fluid_ratio: float | None = None,
                    t1_ratio: float | None = None, fat_remaining: float | None = None,
                    field_strength: float = 1.5) -> SignalTables:
    """The tables with contrast set explicitly (``None`` / 1.5 T leave them unchanged).

    Parameters
    ----------
    tables
        One study's tables (after :func:`fat_suppressed_variant`).
    fluid_ratio
        Mean fluid-image signal of the edema core / normal fatty marrow (after fat
        suppression is applied, so the ratio holds whatever the residual fat).
    t1_ratio
        Mean T1 signal of the edema core / normal marrow (``1 - T1 drop``).
    fat_remaining
        Fraction of the unsuppressed fat signal left on the fluid image: raises (or
        lowers, below the default 0.05) subcutaneous fat, fat pads and marrow
        (fat content 0.9; red marrow 0.4).
    field_strength
        3.0 lengthens T1 of water-rich tissue: muscle, cartilage, fluid, skin and red
        marrow darker on T1 against fat (about -12 to -20 %); 1.5 is the reference.
    """
    import dataclasses

    t1 = tables.t1.copy()
    st = tables.stir.copy()
    changes: dict[str, float] = {}
    marrow_stir, red_stir = tables.marrow_stir, tables.red_stir
    if fat_remaining is not None:
        delta = (float(fat_remaining) - FAT_RESIDUAL_DEFAULT) * FAT_UNSUPPRESSED
        for code, share in _FAT_CONTENT.items():
            if not (code == RECESS and st[RECESS] == np.float32(tables.fluid_stir)):
                st[code] = max(float(st[code]) + share * delta, 5.0)
        marrow_stir = max(marrow_stir + _MARROW_FAT * delta, 5.0)
        red_stir = max(red_stir + _RED_FAT * delta, 5.0)
        st[1:OTHER_BONE + 1] = marrow_stir
        changes.update(marrow_stir=marrow_stir, red_stir=red_stir)
    muscle_t1, red_t1, fluid_t1 = tables.muscle_t1, tables.red_t1, tables.fluid_t1
    if field_strength >= 2.0:
        factors = {MUSCLE: 0.85, CARTILAGE: 0.88, SKIN: 0.9, VESSEL: 0.85}
        for code, factor in factors.items():
            t1[code] *= factor
        if t1[RECESS] == np.float32(tables.fluid_t1):
            t1[RECESS] *= 0.8
        muscle_t1, red_t1, fluid_t1 = muscle_t1 * 0.85, red_t1 * 0.85, fluid_t1 * 0.8
        changes.update(muscle_t1=muscle_t1, red_t1=red_t1, fluid_t1=fluid_t1)
    if fluid_ratio is not None:
        changes["edema_stir_gain"] = (float(fluid_ratio) - 1.0) * marrow_stir \
            / EDEMA_CORE_WEIGHT
    if t1_ratio is not None:
        changes["edema_t1_drop"] = (1.0 - float(t1_ratio)) / EDEMA_CORE_WEIGHT
    return dataclasses.replace(tables, t1=t1, stir=st, **changes)


@dataclass(frozen=True)
class FatRamp:
    """Inhomogeneous fat suppression: the residual fat fraction varies across the field.

    ``residual(x) = f * (1 + h * clip(d . (x - c) / 60 mm, -1, 1))`` with ``f`` the
    study's residual fraction, ``h`` the spec's ``fat_inhomogeneity`` and ``d`` a random
    direction (a shim that degrades off-centre); :meth:`plane` gives the signal added to
    the fluid image's fat-containing voxels on one plane.
    """

    fat_lut: NDArray[np.float32]
    amplitude: float
    direction: NDArray[np.float64]
    centre: NDArray[np.float64]
    length_mm: float = 60.0

    @classmethod
    def of(cls, spec: object, tables: SignalTables,
           centre: NDArray[np.float64]) -> FatRamp | None:
        """The ramp of a :class:`~bmes_imaging.phantom.PhantomSpec` (``None`` if even)."""
        h = float(getattr(spec, "fat_inhomogeneity", 0.0))
        if h <= 0:
            return None
        f = getattr(spec, "fat_suppression", None)
        f = FAT_RESIDUAL_DEFAULT if f is None else float(f)
        lut = np.zeros(256, np.float32)
        for code, share in _FAT_CONTENT.items():
            if not (code == RECESS and tables.stir[RECESS] == np.float32(tables.fluid_stir)):
                lut[code] = share
        lut[1:OTHER_BONE + 1] = _MARROW_FAT
        rng = np.random.default_rng([int(getattr(spec, "seed", 0)), 4711])
        d = rng.normal(size=3)
        return cls(lut * np.float32(f * h * FAT_UNSUPPRESSED), h,
                   d / np.linalg.norm(d), np.asarray(centre, dtype=np.float64))

    def plane(self, codes: NDArray[np.uint8], origin: NDArray[np.float64],
              step_i: NDArray[np.float64], step_j: NDArray[np.float64], ni: int,
              nj: int) -> NDArray[np.float32]:
        """Signal to add on a plane of ``ni x nj`` points (flat, ``(i, j)`` C order)."""
        u = self.direction / self.length_mm
        a = float(u @ (origin - self.centre))
        ramp = (a + np.arange(ni, dtype=np.float32)[:, None] * np.float32(u @ step_i)
                + np.arange(nj, dtype=np.float32)[None, :] * np.float32(u @ step_j))
        return np.asarray(self.fat_lut[codes] * np.clip(ramp, -1.0, 1.0).reshape(-1),
                          dtype=np.float32)

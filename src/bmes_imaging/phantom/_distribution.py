"""The phantom as a distribution: tuning and evaluation cohorts that span real scanners.

:func:`draw_spec` draws one :class:`~bmes_imaging.phantom.PhantomSpec` with every contrast,
acquisition and anatomy parameter taken from the ranges below; :func:`distribution_specs`
gives a cohort of them. Three splits exist and never share a study:

* ``"tune"``: for choosing detector defaults (with its own corner cases,
  :data:`TUNE_CORNERS`);
* ``"eval"``: for reporting only. Its first studies are deterministic *corner cases*
  (:data:`EVAL_CORNERS`) that put every range's extremes in the cohort, the rest are
  drawn like the tuning studies. It has been run, and its misses seen, more than once
  while the detector was still being tuned, so it is no longer an untouched evaluation;
* ``"final"``: a clean evaluation split added before the third round of tuning, with its
  own salt, seeds and corner cases (:data:`FINAL_CORNERS`), run once after the defaults
  were frozen (its misses were read afterwards, so it is no longer untouched);
* ``"holdout"``: the fourth split, added before the fourth round of tuning: its own salt,
  seeds (40 000 000 + i) and corner cases (:data:`HOLDOUT_CORNERS`: those of ``"final"``
  plus small lesions of thin bones in thick slices, where the third round missed), run
  once after that round's defaults are committed (its misses were read afterwards);
* ``"sealed"``: the fifth split, added before the fifth round of tuning: its own salt,
  seeds (50 000 000 + i) and corner cases (:data:`SEALED_CORNERS`: those of
  ``"holdout"`` plus strong lesions of thin bones in thick slices, partial coverage of
  the midfoot and large or unlike feet, where the fourth round missed), run once after
  that round's defaults are committed (its misses were read afterwards);
* ``"vault"``: the sixth split, added before the sixth round of tuning: its own salt,
  seeds (60 000 000 + i) and corner cases (:data:`VAULT_CORNERS`: those of ``"sealed"``
  plus small lesions of thin bones in 5 mm slices with the fluid series in every plane,
  where the fifth round missed), run once after that round's defaults are committed
  (its misses were read afterwards);
* ``"crypt"``: the seventh split, added before the seventh round of tuning: its own salt,
  seeds (70 000 000 + i) and corner cases (:data:`CRYPT_CORNERS`: those of ``"vault"``
  plus small, low-contrast lesions of thin bones with the fluid series coronal or axial,
  strong small lesions in 5 mm slices of the bones not yet used there, and normal feet
  in 5 mm slices with the fluid series in another plane, where the sixth round missed or
  gave false bones), run once after that round's defaults are committed (its misses
  were read afterwards);
* ``"reserve"``: the eighth split, written at the end of the seventh round, before any
  tuning of the eighth: its own salt, seeds (80 000 000 + i) and corner cases
  (:data:`RESERVE_CORNERS`: those of ``"crypt"`` plus the kinds the seventh round missed
  or called falsely on ``"crypt"``; 80 studies, so that 18 are drawn), to be run once
  after the eighth round's defaults are committed (its misses were read afterwards);
* ``"ledger"``: the ninth split, written at the end of the eighth round, before any tuning
  of the ninth: its own salt, seeds (90 000 000 + i) and corner cases
  (:data:`LEDGER_CORNERS`: those of ``"reserve"`` plus the kinds the eighth round missed
  or called falsely on ``"reserve"``; 80 studies), to be run once after the ninth round's
  defaults are committed.

The split enters both the random stream (``default_rng([index, salt])`` with a
split-specific salt) and the study seed (``SEED_BASE[split] + index``, used for noise,
anatomy and edema shape), so no tuning study can repeat an evaluation study.

Ranges and their basis
----------------------
==========================  ==============================  =================================
parameter                   range (distribution)            basis
==========================  ==============================  =================================
edema / normal marrow on    1.8-8x, log-uniform             STIR / T2-FS / PD-FS bone marrow
the fluid image                                             lesion contrast against fatty
                                                            marrow varies with field, TI,
                                                            fat suppression and noise floor;
                                                            knee BML work thresholds at
                                                            normal mean + 2-3 SD, which is
                                                            below 2x on poor images
T1 drop (1 - T1 ratio)      15-65 %, uniform                faint to marked T1 loss of
                                                            marrow edema (BME with preserved
                                                            fat vs. near-complete replacement)
residual fat on the fluid   STIR 0-0.1; T2 / PD fat-        STIR suppresses fat uniformly;
image                       suppressed 0-0.4, half of them  spectral fat suppression fails
                            varying +-0-60 % across the     near the ankle's air / bone
                            field (ramp)                    interfaces and off-centre
fluid sequence              STIR 55 %, T2-FS 25 %, PD-FS    foot protocols of the three
                            20 %                            vendors
SNR of muscle               8-60 (1.5 T 8-40, 3 T 12-60),   clinical extremity coils
                            log-uniform
receive-coil bias           0-0.8 (+-0-32 %)                surface / extremity coil profiles
field strength              1.5 T 55 %, 3 T 45 %
slice thickness             2-5 mm (gap 10 %)               clinical foot / ankle protocols
in-plane pixel              0.3-0.9 mm                      (matrix capped at 512: FOV
                                                            cropped around the foot)
fluid series plane          sagittal 60 %, axial 25 %,
                            coronal 15 %
vendor rescale              35 %: slope 0.2-5 (log),        Philips real-world scaling and
                            intercept 0 or -200..200        other vendors' RescaleSlope /
                                                            RescaleIntercept
anatomy                     VHF atlas 60 %, parametric      independent bone shapes
                            bones 40 %                      (``_parametric``)
foot size                   0.8-1.25                        adult foot length range
plantar flexion             -10..40 degrees                 neutral to plantar-flexed
                                                            positioning in the coil
smooth deformation          strength 0-2 (added modes of
                            0-10 mm, never folding)
placement in the FOV        +-8 mm per axis; 15 %: partial  off-centre feet, part of the
                            coverage (offset 25-40 mm or    foot outside the slab / FOV
                            60-85 % of the slices)
normal studies              25 %
edematous bones             1 (50 %), 2, 3, 4 bones         BMES of the foot: one bone or
                            (tarsals weighted 2x)           several (migratory / regional)
extent                      subchondral 6-20 %, moderate    subchondral to diffuse
                            25-50 %, diffuse 60-85 %
confounders                 red marrow 30 %, effusion       normal variants and mimics
                            30 %, slow-flow vessel 25 %,
                            STIR motion 30 % (0.5-2.5 mm /
                            degrees)
==========================  ==============================  =================================

Examples
--------
>>> from bmes_imaging.phantom import draw_spec
>>> spec = draw_spec(3, "tune")
>>> 1.8 <= (spec.edema_fluid_ratio or 0) <= 8.0
True
>>> draw_spec(3, "tune").seed != draw_spec(3, "eval").seed
True
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..bones import Bone
from ..errors import PhantomError
from ._corners import (
    CORNERS,
    CRYPT_CORNERS,
    EVAL_CORNERS,
    FINAL_CORNERS,
    HOLDOUT_CORNERS,
    LEDGER_CORNERS,
    RESERVE_CORNERS,
    SEALED_CORNERS,
    TUNE_CORNER_INDEX,
    TUNE_CORNERS,
    VAULT_CORNERS,
)
from ._spec import PhantomSpec

__all__ = ["CRYPT_CORNERS", "EVAL_CORNERS", "FINAL_CORNERS", "HOLDOUT_CORNERS",
           "LEDGER_CORNERS", "RANGES", "RESERVE_CORNERS", "SEALED_CORNERS", "SEED_BASE",
           "SPLITS", "TUNE_CORNERS", "TUNE_CORNER_INDEX", "VAULT_CORNERS", "cohort_digest",
           "distribution_specs", "draw_spec", "tune_corner_specs"]

#: The splits.
SPLITS = ("tune", "eval", "final", "holdout", "sealed", "vault", "crypt", "reserve",
          "ledger")
#: Study seed of index ``i`` in a split: ``SEED_BASE[split] + i``.
SEED_BASE = {"tune": 10_000_000, "eval": 20_000_000, "final": 30_000_000,
             "holdout": 40_000_000, "sealed": 50_000_000, "vault": 60_000_000,
             "crypt": 70_000_000, "reserve": 80_000_000, "ledger": 90_000_000}
_SALT = {"tune": 0x7475_6E65, "eval": 0x6576_616C, "final": 0x6669_6E6C,
         "holdout": 0x686F_6C64, "sealed": 0x7365_616C, "vault": 0x7661_756C,
         "crypt": 0x6372_7970, "reserve": 0x7265_7376, "ledger": 0x6C65_6467}
#: Default cohort size per split.
_DEFAULT_N = {"tune": 60, "eval": 40, "final": 40, "holdout": 48, "sealed": 64,
              "vault": 64, "crypt": 64, "reserve": 80, "ledger": 80}
_MAX_INDEX = 9_999_999

#: Documented ranges (see the module docstring); the corner cases use their ends.
RANGES: dict[str, tuple[float, float]] = {
    "edema_fluid_ratio": (1.8, 8.0),
    "t1_drop": (0.15, 0.65),
    "fat_suppression": (0.0, 0.4),
    "snr": (8.0, 60.0),
    "bias": (0.0, 0.8),
    "slice_mm": (2.0, 5.0),
    "pixel_mm": (0.3, 0.9),
    "size": (0.8, 1.25),
    "flexion_deg": (-10.0, 40.0),
    "deformation": (0.0, 2.0),
}
_P_NORMAL = 0.25
_P_PARAMETRIC = 0.4
_TARSALS = (Bone.TALUS, Bone.CALCANEUS, Bone.NAVICULAR, Bone.CUBOID,
            Bone.MEDIAL_CUNEIFORM, Bone.INTERMEDIATE_CUNEIFORM, Bone.LATERAL_CUNEIFORM)
_OTHERS = (Bone.FIRST_METATARSAL, Bone.SECOND_METATARSAL, Bone.THIRD_METATARSAL,
           Bone.FOURTH_METATARSAL, Bone.FIFTH_METATARSAL, Bone.TIBIA, Bone.FIBULA)
_VENDORS = ("SIEMENS", "GE MEDICAL SYSTEMS", "Philips Medical Systems")


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _r(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


def _edema(rng: np.random.Generator) -> dict[str, Any]:
    """Bones, extent and contrast of the edema (also drawn for normal studies, so the
    stream does not depend on the normal draw)."""
    n = int(rng.choice([1, 2, 3, 4], p=[0.5, 0.25, 0.12, 0.13]))
    pool = _TARSALS + _OTHERS
    weights = np.array([2.0] * len(_TARSALS) + [1.0] * len(_OTHERS))
    bones = rng.choice(len(pool), size=n, replace=False, p=weights / weights.sum())
    extent = (str(rng.choice(["subchondral", "moderate", "diffuse"], p=[0.3, 0.35, 0.35]))
              if n == 1 else "mixed")
    lo, hi = RANGES["edema_fluid_ratio"]
    d_lo, d_hi = RANGES["t1_drop"]
    return {
        "edema_bones": tuple(pool[int(i)].bone_name for i in sorted(bones)),
        "edema_extent": extent,
        "edema_fluid_ratio": _r(_log_uniform(rng, lo, hi)),
        "edema_t1_ratio": _r(1.0 - rng.uniform(d_lo, d_hi)),
    }


def _acquisition(rng: np.random.Generator) -> dict[str, Any]:
    field = 3.0 if rng.uniform() < 0.45 else 1.5
    fluid = str(rng.choice(["stir", "t2_fs", "pd_fs"], p=[0.55, 0.25, 0.2]))
    fat_hi = 0.1 if fluid == "stir" else RANGES["fat_suppression"][1]
    fat = rng.uniform(0.0, fat_hi) if rng.uniform() < 0.5 else rng.uniform(0.0, 0.08)
    snr = _log_uniform(rng, 8.0, 40.0) if field == 1.5 else _log_uniform(rng, 12.0, 60.0)
    vendor = _VENDORS[int(rng.integers(len(_VENDORS)))]
    rescale: tuple[float, ...] | None = None
    if rng.uniform() < (0.7 if vendor.startswith("Philips") else 0.2):
        intercept = 0.0 if rng.uniform() < 0.6 else _r(rng.uniform(-200.0, 200.0), 1)
        rescale = (float(f"{_log_uniform(rng, 0.2, 5.0):.5g}"), intercept,
                   float(f"{_log_uniform(rng, 0.2, 5.0):.5g}"), intercept)
    return {
        "field_strength": field, "fluid": fluid, "fat_suppression": _r(fat),
        "snr": _r(snr, 2), "bias": _r(rng.uniform(*RANGES["bias"])), "vendor": vendor,
        "slice_mm": _r(rng.uniform(*RANGES["slice_mm"]), 2),
        "pixel_mm": _r(rng.uniform(*RANGES["pixel_mm"])),
        "fluid_plane": str(rng.choice(["sagittal", "axial", "coronal"],
                                      p=[0.6, 0.25, 0.15])),
        "rescale": rescale,
    }


def _anatomy(rng: np.random.Generator) -> dict[str, Any]:
    placement = rng.normal(0.0, 8.0, 3).clip(-20.0, 20.0)
    coverage = 1.0
    if rng.uniform() < 0.15:  # partial coverage
        if rng.uniform() < 0.5:
            axis = int(rng.integers(3))
            placement[axis] = rng.choice([-1.0, 1.0]) * rng.uniform(25.0, 40.0)
        else:
            coverage = rng.uniform(0.6, 0.85)
    motion = rng.uniform() < 0.3
    return {
        "side": "R" if rng.uniform() < 0.5 else "L",
        "anatomy": "parametric" if rng.uniform() < _P_PARAMETRIC else "vhf",
        "size": _r(rng.uniform(*RANGES["size"])),
        "flexion_deg": _r(rng.uniform(*RANGES["flexion_deg"]), 1),
        "deformation": _r(rng.uniform(*RANGES["deformation"]), 2),
        "placement": tuple(_r(v, 1) for v in placement),
        "coverage": _r(coverage, 2),
        "red_marrow": bool(rng.uniform() < 0.3),
        "effusion": bool(rng.uniform() < 0.3),
        "vessel": bool(rng.uniform() < 0.25),
        "motion_mm": _r(rng.uniform(0.5, 2.5), 2) if motion else 0.0,
        "motion_deg": _r(rng.uniform(0.5, 2.5), 2) if motion else 0.0,
    }


def draw_spec(seed: int, split: str, *, resolution: float = 1.0) -> PhantomSpec:
    """Draw study ``seed`` of a split from the documented ranges.

    Parameters
    ----------
    seed
        Index of the study in its split (``0 <= seed < 10_000_000``).
    split
        ``"tune"``, ``"eval"``, ``"final"``, ``"holdout"``, ``"sealed"``, ``"vault"``,
        ``"crypt"``, ``"reserve"`` or ``"ledger"``: disjoint
        random streams and study seeds.
    resolution
        Passed to the spec (1.0 = the drawn protocol; larger for quick tests).

    Returns
    -------
    PhantomSpec
        With PatientID ``"T<seed>"`` / ``"E<seed>"`` / ``"F<seed>"`` / ``"H<seed>"`` /
        ``"S<seed>"``.

    Raises
    ------
    PhantomError
        For an unknown split or a seed out of range.
    """
    if split not in SPLITS:
        raise PhantomError(f"split must be one of {SPLITS}, found {split!r}")
    if not 0 <= int(seed) <= _MAX_INDEX:
        raise PhantomError(f"seed must be in 0..{_MAX_INDEX}, found {seed}")
    rng = np.random.default_rng([int(seed), _SALT[split]])
    normal = bool(rng.uniform() < _P_NORMAL)
    values = {**_edema(rng), **_acquisition(rng), **_anatomy(rng)}
    # drawn last, so that adding it left every other drawn value as it was
    inhomogeneous = values["fluid"] != "stir" and rng.uniform() < 0.5
    values["fat_inhomogeneity"] = _r(rng.uniform(0.0, 0.6)) if inhomogeneous else 0.0
    return PhantomSpec(seed=SEED_BASE[split] + int(seed), normal=normal,
                       patient_id=f"{split[0].upper()}{int(seed)}", resolution=resolution,
                       **values)




def tune_corner_specs(*, resolution: float = 1.0) -> list[tuple[str, PhantomSpec]]:
    """The tuning split's corner cases (:data:`TUNE_CORNERS`) as ``(name, spec)`` pairs.

    Study ``k`` is ``draw_spec(TUNE_CORNER_INDEX + k, "tune")`` with corner ``k`` applied:
    tuning seeds and salt only, so nothing here touches the evaluation split.
    """
    out: list[tuple[str, PhantomSpec]] = []
    for k, (corner, apply) in enumerate(TUNE_CORNERS):
        spec = apply(draw_spec(TUNE_CORNER_INDEX + k, "tune", resolution=resolution))
        out.append((f"tunec{k:03d}_{corner}", spec))
    return out


def distribution_specs(split: str, n: int | None = None, *, resolution: float = 1.0,
                       ) -> list[tuple[str, PhantomSpec]]:
    """A tuning or evaluation cohort as ``(folder name, spec)`` pairs.

    Parameters
    ----------
    split
        ``"tune"``, ``"eval"``, ``"final"``, ``"holdout"``, ``"sealed"``, ``"vault"``,
        ``"crypt"``, ``"reserve"`` or ``"ledger"``.
    n
        Number of studies (default 40 for ``"eval"`` and ``"final"``, 48 for
        ``"holdout"``, 64 for ``"sealed"``, ``"vault"`` and ``"crypt"``, 80 for
        ``"reserve"`` (62 corners and 18 drawn studies) and ``"ledger"`` (68 and 12),
        60 for ``"tune"``).
    resolution
        Passed to every spec.

    Notes
    -----
    Study ``i`` is :func:`draw_spec` ``(i, split)``; in ``"eval"`` (``"final"``) the
    first ``len(EVAL_CORNERS)`` (``len(FINAL_CORNERS)``) studies have a corner case
    applied on top (folder names carry it), so the extremes of every range are present
    whatever else is drawn. The tuning split's corners are separate
    (:func:`tune_corner_specs`).
    """
    if split not in SPLITS:
        raise PhantomError(f"split must be one of {SPLITS}, found {split!r}")
    n = _DEFAULT_N[split] if n is None else int(n)
    if n < 1:
        raise PhantomError(f"a {split} cohort needs at least one study, asked for {n}")
    corners = CORNERS.get(split, ())
    out: list[tuple[str, PhantomSpec]] = []
    for i in range(n):
        spec = draw_spec(i, split, resolution=resolution)
        name = f"{split}{i:03d}"
        if i < len(corners):
            corner, apply = corners[i]
            spec = apply(spec)
            name += f"_{corner}"
        elif spec.normal:
            name += "_normal"
        out.append((name, spec))
    return out


def cohort_digest(specs: Sequence[tuple[str, PhantomSpec]]) -> str:
    """SHA-256 over the folder names and specs of a cohort: it pins a split's studies.

    A test compares a split with the digest taken when it was written, so that nothing
    tuned afterwards can change the studies a figure is reported on.

    Parameters
    ----------
    specs
        ``(folder name, spec)`` pairs, e.g. from :func:`~bmes_imaging.phantom.cohort_specs`.

    Returns
    -------
    str
        64 hex digits.
    """
    h = hashlib.sha256()
    for name, spec in specs:
        h.update(name.encode())
        h.update(json.dumps(spec.to_dict(), sort_keys=True, default=str).encode())
    return h.hexdigest()

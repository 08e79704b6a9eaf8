"""Phantom cohorts: one study per foot of a clinical table.

``"table1"`` is the seed study's Table 1 (the packaged copy read through
:func:`bmes_imaging.clinical.read_clinical_table`): 17 patients, 18 feet (patient 11 is
bilateral), each with edema in its listed primary bone(s), the patient's sex and age,
and PatientID = the table's patient number. The study's text speaks of 19 feet; the
table lists 18, so by default one normal control foot (``c01_R``, PatientID ``"C1"``)
is added, which also gives the screening demo a study that should come out clean.

Confounders and contrast vary by foot (drawn from the foot's seed): effusion, a bright
vessel, red marrow, bias, SNR and 0-2 mm / 0-2 degree STIR motion.

Follow-up (``write_cohort(..., follow_up=True)``, :func:`follow_up_specs`): every foot of
the table gets a second study at the last control, 14-22 months later as in the study
(``p01_L_fu1``...; ``followup.csv`` lists them), the foot repositioned in the scanner and
its edema shrunk or resolved as BMES does; one foot (:data:`MIGRATORY_FOOT`) is
migratory: its talus edema resolves while new edema appears in the navicular. The
baseline studies are the same with or without follow-up, byte for byte.

``"tune"`` and ``"eval"`` are the detector's tuning and evaluation cohorts drawn from the
phantom distribution (:mod:`bmes_imaging.phantom._distribution`): ``n`` studies each,
disjoint seeds, the evaluation cohort with every range's extremes.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..bones import Bone
from ..errors import PhantomError
from ._distribution import SPLITS, distribution_specs
from ._followup import FollowUp
from ._study import PhantomSpec, _atomic_text, write_study

__all__ = ["COHORTS", "FOLLOW_UP_FIELDS", "MIGRATORY_FOOT", "cohort_specs",
           "default_cache_dir", "follow_up_specs", "write_cohort"]

#: The Table 1 foot whose follow-up shows migratory BMES (talus -> navicular).
MIGRATORY_FOOT = "p03_R"
#: Columns of ``followup.csv``.
FOLLOW_UP_FIELDS = ("folder", "baseline_folder", "patient_id", "side", "months", "keep",
                    "new_bones", "rotation_deg", "shift_mm")

#: Known cohort names.
COHORTS = ("table1", *SPLITS)
#: Columns of ``cohort.csv``.
COHORT_FIELDS = ("folder", "patient_id", "side", "sex", "age", "edema_bones", "extent",
                 "effusion", "vessel", "red_marrow", "bias", "snr", "motion_mm",
                 "motion_deg", "seed")
#: Further columns of a distribution cohort's ``cohort.csv``.
DISTRIBUTION_FIELDS = ("edema_fluid_ratio", "edema_t1_ratio", "fat_suppression",
                       "fat_inhomogeneity",
                       "field_strength", "fluid", "fluid_plane", "slice_mm", "pixel_mm",
                       "rescale", "anatomy", "size", "flexion_deg", "deformation",
                       "placement", "coverage", "vendor")


def default_cache_dir(name: str = "table1") -> Path:
    """Where generated cohorts are cached: ``$XDG_CACHE_HOME/bmes-imaging/phantom-<name>``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bmes-imaging" / f"phantom-{name}"


def _foot_spec(seed: int, patient_id: str, side: str, sex: str | None, age: int | None,
               bones: tuple[Bone, ...], resolution: float) -> PhantomSpec:
    rng = np.random.default_rng([seed, 4242])
    normal = not bones
    if len(bones) > 1:
        extent = "mixed"
    else:
        extent = ("subchondral", "moderate", "diffuse")[int(rng.choice(3, p=[0.25, 0.4,
                                                                            0.35]))]
    motion = rng.uniform() < 0.6
    return PhantomSpec(
        seed=seed, side=side, edema_bones=tuple(b.bone_name for b in bones) or ("talus",),
        edema_extent=extent, normal=normal,
        effusion=bool(rng.uniform() < 0.35), vessel=bool(rng.uniform() < 0.3),
        red_marrow=bool(rng.uniform() < (0.45 if (sex == "F" or (age or 99) < 25) else 0.2)),
        bias=round(float(rng.uniform(0.1, 0.6)), 3),
        snr=round(float(rng.uniform(16.0, 32.0)), 2),
        motion_mm=round(float(rng.uniform(0.5, 2.0)), 2) if motion else 0.0,
        motion_deg=round(float(rng.uniform(0.5, 2.0)), 2) if motion else 0.0,
        patient_id=patient_id, patient_name=f"BMES^PHANTOM{patient_id}",
        patient_sex=sex, patient_age=age, resolution=resolution,
        size=1.06 if sex == "M" else 0.98,
    )


def cohort_specs(name: str = "table1", *, controls: int = 1, resolution: float = 1.0,
                 n: int | None = None) -> list[tuple[str, PhantomSpec]]:
    """The feet of a cohort as ``(folder name, spec)`` pairs.

    Parameters
    ----------
    name
        ``"table1"``, ``"tune"`` or ``"eval"``.
    controls
        ``"table1"``: normal control feet added after the table's feet (``c01_R``,
        ``c02_L``, ...).
    resolution
        Passed to every spec (1.0 = the real protocol).
    n
        ``"tune"`` / ``"eval"``: number of studies (default 60 / 40); see
        :func:`~bmes_imaging.phantom.distribution_specs`.

    Examples
    --------
    >>> from bmes_imaging.phantom import cohort_specs
    >>> feet = cohort_specs("table1")
    >>> len(feet), feet[0][0], feet[0][1].patient_id, feet[0][1].edema_bones
    (19, 'p01_L', '1', ('calcaneus',))
    """
    if name not in COHORTS:
        raise PhantomError(f"unknown cohort {name!r}; known: {', '.join(COHORTS)}")
    if name in SPLITS:
        return distribution_specs(name, n, resolution=resolution)
    from ..clinical import read_clinical_table, sample_table_path

    records = read_clinical_table(sample_table_path())
    out: list[tuple[str, PhantomSpec]] = []
    for rec in records:
        number = int(rec.patient)
        seed = 1000 + 2 * number + (1 if rec.side == "L" else 0)
        bones = tuple(b if isinstance(b, Bone) else Bone(int(b)) for b in rec.primary_bones)
        spec = _foot_spec(seed, str(rec.patient), rec.side, rec.sex, rec.age, bones,
                          resolution)
        out.append((f"p{number:02d}_{rec.side}", spec))
    for c in range(1, controls + 1):
        side = "R" if c % 2 else "L"
        rng = np.random.default_rng([c, 777])
        sex = "M" if rng.uniform() < 0.5 else "F"
        age = int(rng.integers(18, 60))
        spec = _foot_spec(5000 + c, f"C{c}", side, sex, age, (), resolution)
        out.append((f"c{c:02d}_{side}", spec))
    return out


def follow_up_specs(name: str = "table1", *, resolution: float = 1.0
                    ) -> list[tuple[str, str, PhantomSpec, FollowUp]]:
    """The follow-up studies of a cohort: ``(folder, baseline folder, spec, follow-up)``.

    Only ``"table1"`` has follow-up: one per foot of the table (not the controls), at
    14-22 months; each baseline edema bone keeps 0 % (resolved, one bone in four),
    15-60 % (shrinking) or 80-100 % (persisting, one in ten) of its volume;
    :data:`MIGRATORY_FOOT` resolves in the talus and gains navicular edema.

    Examples
    --------
    >>> fus = follow_up_specs("table1")
    >>> len(fus), fus[0][:2], 14 <= fus[0][3].months <= 22
    (18, ('p01_L_fu1', 'p01_L'), True)
    """
    if name != "table1":
        raise PhantomError(f"cohort {name!r} has no follow-up studies; only 'table1' has")
    out = []
    for folder, spec in cohort_specs(name, controls=0, resolution=resolution):
        rng = np.random.default_rng([spec.seed, 1818])
        months = int(rng.integers(14, 23))
        keep = []
        for bone in spec.edema_bones:
            u = float(rng.uniform())
            share = (0.0 if u < 0.25 else round(float(rng.uniform(0.8, 1.0)), 3) if u > 0.9
                     else round(float(rng.uniform(0.15, 0.6)), 3))
            keep.append((bone, share))
        new: tuple[str, ...] = ()
        if folder == MIGRATORY_FOOT:
            keep, new = [(b, 0.0) for b in spec.edema_bones], ("navicular",)
        fu = FollowUp(months=months, keep=tuple(keep), new_bones=new,
                      rotation_deg=round(float(rng.uniform(2.0, 6.0)), 2),
                      shift_mm=round(float(rng.uniform(2.0, 8.0)), 2))
        out.append((f"{folder}_{fu.label}", folder, spec, fu))
    return out


def _follow_up_row(folder: str, base: str, spec: PhantomSpec, fu: FollowUp
                   ) -> dict[str, Any]:
    return {"folder": folder, "baseline_folder": base, "patient_id": spec.resolved_patient_id,
            "side": spec.side, "months": fu.months,
            "keep": " ".join(f"{b}:{k:g}" for b, k in fu.keep),
            "new_bones": "+".join(fu.new_bones), "rotation_deg": fu.rotation_deg,
            "shift_mm": fu.shift_mm}


def _cohort_row(folder: str, spec: PhantomSpec) -> dict[str, Any]:
    return {
        "folder": folder, "patient_id": spec.resolved_patient_id, "side": spec.side,
        "sex": spec.patient_sex or "", "age": "" if spec.patient_age is None else spec.patient_age,
        "edema_bones": "" if spec.normal else "+".join(spec.edema_bones),
        "extent": "" if spec.normal else spec.edema_extent,
        "effusion": int(spec.effusion), "vessel": int(spec.vessel),
        "red_marrow": int(spec.red_marrow), "bias": spec.bias, "snr": spec.snr,
        "motion_mm": spec.motion_mm, "motion_deg": spec.motion_deg, "seed": spec.seed,
    }


def _distribution_row(folder: str, spec: PhantomSpec) -> dict[str, Any]:
    row = _cohort_row(folder, spec)
    for name in DISTRIBUTION_FIELDS:
        value = getattr(spec, name)
        if isinstance(value, tuple):
            value = " ".join(f"{v:g}" for v in value)
        row[name] = "" if value is None else value
    return row


def _is_cached(folder: Path, spec: PhantomSpec, fu: FollowUp | None = None) -> bool:
    meta = folder / "truth" / "phantom.json"
    if not meta.is_file() or not (folder / "dicom").is_dir():
        return False
    try:
        stored = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    want_fu = None if fu is None else json.loads(json.dumps(fu.to_dict()))
    return bool(stored.get("spec") == json.loads(json.dumps(spec.to_dict()))
                and stored.get("follow_up") == want_fu)


def _write_one(args: tuple[PhantomSpec, str, FollowUp | None]) -> str:
    spec, folder, fu = args
    write_study(spec, folder, follow_up=fu)
    return folder


def write_cohort(name: str, out_dir: str | os.PathLike[str], *, controls: int = 1,
                 resolution: float = 1.0, workers: int = 1, overwrite: bool = False,
                 progress: Callable[[str, float], None] | None = None,
                 n: int | None = None, follow_up: bool = False) -> list[Path]:
    """Write one study folder per foot of a cohort, plus ``cohort.csv``.

    Parameters
    ----------
    name
        ``"table1"``, ``"tune"`` or ``"eval"``.
    out_dir
        Cohort folder: ``out_dir/p01_L/``, ``out_dir/p02_R/``, ... (see
        :func:`write_study` for each folder's layout).
    controls, resolution, n
        See :func:`cohort_specs`.
    workers
        Processes to generate studies in parallel.
    overwrite
        Regenerate studies already present with the same spec (they are kept otherwise:
        the folder works as a cache).
    progress
        Called as ``progress(folder_name, fraction_done)``.
    follow_up
        Also write the follow-up studies (:func:`follow_up_specs`) and
        ``followup.csv``; the baseline studies are the same either way.

    Returns
    -------
    list of pathlib.Path
        The study folders, in table order (follow-up folders after the baselines).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    feet = cohort_specs(name, controls=controls, resolution=resolution, n=n)
    fus = follow_up_specs(name, resolution=resolution) if follow_up else []
    jobs: list[tuple[PhantomSpec, str, FollowUp | None]] = [
        (spec, str(out / folder), None) for folder, spec in feet]
    jobs += [(spec, str(out / folder), fu) for folder, _, spec, fu in fus]
    todo = [j for j in jobs if overwrite or not _is_cached(Path(j[1]), j[0], j[2])]
    total = len(jobs)
    done = total - len(todo)
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for folder in pool.map(_write_one, todo):
                done += 1
                if progress:
                    progress(Path(folder).name, done / total)
    else:
        for item in todo:
            _write_one(item)
            done += 1
            if progress:
                progress(Path(item[1]).name, done / total)
    buf = io.StringIO()
    fields, row = ((COHORT_FIELDS + DISTRIBUTION_FIELDS, _distribution_row)
                   if name in SPLITS else (COHORT_FIELDS, _cohort_row))
    w = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    w.writeheader()
    for folder, spec in feet:
        w.writerow(row(folder, spec))
    _atomic_text(out / "cohort.csv", buf.getvalue())
    if fus:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(FOLLOW_UP_FIELDS), lineterminator="\n")
        w.writeheader()
        for folder, base, spec, fu in fus:
            w.writerow(_follow_up_row(folder, base, spec, fu))
        _atomic_text(out / "followup.csv", buf.getvalue())
    return [Path(j[1]) for j in jobs]

"""Run the detector on a study folder and write its results.

``detect_study`` indexes any folder holding one study's files (series subfolders of a
PACS export, junk beside them is ignored by the index) with the toolkit's one rule for
a study folder (:func:`bmes_imaging.study.index_study_folder`), pairs the T1 and the
fluid-sensitive series per side, loads them, detects, and writes per side:

* ``involvement.csv``: one row per bone, columns :data:`INVOLVEMENT_COLUMNS`;
* ``edema.nii.gz``: edema voxels carry their bone's label (T1 grid);
* ``bones.nii.gz``: the bone masks used (T1 grid);
* ``overlay.png``: the T1 slice with the most edema (else the middle of the bones),
  T1 and fluid side by side with bone outlines and edema in colour.

Every file is written to a temporary name and renamed. A study with both feet gets one
``involvement.csv`` holding both sides and per-side images (``edema_L.nii.gz``...).
"""

from __future__ import annotations

import io
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import make_private_dirs, write_bytes_atomic, write_csv_atomic
from ..bones import Bone
from ..errors import DetectionError
from ..study import index_study_folder
from ..volume import Volume, load_nifti
from ._body_part import body_part_of, check_atlas_fit, check_body_part, check_field_of_view
from ._config import DetectionConfig
from ._detect import EdemaResult, detect_edema

__all__ = ["INVOLVEMENT_COLUMNS", "StudyDetection", "detect_study", "write_results"]

log = logging.getLogger(__name__)

#: Columns of ``involvement.csv`` (detection, screening and export share them).
INVOLVEMENT_COLUMNS: tuple[str, ...] = (
    "study_instance_uid", "patient_id", "side", "bone", "bone_label", "bone_volume_ml",
    "edema_volume_ml", "fraction", "grade", "t1_ratio", "fluid_ratio", "confidence",
    "status", "bone_mask_quality",
)


@dataclass
class StudyDetection:
    """The detector's output for one study folder.

    Attributes
    ----------
    results
        ``(side, EdemaResult)`` per paired side.
    rows
        The ``involvement.csv`` rows (dicts keyed by :data:`INVOLVEMENT_COLUMNS`).
    files
        Paths written.
    notes
        Unpaired sides, coverage and alignment notes.
    timings
        Seconds per stage summed over sides: load, align, bones, compare, write.
    """

    results: list[tuple[str | None, EdemaResult]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def involvement_rows(result: EdemaResult, *, study_instance_uid: str | None = None,
                     patient_id: str | None = None, side: str | None = None
                     ) -> list[dict[str, Any]]:
    """The ``involvement.csv`` rows of one result (one per bone)."""
    info = result.bones.info
    study = study_instance_uid if study_instance_uid is not None else info.study_instance_uid
    pid = patient_id if patient_id is not None else info.patient_id
    sd = side if side is not None else info.laterality
    rows = []
    for f in result.findings:
        rows.append({
            "study_instance_uid": study or "", "patient_id": pid or "", "side": sd or "",
            "bone": f.bone.bone_name, "bone_label": int(f.bone),
            "bone_volume_ml": f"{f.bone_volume_ml:.3f}",
            "edema_volume_ml": f"{f.edema_volume_ml:.3f}", "fraction": f"{f.fraction:.4f}",
            "grade": f.grade, "t1_ratio": f"{f.t1_ratio:.3f}",
            "fluid_ratio": f"{f.fluid_ratio:.3f}", "confidence": f"{f.confidence:.3f}",
            "status": f.status,
            "bone_mask_quality": ("" if math.isnan(f.bone_mask_quality)
                                  else f"{f.bone_mask_quality:.3f}"),
        })
    return rows


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    write_csv_atomic(path, INVOLVEMENT_COLUMNS, rows)


def _overlay_png(result: EdemaResult, t1: Volume | None, path: Path) -> None:
    """T1 and fluid at the slice with the most edema, bone outlines, edema in colour."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    from ..bones import label_colormap

    bones = result.bones.array
    edema = result.edema.array
    per_slice = (edema > 0).sum(axis=(0, 1))
    if per_slice.any():
        k = int(np.argmax(per_slice))
    else:
        ks = np.flatnonzero((bones > 0).any(axis=(0, 1)))
        k = int(ks[len(ks) // 2]) if len(ks) else bones.shape[2] // 2
    cmap = label_colormap()
    colours = [cmap.get(i, (0, 0, 0, 0)) for i in range(256)]
    lab_cmap = ListedColormap(colours)
    vs = result.bones.voxel_sizes
    aspect = float(vs[1] / vs[0])
    fig = Figure(figsize=(10, 5), dpi=90)
    FigureCanvasAgg(fig)
    images = [("T1", t1.array if t1 is not None else None), ("fluid", result.fluid_aligned.array)]
    for n, (title, arr) in enumerate(images):
        ax = fig.add_subplot(1, 2, n + 1)
        if arr is not None:
            sl = np.asarray(arr[:, :, k], dtype=np.float32).T
            # grey range from 0 (or the lowest value: RescaleSlope -1 gives negative
            # images) to the 99.5th percentile, never empty or reversed (issue 21)
            finite = sl[np.isfinite(sl)]
            lo, hi = ((float(np.percentile(finite, 0.5)), float(np.percentile(finite, 99.5)))
                      if finite.size else (0.0, 1.0))
            lo = min(lo, 0.0) if hi > 0 else lo
            hi = hi if hi > lo else lo + 1.0
            ax.imshow(sl, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest",
                      aspect=aspect)
        b = bones[:, :, k].T
        ax.contour(b > 0, levels=[0.5], colors="yellow", linewidths=0.5)
        e = np.ma.masked_equal(edema[:, :, k].T, 0)
        ax.imshow(e, cmap=lab_cmap, vmin=0, vmax=255, alpha=0.55, interpolation="nearest",
                  aspect=aspect)
        ax.set_title(f"{title} (slice {k}); edema coloured by bone")
        ax.set_axis_off()
    names = ", ".join(f"{f.bone.bone_name} g{f.grade}" for f in result.findings if f.grade)
    fig.suptitle(f"Bone marrow edema: {names or 'none found'}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())


def write_results(result: EdemaResult, out_dir: str | os.PathLike[str], *,
                  t1: Volume | None = None, study_instance_uid: str | None = None,
                  patient_id: str | None = None, side: str | None = None,
                  suffix: str = "", overlay: bool = True, csv_file: bool = True
                  ) -> list[Path]:
    """Write ``involvement.csv``, ``edema.nii.gz``, ``bones.nii.gz`` and ``overlay.png``.

    Parameters
    ----------
    result
        A detector result.
    out_dir
        Output folder (created).
    t1
        The T1 image, for the overlay picture (the fluid image alone otherwise).
    study_instance_uid, patient_id, side
        Values of the CSV's first columns (default: from the T1 series info).
    suffix
        Appended to the image file names (``"_L"`` for a two-foot study).
    overlay, csv_file
        Write the PNG / the CSV.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    make_private_dirs(out)  # 0700 whatever the umask
    files = []
    if csv_file:
        rows = involvement_rows(result, study_instance_uid=study_instance_uid,
                                patient_id=patient_id, side=side)
        _write_csv(out / "involvement.csv", rows)
        files.append(out / "involvement.csv")
    result.edema.to_nifti(out / f"edema{suffix}.nii.gz")
    result.bones.to_nifti(out / f"bones{suffix}.nii.gz")
    files += [out / f"edema{suffix}.nii.gz", out / f"bones{suffix}.nii.gz"]
    if overlay:
        _overlay_png(result, t1, out / f"overlay{suffix}.png")
        files.append(out / f"overlay{suffix}.png")
    return files


def detect_study(study_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                 bones_path: str | os.PathLike[str] | None = None,
                 config: DetectionConfig | None = None, refine_alignment: bool = True,
                 force: bool = False) -> StudyDetection:
    """Index, pair, load, detect and write one study folder.

    Parameters
    ----------
    study_dir
        Any folder holding one study's DICOM files (subfolders and junk are fine).
    out_dir
        Where to write the results (see module docstring).
    bones_path
        Optional bone label map (NIfTI, project labels, any grid); default automatic.
    config
        Detection settings.
    refine_alignment
        Correct rigid motion of the fluid series.
    force
        Analyse the study even when it does not look like a foot or ankle.

    Returns
    -------
    StudyDetection

    Raises
    ------
    DetectionError
        If no T1 + fluid-sensitive pair is found (the message lists why per side).
    NotAFootError
        If a header, the field of view or the atlas fit says it is not a foot or ankle
        (:mod:`._body_part`; not with ``force``).
    """
    from ..dicom import load_series

    timings = {"load": 0.0, "align": 0.0, "bones": 0.0, "compare": 0.0, "write": 0.0}
    src = Path(study_dir)
    if not src.is_dir():
        raise DetectionError(f"{src}: not a folder; give the folder holding the study's "
                             "DICOM files")
    t0 = time.perf_counter()
    index, pairing = index_study_folder(src)
    if not force:  # a knee or a head is refused before it is paired or registered
        for stack in [s for p in pairing.pairs for s in (p.t1, p.fluid)] or index.stacks:
            check_body_part(body_part_of(stack), str(src))
    timings["load"] += time.perf_counter() - t0
    notes = [f"{side or 'unknown side'}: not analysed ({reason})"
             for _, side, reason in pairing.unpaired]
    if not pairing.pairs:
        why = "; ".join(notes) or f"{len(index.stacks)} series found, none usable"
        raise DetectionError(f"{src}: no T1 and fluid-sensitive series pair to compare "
                             f"({why})")
    labels = load_nifti(bones_path) if bones_path is not None else None
    det = StudyDetection(notes=notes, timings=timings)
    several = len(pairing.pairs) > 1
    for pair in pairing.pairs:
        t0 = time.perf_counter()
        t1 = load_series(pair.t1)
        fluid = load_series(pair.fluid)
        timings["load"] += time.perf_counter() - t0
        if not force:
            check_field_of_view(t1, str(src))
        result = detect_edema(t1, fluid, bones=labels, config=config,
                              refine_alignment=refine_alignment)
        if not force and result.bone_source == "automatic":
            check_atlas_fit(result.bones, str(src))
        timings["align"] += result.timings.get("align", 0.0)
        timings["bones"] += result.timings.get("bones", 0.0)
        timings["compare"] += (result.timings.get("compare", 0.0)
                               + result.timings.get("findings", 0.0))
        side = pair.side or t1.info.laterality
        t0 = time.perf_counter()
        det.files += write_results(result, out_dir, t1=t1, side=side,
                                   study_instance_uid=pair.study_instance_uid,
                                   patient_id=pair.patient_id,
                                   suffix=f"_{side}" if several and side else "",
                                   csv_file=False)
        timings["write"] += time.perf_counter() - t0
        det.rows += involvement_rows(result, study_instance_uid=pair.study_instance_uid,
                                     patient_id=pair.patient_id, side=side)
        det.results.append((side, result))
        det.notes += [f"{side}: {n}" if several and side else n
                      for n in result.coverage_notes]
        log.info("detected %d positive bone(s) on side %s", len(result.positive_bones), side)
    t0 = time.perf_counter()
    _write_csv(Path(out_dir) / "involvement.csv", det.rows)
    det.files.insert(0, Path(out_dir) / "involvement.csv")
    timings["write"] += time.perf_counter() - t0
    return det


def positive_bones_from_rows(rows: Sequence[dict[str, Any]]) -> list[Bone]:
    """Bones whose row has grade >= 1 and status other than rejected."""
    return [Bone(int(r["bone_label"])) for r in rows
            if int(r["grade"]) >= 1 and r.get("status") != "rejected"]

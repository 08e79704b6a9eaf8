"""Make a validation report on phantom studies with simulated reader reviews.

Generates phantom studies (half resolution, for speed), runs the detector with the
true bone masks, saves the candidates and two simulated readers' reviews in a new
SQLite store, then runs ``bmes validate --fit``. The reads are simulated: reader A
rejects faint candidates (confidence below the median of the positive calls) and
paints one bone the detector missed in every third study; reader B confirms what is
shown on every other study and leaves one candidate undecided. Used for the
screenshot ``docs/validation_report.png``::

    .venv/bin/python tools/validation_report_demo.py /tmp/validation-demo
    chromium --headless --no-sandbox --screenshot=docs/validation_report.png \\
        --window-size=1200,1600 file:///tmp/validation-demo/validation/report.html
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bmes_imaging.bones import Bone
from bmes_imaging.cli import main
from bmes_imaging.detection import detect_study, grade_for_fraction
from bmes_imaging.phantom import PhantomSpec, generate_study, write_study
from bmes_imaging.store import open_store

BONES = ("talus", "calcaneus", "navicular", "cuboid", "medial_cuneiform",
         "intermediate_cuneiform", "lateral_cuneiform")


def _paint(bones: np.ndarray, labels: np.ndarray, bone: Bone) -> None:
    from scipy import ndimage

    inside = bones == int(bone)
    depth = ndimage.distance_transform_edt(inside)
    centre = np.unravel_index(int(np.argmax(depth)), bones.shape)
    d2 = sum((g - c) ** 2 for g, c in zip(np.indices(bones.shape), centre, strict=True))
    labels[inside & (d2 <= 9) & (labels == 0)] = int(bone)


def _review(result: Any, reader: str, *, cut: float | None, paint: bool,
            undecided: bool) -> tuple[list[Any], np.ndarray]:
    labels = np.array(result.edema.array, copy=True)
    missed = [f.bone for f in result.findings
              if f.grade == 0 and f.bone not in (Bone.TIBIA, Bone.FIBULA)]
    if paint and missed:
        _paint(np.asarray(result.bones.array), labels, missed[0])
    vml = result.bones.voxel_volume_ml
    out, left = [], undecided
    for f in result.findings:
        n = int((labels == int(f.bone)).sum())
        ch: dict[str, Any] = {"source": reader}
        if f.grade == 0 and n:
            frac = n * vml / f.bone_volume_ml
            ch.update(edema_volume_ml=round(n * vml, 4), fraction=round(frac, 4),
                      grade=grade_for_fraction(frac), status="confirmed")
        elif f.grade >= 1 and left:
            left = False
        elif f.grade >= 1:
            ch["status"] = "rejected" if cut is not None and f.confidence < cut else "confirmed"
        out.append(dataclasses.replace(f, **ch))
    return out, labels


def run(out: Path, n_studies: int) -> int:
    """Build the store under ``out`` and write ``out/validation``."""
    rng = np.random.default_rng(7)
    detected = []
    for k in range(n_studies):
        chosen = tuple(rng.choice(BONES, size=int(rng.integers(2, 5)), replace=False))
        study = generate_study(PhantomSpec(seed=100 + k, edema_bones=chosen, resolution=2.0))
        folder = write_study(study, out / "studies" / f"s{k:02d}")
        det = detect_study(folder / "dicom", out / "detected" / f"s{k:02d}",
                           bones_path=folder / "truth" / "bones.nii.gz")
        detected.append((study, det.results[0][1]))
        print(f"study {k + 1}/{n_studies}: edema in {', '.join(chosen)}", flush=True)
    confs = [f.confidence for _, r in detected for f in r.findings if f.grade >= 1]
    cut = float(np.median(confs))
    db = out / "bmes.sqlite"
    with open_store(db) as store:
        for k, (study, res) in enumerate(detected):
            uid, t1 = study.t1.info.study_instance_uid, study.t1.info.series_instance_uid
            store.register_study(study_instance_uid=uid, series_instance_uid=t1, sequence="t1")
            store.register_study(study_instance_uid=uid,
                                 series_instance_uid=study.stir.info.series_instance_uid,
                                 sequence=study.stir.info.sequence or "stir")
            store.save_annotation(uid, "detector", res.findings, res.edema,
                                  series_instance_uid=t1)
            readers = [("Reader A", cut, k % 3 == 0, False)]
            if k % 2 == 0:
                readers.append(("Reader B", None, False, k == 0))
            for name, c, paint, undecided in readers:
                findings, labels = _review(res, name, cut=c, paint=paint, undecided=undecided)
                store.save_annotation(uid, name, findings, res.edema.with_array(labels),
                                      series_instance_uid=t1)
    return main(["validate", "--db", str(db), "--out", str(out / "validation"), "--fit"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--studies", type=int, default=10)
    a = parser.parse_args()
    sys.exit(run(a.out, a.studies))

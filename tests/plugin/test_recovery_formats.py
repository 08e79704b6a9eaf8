"""Recovery files: written with the core's one finding serialisation, and files written
by the plugin before it (bone as label number, NaN for unknown numbers) still load.

No display: the review model only (the study has no fluid series, so no bone-mask
process is started).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np

from bmes_imaging._atomic import write_bytes_atomic
from bmes_imaging.bones import Bone
from bmes_imaging.findings import Finding, FindingStatus
from bmes_imaging_napari._review_model import ReviewModel
from bmes_imaging_napari._study import Study


def _model(study, cache: Path) -> ReviewModel:
    model = ReviewModel(reader="AR", cache=cache)
    model.open(Study(t1=study.t1, fluid=None, key="1.2.3.4.5", side="R"))
    return model


def _write_old_recovery(model: ReviewModel, labels: np.ndarray) -> None:
    """A recovery file exactly as the plugin wrote it before the one finding model."""
    old_findings = [
        {"bone": 1, "bone_volume_ml": 30.5, "edema_volume_ml": 4.2, "fraction": 0.1377,
         "grade": 1, "t1_ratio": 0.62, "fluid_ratio": 2.3, "confidence": 0.81,
         "status": "confirmed", "source": "AR", "primary": True,
         "bone_mask_quality": float("nan")},
        {"bone": 3, "bone_volume_ml": 9.0, "edema_volume_ml": 0.0, "fraction": 0.0,
         "grade": 0, "t1_ratio": float("nan"), "fluid_ratio": float("nan"),
         "confidence": 0.9, "status": "candidate", "source": "detector", "primary": False,
         "bone_mask_quality": 0.75}]
    meta = {"study_key": model.study_key, "reader": model.reader, "time": 0.0,
            "findings": old_findings}
    buf = io.BytesIO()
    np.savez_compressed(buf, labels=labels,
                        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    write_bytes_atomic(model.recovery_path(), buf.getvalue())


def _meta(path: Path) -> dict:
    with np.load(path) as data:
        return json.loads(bytes(data["meta"]).decode())


def test_old_recovery_file_loads_and_is_rewritten_by_name(synthetic_study,
                                                         tmp_path: Path) -> None:
    model = _model(synthetic_study, tmp_path / "cache")
    labels = np.asarray(synthetic_study.edema.array, dtype=np.uint8)
    _write_old_recovery(model, labels)
    assert model.load_recovery()
    talus, navicular = model.findings
    assert isinstance(talus, Finding) and talus.bone is Bone.TALUS and talus.primary
    assert talus.status is FindingStatus.CONFIRMED and talus.involved
    assert navicular.bone is Bone.NAVICULAR and math.isnan(navicular.t1_ratio)
    assert navicular.bone_mask_quality == 0.75 and not navicular.involved
    np.testing.assert_array_equal(model.edema.array, labels)

    # written again: bone by name, unknown as null (strict JSON), the same findings back
    path = model.write_recovery()
    assert path is not None
    text = json.dumps(_meta(path)["findings"], allow_nan=False)
    written = json.loads(text)
    assert [d["bone"] for d in written] == ["talus", "navicular"]
    assert written[1]["t1_ratio"] is None
    before = list(model.findings)
    fresh = _model(synthetic_study, tmp_path / "cache")
    assert fresh.load_recovery() and fresh.findings == before


def test_review_decisions_replace_frozen_findings_and_undo(synthetic_study,
                                                           tmp_path: Path) -> None:
    model = _model(synthetic_study, tmp_path / "cache")
    _write_old_recovery(model, np.asarray(synthetic_study.edema.array, dtype=np.uint8))
    assert model.load_recovery()
    original = model.finding(Bone.NAVICULAR)
    model.reject(Bone.NAVICULAR)
    model.set_primary(Bone.NAVICULAR)
    now = model.finding(Bone.NAVICULAR)
    assert now is not original and original.status == "candidate"  # not changed in place
    assert now.status is FindingStatus.REJECTED and now.primary
    assert dataclasses.replace(now, status="candidate", primary=False) == original
    assert model.undo() == "primary" and model.undo() == "rejected"
    assert model.finding(Bone.NAVICULAR) == original

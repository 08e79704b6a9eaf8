"""The sample phantom study through napari: File > Open Sample, review, detection.

Uses the committed sample study (``sample_data/study_p02_R``) when present, else
generates it once per session into a temporary cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.store import open_store
from bmes_imaging_napari._qt._review_widget import ReviewWidget

pytestmark = [pytest.mark.gui, pytest.mark.slow]


@pytest.fixture(scope="session")
def sample_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sample-cache")


def test_open_sample_and_detect(make_napari_viewer, qtbot, sample_cache: Path,
                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BMES_CACHE", str(sample_cache))
    store = open_store(tmp_path / "bmes.sqlite")
    viewer = make_napari_viewer()
    review = ReviewWidget(viewer, store=store, cache=tmp_path / "cache", autosave_ms=0)
    viewer.window.add_dock_widget(review)
    review.ask_unsaved = lambda: "discard"
    viewer.open_sample("bmes-imaging", "phantom_study")
    assert [layer.name for layer in viewer.layers] == ["T1", "STIR", "No STIR data"]
    qtbot.waitUntil(lambda: review.model.study is not None, timeout=5_000)
    study = review.model.study
    assert study.t1.info.sequence == "t1" and study.fluid.info.sequence == "stir"
    assert study.t1.info.patient_id == "2" and study.side == "R"
    # T1 and STIR share a world frame: their field-of-view centres lie within a few mm
    centres = [layer.data_to_world((np.array(layer.data.shape) - 1) / 2)
               for layer in list(viewer.layers)[:2]]
    assert np.linalg.norm(np.subtract(*centres)) < 30.0

    review.run_detection()
    qtbot.waitUntil(lambda: review.worker is None, timeout=120_000)
    assert review.table.rowCount() == len(review.model.findings) > 3
    positives = {f.bone for f in review.model.findings if f.edema_volume_ml > 0}
    assert Bone.TALUS in positives  # the sample's edema (the phantom's truth)
    # the automatic bone masks came from the bone-mask process (two CPUs or more) and
    # are the masks this process computes itself
    from bmes_imaging.detection import automatic_bones
    from bmes_imaging_napari import _bone_process

    if (os.cpu_count() or 1) >= 2:
        assert _bone_process.pid() is not None
    np.testing.assert_array_equal(review.model.bones.array,
                                  automatic_bones(study.t1).array)
    store.close()


SAMPLE = Path(__file__).parents[2] / "sample_data" / "study_p02_R"


def _review_of_sample(make_napari_viewer, tmp_path: Path) -> tuple[ReviewWidget, Any]:
    """A review widget (own store and cache) with the committed sample study open."""
    store = open_store(tmp_path / "bmes.sqlite")
    viewer = make_napari_viewer()
    review = ReviewWidget(viewer, store=store, cache=tmp_path / "cache", autosave_ms=0)
    review.ask_unsaved = lambda: "discard"
    review.model.detect_options["refine_alignment"] = False
    assert review.open_study(SAMPLE)
    return review, store


@pytest.mark.skipif(not (SAMPLE / "dicom").is_dir(), reason="no committed sample study")
def test_detection_without_the_bone_mask_process(make_napari_viewer, qtbot, tmp_path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """One CPU, or a process that cannot start: the masks are computed in napari's
    process, and they are the same masks."""
    from bmes_imaging.detection import automatic_bones
    from bmes_imaging_napari import _bone_process

    monkeypatch.setattr(_bone_process, "_get_worker", lambda: None)
    review, store = _review_of_sample(make_napari_viewer, tmp_path)
    assert review.model._bones_ahead is None  # nothing started elsewhere
    review.run_detection()
    qtbot.waitUntil(lambda: review.worker is None, timeout=120_000)
    assert review.model.findings
    np.testing.assert_array_equal(review.model.bones.array,
                                  automatic_bones(review.model.study.t1).array)
    store.close()


@pytest.mark.skipif(not (SAMPLE / "dicom").is_dir(), reason="no committed sample study")
def test_confirmed_edema_exports_as_dicom_seg(make_napari_viewer, qtbot, tmp_path) -> None:
    from bmes_imaging.export import read_edema_seg

    review, store = _review_of_sample(make_napari_viewer, tmp_path)
    viewer = review.viewer
    viewer.open(str(SAMPLE / "truth" / "bones.nii.gz"), plugin="bmes-imaging")
    review.run_detection()
    qtbot.waitUntil(lambda: review.worker is None, timeout=120_000)
    # DICOM person name (family^given): highdicom warns about single-component names
    review.reader_edit.setText("Reader^Anna")
    first = review.export_seg(tmp_path / "bones_only.dcm")  # nothing confirmed yet
    assert first is not None and first.edema_segments == {} and first.bone_segments
    review.select_bone(Bone.TALUS)
    review.confirm_selected()
    out = tmp_path / "edema_seg.dcm"
    exported = review.export_seg(out)
    assert exported is not None and out.is_file()
    assert set(exported.edema_segments) == {Bone.TALUS}
    back = read_edema_seg(out, review.model.study.t1)
    expected = np.where(review.model.edema.array == int(Bone.TALUS), int(Bone.TALUS), 0)
    np.testing.assert_array_equal(back.edema.array, expected)
    assert back.reader == "Reader^Anna" and back.confirmed == (Bone.TALUS,)
    review.model.dirty = False
    store.close()

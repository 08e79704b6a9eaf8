"""Clinical panel (record beside the images, validated edits) and the study queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bmes_imaging.clinical import sample_table_path
from bmes_imaging.store import open_store
from bmes_imaging_napari._layers import study_layer_data
from bmes_imaging_napari._qt._clinical_panel import NO_RECORD, VITAMIN_D_COLOURS, ClinicalPanel
from bmes_imaging_napari._qt._queue_widget import QueueWidget
from bmes_imaging_napari._qt._review_widget import ReviewWidget

pytestmark = pytest.mark.gui


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = open_store(tmp_path / "bmes.sqlite")
    s.import_clinical(sample_table_path())
    yield s
    s.close()


def test_panel_follows_the_study_and_highlights_vitamin_d(make_napari_viewer, store,
                                                          synthetic_study) -> None:
    viewer = make_napari_viewer()
    panel = ClinicalPanel(viewer, store=store)
    assert panel.title.text() == NO_RECORD
    # the synthetic study is PatientID "2", right foot: Table 1's patient 2
    for data, params, kind in study_layer_data(synthetic_study.t1, synthetic_study.stir):
        getattr(viewer, f"add_{kind}")(data, **params)
    assert panel.record is not None and panel.record.patient == "2"
    assert panel.edits["age"].text() == "37"
    assert panel.edits["side"].text() == "R"
    assert panel.edits["primary_bone"].text() == "talus"
    assert panel.edits["vitamin_d"].text() == "7.9"
    assert panel.vitamin_d_class.text() == "deficient"
    assert VITAMIN_D_COLOURS["deficient"] in panel.vitamin_d_class.styleSheet()
    assert panel.edits["aofas_initial"].text() == "52"
    assert panel.edits["aofas_final"].text() == "90"
    viewer.layers.clear()
    assert panel.record is None and panel.title.text() == NO_RECORD


def test_panel_edits_are_validated_like_the_import(make_napari_viewer, store) -> None:
    panel = ClinicalPanel(make_napari_viewer(), store=store)
    panel.show_for("2", "R")
    panel.edit_button.setChecked(True)
    assert not panel.edits["age"].isReadOnly() and panel.edits["side"].isReadOnly()
    panel.edits["vitamin_d"].setText("lots")
    panel.edits["aofas_final"].setText("140")
    assert not panel.save()
    assert "c0392b" in panel.edits["vitamin_d"].styleSheet()
    assert "c0392b" in panel.edits["aofas_final"].styleSheet()
    assert "aofas_final" in panel.message.text()
    assert store.clinical_record("2", "R").vitamin_d_ng_ml == pytest.approx(7.9)

    panel.actor = "dr_a"
    panel.edits["vitamin_d"].setText("35")
    panel.edits["aofas_final"].setText("92")
    assert panel.save()
    record = store.clinical_record("2", "R")
    assert record.vitamin_d_ng_ml == pytest.approx(35.0) and record.aofas_final == 92
    assert panel.vitamin_d_class.text() == "sufficient"
    assert VITAMIN_D_COLOURS["sufficient"] in panel.vitamin_d_class.styleSheet()
    events = [e for e in store.audit_events() if e.action == "clinical_updated"]
    assert events and events[-1].actor == "dr_a"


def test_panel_says_clearly_when_no_record_is_linked(make_napari_viewer, store) -> None:
    panel = ClinicalPanel(make_napari_viewer(), store=store)
    panel.show_for("999", "L")
    assert panel.record is None
    assert panel.title.text().startswith(NO_RECORD)
    assert not panel.edit_button.isEnabled()


def test_queue_steps_to_the_next_unreviewed_study(make_napari_viewer, qtbot, store,
                                                  synthetic_study, tmp_path) -> None:
    root = tmp_path / "cohort"
    for name in ("p01_L", "p02_R", "p03_R"):
        synthetic_study.t1.to_nifti(root / name / "t1.nii.gz")
        synthetic_study.stir.to_nifti(root / name / "stir.nii.gz")
    (root / "notes").mkdir()
    viewer = make_napari_viewer()
    review = ReviewWidget(viewer, store=store, cache=tmp_path / "cache", autosave_ms=0)
    review.ask_unsaved = lambda: "discard"
    review.model.reader = "dr_a"
    queue = QueueWidget(viewer, review=review)
    queue.set_folder(root)  # indexed in a worker thread
    assert queue.scanning and queue.summary.text().startswith("Looking for studies")
    qtbot.waitUntil(lambda: not queue.scanning, timeout=30_000)
    assert [e.path.name for e in queue.entries] == ["p01_L", "p02_R", "p03_R"]
    assert not any(e.reviewed for e in queue.entries)
    assert queue.summary.text() == "0 of 3 studies reviewed by dr_a"

    assert queue.open_next_unreviewed()  # opened in a worker thread
    qtbot.waitUntil(lambda: review.model.study is not None, timeout=30_000)
    assert review.model.study.source.name == "p01_L"
    # review it: save an (empty) annotation on the T1 grid
    study = review.model.study
    review.model.edema = study.t1.with_array(study.t1.array.astype("uint8") * 0)
    review.model.dirty = True
    assert review.save()
    assert queue.open_next_unreviewed()
    qtbot.waitUntil(lambda: review.model.study.source.name == "p02_R", timeout=30_000)
    qtbot.waitUntil(lambda: not review.jobs.busy(), timeout=5_000)
    assert [e.reviewed for e in queue.entries] == [True, False, False]
    assert queue.summary.text() == "1 of 3 studies reviewed by dr_a"


def test_queue_lists_the_studies_registered_in_the_store(make_napari_viewer, qtbot, store,
                                                         synthetic_study, tmp_path) -> None:
    from bmes_imaging_napari._study import find_study_choices

    root = tmp_path / "cohort"
    for name in ("p01_L", "p02_R", "p03_R"):
        synthetic_study.t1.to_nifti(root / name / "t1.nii.gz")
        synthetic_study.stir.to_nifti(root / name / "stir.nii.gz")
    keys = {c.folder.name: c.key for c in find_study_choices(root)}
    assert sorted(keys) == ["p01_L", "p02_R", "p03_R"]
    store.register_study(study_instance_uid=keys["p03_R"])
    store.register_study(study_instance_uid="1.2.3.4.5.6.7.8.9")  # no folder here
    store.register_study(study_instance_uid=keys["p01_L"])
    viewer = make_napari_viewer()
    review = ReviewWidget(viewer, store=store, cache=tmp_path / "cache", autosave_ms=0)
    review.model.reader = "dr_a"
    queue = QueueWidget(viewer, review=review)
    queue.set_folder(root)
    qtbot.waitUntil(lambda: not queue.scanning, timeout=30_000)
    queue.use_store(True)
    assert queue.store_check.isChecked()
    assert [e.key for e in queue.entries] == [keys["p03_R"], "1.2.3.4.5.6.7.8.9",
                                              keys["p01_L"]]
    assert queue.entries[1].path is None
    assert "folder not found" in queue.list.item(1).text()
    assert queue.open_next_unreviewed()  # opened in a worker thread
    qtbot.waitUntil(lambda: review.model.study is not None, timeout=30_000)
    qtbot.waitUntil(lambda: not review.jobs.busy(), timeout=5_000)
    assert review.model.study.source.name == "p03_R"
    review.model.dirty = False
    assert queue.next_unreviewed().path.name == "p01_L"  # skips the one not found

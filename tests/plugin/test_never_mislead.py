"""The review never misleads: a study picker for multi-study folders, who / which foot /
when on the canvas, the fluid image hatched where it has no data, and a ``bmes demo``
study shown with its run's store and screening candidates."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from bmes_imaging.study import (
    SeveralStudiesError,
    StudyChoice,
    find_run_folders,
    find_study_choices,
    load_study,
)
from bmes_imaging_napari._qt._review_widget import ReviewWidget

from .conftest import make_study

SAMPLE = Path(__file__).parents[2] / "sample_data" / "study_p02_R"


def write_nifti_study(folder: Path, rotation_deg: float = 0.0) -> Any:
    study = make_study(rotation_deg=rotation_deg)
    study.t1.to_nifti(folder / "t1.nii.gz")
    study.stir.to_nifti(folder / "stir.nii.gz")
    return study


@pytest.fixture
def two_studies(tmp_path: Path) -> Path:
    root = tmp_path / "export"
    write_nifti_study(root / "a_first")
    write_nifti_study(root / "b_second", rotation_deg=10.0)
    return root


def review_widget(viewer: Any, tmp_path: Path) -> ReviewWidget:
    from bmes_imaging.store import open_store

    widget = ReviewWidget(viewer, store=open_store(tmp_path / "bmes.sqlite"),
                          cache=tmp_path / "cache", autosave_ms=0)
    viewer.window.add_dock_widget(widget, name="Review")
    widget.ask_unsaved = lambda: "discard"
    widget.ask_yes_no = lambda question: False
    return widget


def test_a_folder_with_several_studies_is_never_opened_as_its_first(two_studies: Path
                                                                    ) -> None:
    with pytest.raises(SeveralStudiesError) as several:
        load_study(two_studies)
    assert [c.folder.name for c in several.value.choices] == ["a_first", "b_second"]
    assert "2 studies" in str(several.value)
    chosen = load_study(several.value.choices[1])
    assert chosen.source == two_studies / "b_second"


@pytest.mark.gui
def test_the_review_asks_which_study_to_open(make_napari_viewer, two_studies: Path,
                                             tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    widget = review_widget(viewer, tmp_path)
    asked: list[list[StudyChoice]] = []
    widget.pick_study = lambda choices, folder: asked.append(choices) or None
    assert not widget.open_study(two_studies)  # cancelled: nothing opened
    assert widget.model.study is None and len(asked[0]) == 2
    widget.pick_study = lambda choices, folder: choices[1]
    assert widget.open_study(two_studies)
    assert widget.model.study is not None
    assert widget.model.study.source == two_studies / "b_second"
    widget.model.store.close()


@pytest.mark.gui
def test_the_study_picker_lists_patient_side_date(qtbot, tmp_path: Path) -> None:
    from bmes_imaging_napari._qt._study_picker import StudyPicker

    choices = [StudyChoice(key=f"1.2.{n}", side=side, patient_id=pid, study_date=date,
                           description="T1 SAG + STIR SAG", folder=tmp_path / name)
               for n, (side, pid, date, name) in enumerate(
                   [("L", "7", "20200102", "p07_L"), ("R", "7", "20200102", "p07_R")])]
    picker = StudyPicker(choices, folder="export")
    qtbot.addWidget(picker)
    cells = [[picker.table.item(r, c).text() for c in range(5)] for r in range(2)]
    assert cells[0][:3] == ["7", "left", "2020-01-02"] and cells[1][1] == "right"
    picker.table.selectRow(1)
    assert picker.chosen() is choices[1]


@pytest.mark.gui
@pytest.mark.skipif(not (SAMPLE / "dicom").is_dir(), reason="no committed sample study")
def test_patient_side_and_date_are_always_on_the_canvas(make_napari_viewer,
                                                       tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    widget = review_widget(viewer, tmp_path)
    assert widget.open_study(SAMPLE)
    from bmes_imaging_napari._qt._canvas import text_overlay

    overlay = text_overlay(viewer)
    assert overlay.visible
    assert overlay.text.startswith("Patient 2 · RIGHT foot · 2014-10-27 · T1 + STIR")
    # sagittal reading view: slice position along R in mm, superior up, anterior left
    line = overlay.text.splitlines()[1]
    assert line.startswith("slice R ") and line.endswith("mm · top S · left A"), line
    viewer.dims.set_point(0, 5.0)  # snaps to the nearest slice centre
    assert f"slice R {viewer.dims.point[0]:+.1f} mm" in overlay.text  # follows the slider
    assert abs(viewer.dims.point[0] - 5.0) < 3.0
    from bmes_imaging_napari._qt._canvas import scale_bar

    assert scale_bar(viewer).visible
    nifti = tmp_path / "nifti"
    write_nifti_study(nifti)
    assert widget.open_study(nifti)  # NIfTI: unknowns are said, not left out
    assert overlay.visible
    assert overlay.text.startswith("Patient unknown · side unknown · date unknown")
    widget.model.store.close()


@pytest.mark.gui
def test_the_fluid_image_is_hatched_outside_its_field_of_view(make_napari_viewer,
                                                              tmp_path: Path) -> None:
    study = write_nifti_study(tmp_path / "study")
    viewer = make_napari_viewer()
    widget = review_widget(viewer, tmp_path)
    assert widget.open_study(tmp_path / "study")
    layers = widget._study_layers()
    fov = layers["fluid_fov"]
    meta = fov.metadata["bmes_imaging"]
    hatch = np.asarray(fov.data).transpose(np.argsort(meta["order"]))
    # reference: where nearest-neighbour sampling of the STIR grid has no voxel
    t1, stir = study.t1, study.stir
    to_stir = np.linalg.inv(stir.affine) @ t1.affine
    ijk = np.indices(t1.shape).reshape(3, -1)
    pos = to_stir[:3, :3] @ ijk + to_stir[:3, 3:4]
    covered = ndimage.map_coordinates(np.ones(stir.shape), pos, order=0, mode="grid-constant",
                                      cval=0.0).reshape(t1.shape) > 0
    outside = hatch > 0
    assert 0.03 < outside.mean() < 0.6  # the synthetic STIR misses part of the T1
    assert (outside != ~covered).mean() < 0.005  # voxel centres on the very border
    assert set(np.unique(hatch[outside])) == {1, 2}  # stripes on a dark ground
    assert fov.visible and layers["fluid"].visible
    widget.toggle_sequence()  # T1 alone: no hatch over it
    assert not layers["fluid"].visible and not fov.visible
    widget.toggle_sequence()
    assert fov.visible
    widget.model.store.close()


def _write_screen_run(run: Path) -> tuple[Path, Any]:
    """A ``bmes demo``-like run: cohort/s1 (NIfTI), screen/studies/<key>/, bmes.sqlite."""
    from bmes_imaging.detection import INVOLVEMENT_COLUMNS
    from bmes_imaging.screening import study_key
    from bmes_imaging.store import open_store

    synthetic = write_nifti_study(run / "cohort" / "s1")
    open_store(run / "bmes.sqlite").close()
    key = find_study_choices(run / "cohort" / "s1")[0].key
    out = run / "screen" / "studies" / study_key(key, None)
    synthetic.edema.to_nifti(out / "edema.nii.gz")
    synthetic.bones.to_nifti(out / "bones.nii.gz")
    with (out / "involvement.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, INVOLVEMENT_COLUMNS)
        writer.writeheader()
        for label, ml in ((1, 0.9), (2, 0.0), (3, 0.3)):
            writer.writerow({"study_instance_uid": key, "bone": "x", "bone_label": label,
                             "bone_volume_ml": "10", "edema_volume_ml": str(ml),
                             "fraction": str(ml / 10), "grade": int(ml > 0),
                             "t1_ratio": "0.5", "fluid_ratio": "2", "confidence": "0.8",
                             "status": "candidate", "bone_mask_quality": ""})
    return run / "cohort" / "s1", synthetic


def test_a_demo_study_finds_its_runs_store_and_screening(tmp_path: Path,
                                                         monkeypatch) -> None:
    from bmes_imaging.cli._view import _use_run_folders

    study_dir, _ = _write_screen_run(tmp_path / "demo")
    run = find_run_folders(study_dir)
    assert run.store == (tmp_path / "demo" / "bmes.sqlite").resolve()
    assert run.screen == (tmp_path / "demo" / "screen").resolve()
    monkeypatch.delenv("BMES_DB", raising=False)
    _use_run_folders(study_dir)
    import os

    assert os.environ["BMES_DB"] == str(run.store)
    assert find_run_folders(tmp_path / "elsewhere") == type(run)()


@pytest.mark.gui
def test_a_screened_study_opens_with_its_candidates(make_napari_viewer,
                                                    tmp_path: Path) -> None:
    study_dir, synthetic = _write_screen_run(tmp_path / "demo")
    viewer = make_napari_viewer()
    widget = review_widget(viewer, tmp_path)
    assert widget.open_study(study_dir)
    findings = {int(f.bone): f for f in widget.model.findings}
    assert sorted(findings) == [1, 2, 3] and findings[1].edema_volume_ml == 0.9
    assert all(f.status == "candidate" for f in findings.values())
    assert widget.edema_layer is not None
    np.testing.assert_array_equal(widget.model.edema.array, synthetic.edema.array)
    assert widget.table.rowCount() == 3
    widget.model.store.close()

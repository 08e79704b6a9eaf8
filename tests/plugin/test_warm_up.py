"""The head start of a first open and detection (issue 15, speed): the dock's warm-up,
the bone masks started as soon as the study is loaded, and the labels layers added
while they run. Real napari under Xvfb, a real SQLite store, the real worker process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bmes_imaging_napari import _bone_process
from bmes_imaging_napari._qt import _warm_up
from bmes_imaging_napari._qt._study_opener import prepare_study
from bmes_imaging_napari._review_model import ReviewModel

from .test_review_workflow import detect, make_widget

pytestmark = pytest.mark.gui
TWO_CPUS = (os.cpu_count() or 1) >= 2


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie is not running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except OSError:
        return False
    return state != "Z"


def _fresh_warm_up() -> None:
    """As in a new session (earlier tests may have warmed up this process already)."""
    _bone_process.shutdown()
    _warm_up._warm_up_started.clear()
    _warm_up.warm_up_done.clear()


@pytest.mark.skipif(not TWO_CPUS, reason="the bone-mask process needs a second CPU")
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc for the helper's state")
def _warm_layers_of(viewer: Any) -> list[Any]:
    from bmes_imaging_napari._qt._warm_layers import is_warm

    return [layer for layer in viewer.layers if is_warm(layer)]


def test_warm_up_starts_the_helper_keeps_hidden_layers_and_close_ends_it(
        make_napari_viewer: Any, qtbot: Any, store: Any, tmp_path: Path) -> None:
    """The warm-up adds the five layers a study shows (empty, drawn once with the
    caption's glyphs and the scale bar, then hidden), starts the bone-mask process
    (when idle, not in the constructor), and puts the caption and scale bar back as
    they were; closing the dock ends the process it started."""
    from bmes_imaging_napari._qt._canvas import scale_bar, text_overlay

    _fresh_warm_up()
    viewer = make_napari_viewer(show=True)
    overlay = text_overlay(viewer)
    overlay.text, overlay.visible = "before", False
    widget = make_widget(viewer, store, tmp_path / "cache")
    assert not _bone_process.is_running()  # not in the constructor
    qtbot.waitUntil(_bone_process.is_running, timeout=60_000)
    pid = _bone_process.pid()
    assert pid is not None
    qtbot.waitUntil(_warm_up.warm_up_done.is_set, timeout=120_000)
    warm = _warm_layers_of(viewer)
    assert len(warm) == len(viewer.layers) == 5
    assert [layer.metadata["bmes_imaging"]["role"] for layer in warm] == [
        "t1", "fluid", "fluid_fov", "bones", "edema"]
    assert not any(layer.visible for layer in warm)
    assert not any(np.any(layer.data) for layer in warm)
    assert widget._study_layers() == {}  # no study's layers
    assert overlay.text == "before" and not overlay.visible
    assert not scale_bar(viewer).visible
    assert _bone_process.pid() == pid  # the same process, ready
    widget.close()
    qtbot.waitUntil(lambda: not _alive(pid), timeout=10_000)
    assert not _bone_process.is_running()


@pytest.mark.slow  # automatic bone masks: an atlas registration
@pytest.mark.skipif(not TWO_CPUS, reason="the bone-mask process needs a second CPU")
def test_bone_masks_start_as_soon_as_the_study_is_loaded(nifti_study_dir: Path,
                                                         store: Any,
                                                         tmp_path: Path) -> None:
    """Loading a study in the open job (before its layers are drawn) already asks the
    bone-mask process for its automatic bone masks; none when they are cached."""
    model = ReviewModel(store=store, cache=tmp_path / "cache")
    try:
        study, _ = prepare_study(nifti_study_dir, model)
        ahead = model._bones_ahead
        assert ahead is not None and ahead[0] == study.key
        # ready, and kept in the bone-mask process for the study's detection there
        assert ahead[1].result(timeout=300) is None
    finally:
        _bone_process.shutdown()


@pytest.mark.slow  # automatic bone masks: an atlas registration
def test_open_adds_the_labels_layers_detection_then_fills(make_napari_viewer: Any,
                                                           qtbot: Any, store: Any,
                                                           nifti_study_dir: Path,
                                                           tmp_path: Path) -> None:
    """A study opened in the background gets empty bone and edema layers before
    detection (added while the bone masks run); detection fills those same layers."""
    viewer = make_napari_viewer()
    widget = make_widget(viewer, store, tmp_path / "cache")
    assert widget.open_study_in_background(nifti_study_dir) is not None
    qtbot.waitUntil(lambda: not widget.jobs.busy("open"), timeout=60_000)
    layers = widget._study_layers()
    bones, edema = layers["bones"], layers["edema"]
    assert not np.any(bones.data) and not np.any(edema.data)
    assert bones.contour == 1 and edema.name == "Edema"
    assert widget.edema_layer is None  # nothing to paint into before detection
    n_layers = len(viewer.layers)
    detect(widget, qtbot)
    layers = widget._study_layers()
    assert layers["bones"] is bones and layers["edema"] is edema  # filled, not added
    assert len(viewer.layers) == n_layers
    assert np.any(bones.data) and widget.edema_layer is edema
    _bone_process.shutdown()


def test_an_imported_bone_map_replaces_the_empty_bones_layer(make_napari_viewer: Any,
                                                             qtbot: Any, store: Any,
                                                             nifti_study_dir: Path,
                                                             tmp_path: Path) -> None:
    """The reader's own bone label map replaces the empty layer added ahead of
    detection (one bones layer, as before), and detection uses and shows it."""
    viewer = make_napari_viewer()
    widget = make_widget(viewer, store, tmp_path / "cache")
    assert widget.open_study_in_background(nifti_study_dir) is not None
    qtbot.waitUntil(lambda: not widget.jobs.busy("open"), timeout=60_000)
    empty = widget._study_layers()["bones"]
    viewer.open(str(nifti_study_dir.parent / "bones.nii.gz"), plugin="bmes-imaging")
    qtbot.waitUntil(lambda: empty not in viewer.layers, timeout=5_000)
    bones = [layer for layer in viewer.layers
             if layer.metadata.get("bmes_imaging", {}).get("role") == "bones"]
    assert len(bones) == 1 and np.any(bones[0].data)
    detect(widget, qtbot)
    assert widget.model.bones is not None
    assert widget.model.last_timings["bones"] < 5.0  # imported: no atlas registration


def test_the_first_study_takes_the_warm_up_layers(make_napari_viewer: Any, qtbot: Any,
                                                  store: Any, nifti_study_dir: Path,
                                                  tmp_path: Path) -> None:
    """The first study opened reuses the warm-up's layers (the same napari layers, now
    shown with its data and names, none left marked warm), as later studies reuse
    their predecessor's; its bone and edema layers are the warm-up's, emptied."""
    _fresh_warm_up()
    viewer = make_napari_viewer(show=True)
    widget = make_widget(viewer, store, tmp_path / "cache")
    qtbot.waitUntil(lambda: len(_warm_layers_of(viewer)) == 5
                    and not any(layer.visible for layer in viewer.layers), timeout=60_000)
    warm = list(viewer.layers)
    assert widget.open_study_in_background(nifti_study_dir) is not None
    qtbot.waitUntil(lambda: not widget.jobs.busy("open"), timeout=60_000)
    assert list(viewer.layers) == warm  # the same layers, in the same order
    assert _warm_layers_of(viewer) == []
    layers = widget._study_layers()
    study = widget.model.study
    assert study is not None
    assert layers["t1"] is warm[0] and layers["edema"] is warm[4]
    order = layers["t1"].metadata["bmes_imaging"]["order"]
    assert np.array_equal(layers["t1"].data, study.t1.array.transpose(order))
    assert all(layers[r].visible for r in ("t1", "fluid", "bones", "edema"))
    assert layers["bones"].name == "Bones" and layers["edema"].name == "Edema"
    assert not np.any(layers["bones"].data) and layers["bones"].contour == 1
    _bone_process.shutdown()


def test_a_study_without_fluid_takes_the_t1_layer_after_a_layer_of_the_readers_own(
        make_napari_viewer: Any, qtbot: Any, store: Any, nifti_study_dir: Path,
        tmp_path: Path) -> None:
    """An image the reader adds first leaves the warm-up's layers hidden (never taken
    for a study, nothing removed); a study without a fluid series then takes the T1
    layer and the empty bone and edema layers, and the warm fluid layers go."""
    from bmes_imaging_napari._study import Study, load_study

    _fresh_warm_up()
    viewer = make_napari_viewer(show=True)
    widget = make_widget(viewer, store, tmp_path / "cache")
    qtbot.waitUntil(_warm_up.warm_up_done.is_set, timeout=120_000)
    warm = _warm_layers_of(viewer)
    own = viewer.add_image(np.ones((4, 5, 6), dtype=np.float32), name="mine")
    qtbot.wait(50)
    assert list(viewer.layers) == [*warm, own] and widget.model.study is None
    loaded = load_study(nifti_study_dir)
    t1_only = Study(t1=loaded.t1, fluid=None, key="t1-only", source=nifti_study_dir)
    widget.opener.show(t1_only, None)
    qtbot.wait(50)
    assert _warm_layers_of(viewer) == []
    assert list(viewer.layers) == [warm[0], warm[3], warm[4], own]
    assert set(widget._study_layers()) == {"t1", "bones", "edema"}
    _bone_process.shutdown()

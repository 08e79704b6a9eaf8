"""The follow-up view: two time points side by side in napari's grid, linked by one world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from bmes_imaging.bones import Bone
from bmes_imaging.geometry import apply_affine
from bmes_imaging.phantom import FollowUp, PhantomSpec, write_study
from bmes_imaging.volume import load_nifti

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fuview")
    spec = PhantomSpec(resolution=4.0)
    write_study(spec, root / "base")
    write_study(spec, root / "fu", follow_up=FollowUp(months=18, keep=(("talus", 0.3),),
                                                       rotation_deg=5.0, shift_mm=7.0))
    return root / "base", root / "fu"


def _sample(layer: Any, world: np.ndarray) -> float:
    """The layer's value at a world point (nearest voxel)."""
    idx = np.rint(np.asarray(layer.world_to_data(world))).astype(int)
    return float(np.asarray(layer.data)[tuple(idx)])


def test_two_time_points_side_by_side_on_one_world(make_napari_viewer: Any, qtbot: Any,
                                                   studies: tuple[Path, Path]) -> None:
    from bmes_imaging_napari._qt._followup_view import FollowUpView

    base, fu = studies
    viewer = make_napari_viewer()
    view = FollowUpView(viewer)
    viewer.window.add_dock_widget(view, name="Follow-up", area="right")
    errors: list[BaseException] = []
    worker = view.open_pair(base, fu)
    worker.errored.connect(errors.append)
    qtbot.waitUntil(lambda: view.pair is not None or bool(errors), timeout=60_000)
    assert not errors
    pair = view.pair
    assert pair is not None

    # side by side: grid mode, one cell per time point, baseline left
    left, right = view.own_layers("baseline"), view.own_layers("follow_up")
    grid = viewer.canvas.grid
    assert grid.enabled and len(left) == len(right) == grid.stride
    layers = list(viewer.layers)
    assert {grid.position(layers.index(ly), layers) for ly in left
            if ly.visible} == {(0, 0)}
    assert {grid.position(layers.index(ly), layers) for ly in right
            if ly.visible} == {(0, 1)}
    # linked: the two cells are views of one viewer (one dims, one camera), and the
    # layers of both time points place a world point on the same anatomy
    t1_base = next(ly for ly in left if ly.name.startswith("T1"))
    t1_fu = next(ly for ly in right if ly.name.startswith("T1"))
    bones_fu = next(ly for ly in right if ly.name.startswith("Bones"))
    np.testing.assert_allclose(t1_base.affine.affine_matrix, t1_fu.affine.affine_matrix)

    # landmark: the talus centre of the phantom's baseline truth
    truth = load_nifti(base / "truth" / "bones.nii.gz")
    c = ndimage.center_of_mass(np.asarray(truth.array) == int(Bone.TALUS))
    ras = apply_affine(truth.affine, [c])[0]
    world = apply_affine(t1_base.metadata["bmes_imaging"]["frame"], [ras])[0]
    assert _sample(bones_fu, world) == int(Bone.TALUS)
    a, b = _sample(t1_base, world), _sample(t1_fu, world)
    assert abs(a - b) < 0.25 * max(a, b), (a, b)
    # without the registration the follow-up's own talus centre lies elsewhere
    ft = load_nifti(fu / "truth" / "bones.nii.gz")
    c1 = apply_affine(ft.affine, [ndimage.center_of_mass(np.asarray(ft.array)
                                                          == int(Bone.TALUS))])[0]
    assert np.linalg.norm(c1 - ras) > 3.0

    # captions: both dates, the talus volumes and the follow-up's change
    left_text, right_text = (cap.text() for cap in view.captions)
    assert pair.baseline.date_text in left_text and "Talus" in left_text
    assert pair.follow_up.date_text in right_text and "improving" in right_text
    assert pair.baseline.date_text in viewer.canvas.overlays["text"].text
    assert pair.follow_up.date_text in viewer.canvas.overlays["text"].text


def test_an_unopenable_pair_is_reported(make_napari_viewer: Any, qtbot: Any, tmp_path: Path,
                                        studies: tuple[Path, Path]) -> None:
    from bmes_imaging_napari._qt._followup_view import FollowUpView

    viewer = make_napari_viewer()
    view = FollowUpView(viewer)
    (tmp_path / "empty").mkdir()
    view.open_pair(studies[0], tmp_path / "empty")
    qtbot.waitUntil(lambda: "Could not open" in view.status.text(), timeout=60_000)
    assert view.pair is None and not view.own_layers()

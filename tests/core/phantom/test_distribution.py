"""Phantom contrast / acquisition knobs and the tuning / evaluation distribution."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from bmes_imaging.bones import Bone
from bmes_imaging.dicom import index_folder, load_series
from bmes_imaging.errors import PhantomError
from bmes_imaging.geometry import resample_to
from bmes_imaging.phantom import PhantomSpec, PhantomStudy, generate_study, write_study
from bmes_imaging.volume import Volume

# in-plane erosion (3 pixels) plus one 3-D step: the core of a region, away from
# partial volume with cortex and cartilage
_IN_PLANE = np.zeros((3, 3, 3), bool)
_IN_PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)


def _core(mask: np.ndarray) -> np.ndarray:
    return np.asarray(ndimage.binary_erosion(mask, _IN_PLANE, iterations=3)
                      & ndimage.binary_erosion(mask))


def _ratio(study_truth: tuple[Volume, Volume], image: Volume) -> float:
    """Mean of ``image`` over the talus edema core / over the (normal) calcaneus core."""
    bones, edema = (resample_to(v, image.affine, image.shape, order=0).array
                    for v in study_truth)
    ed, normal = _core(edema == Bone.TALUS), _core(bones == Bone.CALCANEUS)
    assert ed.sum() > 200 and normal.sum() > 500
    return float(image.array[ed].mean() / image.array[normal].mean())


@pytest.mark.parametrize(("fluid_ratio", "t1_ratio", "fat", "plane", "field"), [
    (1.8, 0.85, None, "sagittal", 1.5),
    (8.0, 0.35, 0.4, "axial", 3.0),
    (3.0, 0.6, 0.2, "coronal", 1.5),
])
def test_edema_ratios_hold_on_the_images(fluid_ratio: float, t1_ratio: float,
                                         fat: float | None, plane: str,
                                         field: float) -> None:
    s = generate_study(PhantomSpec(
        seed=3, edema_bones=("talus",), edema_extent="diffuse", snr=None, bias=0.0,
        resolution=2.0, edema_fluid_ratio=fluid_ratio, edema_t1_ratio=t1_ratio,
        fat_suppression=fat, fluid_plane=plane, field_strength=field))
    truth = (s.bones, s.edema)
    assert _ratio(truth, s.stir) == pytest.approx(fluid_ratio, rel=0.1)
    assert _ratio(truth, s.t1) == pytest.approx(t1_ratio, rel=0.1)
    assert s.details["edema_fluid_ratio"] == pytest.approx(fluid_ratio)
    assert s.stir.info.plane == plane


def test_poor_fat_suppression_raises_marrow_and_fat_on_the_fluid_image() -> None:
    base = PhantomSpec(seed=4, normal=True, snr=None, bias=0.0, resolution=3.0)
    good = generate_study(replace(base, fat_suppression=0.0))
    poor = generate_study(replace(base, fat_suppression=0.4))
    b = resample_to(good.bones, good.stir.affine, good.stir.shape, order=0).array
    marrow = _core(b == Bone.CALCANEUS)
    assert np.array_equal(good.t1.array, poor.t1.array)  # T1 untouched
    assert poor.stir.array[marrow].mean() > 4 * good.stir.array[marrow].mean()
    # inhomogeneous: the same mean residual, spread across the field (a ramp)
    uneven = generate_study(replace(base, fat_suppression=0.4, fat_inhomogeneity=0.8))
    fat_like = poor.stir.array > 200  # fat and fatty marrow on the poorly suppressed image
    spread = [np.std(s.stir.array[fat_like]) for s in (poor, uneven)]
    assert spread[1] > 1.5 * spread[0]
    assert np.array_equal(uneven.t1.array, poor.t1.array)


def test_field_strength_darkens_muscle_on_t1_and_writes_the_header(tmp_path: Path) -> None:
    base = PhantomSpec(seed=4, normal=True, snr=None, bias=0.0, resolution=3.0)
    s15 = generate_study(base)
    s30 = generate_study(replace(base, field_strength=3.0))
    marrow = _core(s15.bones.array == Bone.CALCANEUS)
    # same geometry: marrow unchanged, muscle-like voxels about 15 % darker at 3 T
    assert s30.t1.array[marrow].mean() == pytest.approx(s15.t1.array[marrow].mean(), rel=1e-3)
    muscle = (s15.t1.array > 300) & (s15.t1.array < 420)
    assert muscle.sum() > 1000
    assert np.median(s30.t1.array[muscle] / s15.t1.array[muscle]) < 0.9
    assert s30.series_attributes["t1"]["attributes"]["MagneticFieldStrength"] == 3.0


def test_rescale_is_written_and_read_back(tmp_path: Path) -> None:
    spec = PhantomSpec(seed=7, resolution=4.0, rescale=(2.5, -100.0, 0.75, 10.0))
    study = generate_study(spec)
    plain = generate_study(PhantomSpec(seed=7, resolution=4.0))
    assert np.allclose(study.t1.array, plain.t1.array * 2.5 - 100.0)
    assert np.allclose(study.stir.array, plain.stir.array * 0.75 + 10.0)
    write_study(study, tmp_path)
    import pydicom

    series = {s.sequence: s for s in index_folder(tmp_path / "dicom").stacks}
    for key, vol in (("t1", study.t1), ("stir", series["stir"])):
        stack = series[key]
        loaded = load_series(stack)
        ref = study.t1 if key == "t1" else study.stir
        assert np.allclose(loaded.array, ref.array, atol=1e-3)
        ds = pydicom.dcmread(stack.files[0], stop_before_pixels=True)
        slope, intercept = spec.rescale_of("t1" if key == "t1" else "fluid")
        assert float(ds.RescaleSlope) == slope and float(ds.RescaleIntercept) == intercept
        del vol


def test_pixel_slice_and_coverage_set_the_grid() -> None:
    s = generate_study(PhantomSpec(seed=2, snr=None, pixel_mm=0.9, slice_mm=5.0,
                                   coverage=0.6))
    for vol in (s.t1, s.stir):
        zooms = np.sqrt((vol.affine[:3, :3] ** 2).sum(0))
        assert zooms[0] == pytest.approx(0.9) and zooms[1] == pytest.approx(0.9)
        assert zooms[2] == pytest.approx(5.5)
    assert s.t1.shape[2] == 11  # 60 % of a 99 mm slab at 5.5 mm
    fine = PhantomSpec(seed=2, pixel_mm=0.3, slice_mm=2.0)
    from bmes_imaging.phantom._protocol import protocols

    t1, fluid, _ = protocols(fine)
    assert max(t1.matrix) <= 512 and max(fluid.matrix) <= 512  # FOV cropped instead
    assert t1.pixel_mm == pytest.approx((0.3, 0.3))


def test_placement_and_flexion_move_the_foot() -> None:
    base = PhantomSpec(seed=5, normal=True, snr=None, resolution=3.0)
    s0 = generate_study(base)
    moved = generate_study(replace(base, placement=(0.0, 30.0, 0.0)))
    flexed = generate_study(replace(base, flexion_deg=30.0))

    def centroid(study: PhantomStudy, bone: Bone) -> np.ndarray:  # world mm
        ijk = np.argwhere(study.bones.array == bone)
        return study.bones.world(ijk).mean(0)

    # the field of view moves, not the foot: the talus sits 30 mm further anterior in it
    in_fov0 = centroid(s0, Bone.TALUS) - s0.bones.affine[:3, 3]
    in_fov1 = centroid(moved, Bone.TALUS) - moved.bones.affine[:3, 3]
    assert (in_fov1 - in_fov0)[1] == pytest.approx(30.0, abs=3.0)
    # plantar flexion: the metatarsals drop relative to the talus
    d0 = centroid(s0, Bone.SECOND_METATARSAL) - centroid(s0, Bone.TALUS)
    d1 = centroid(flexed, Bone.SECOND_METATARSAL) - centroid(flexed, Bone.TALUS)
    assert d1[2] < d0[2] - 15.0


def test_spec_round_trips_through_to_dict() -> None:
    spec = PhantomSpec(seed=9, edema_bones=("talus", "cuboid"), edema_extent="mixed",
                       edema_fluid_ratio=2.2, edema_t1_ratio=0.7, fat_suppression=0.1,
                       field_strength=3.0, slice_mm=4.0, pixel_mm=0.5, fluid_plane="axial",
                       rescale=(1.5, 0.0), flexion_deg=20.0, deformation=1.5,
                       placement=(5.0, -10.0, 0.0), coverage=0.8)
    import json

    d = json.loads(json.dumps(spec.to_dict()))
    assert PhantomSpec.from_dict(d) == spec
    plain = PhantomSpec(seed=9)
    assert "edema_fluid_ratio" not in plain.to_dict()  # old phantom.json stays as it was
    assert PhantomSpec.from_dict(plain.to_dict()) == plain
    with pytest.raises(PhantomError, match="fluid_plane"):
        PhantomSpec(fluid_plane="oblique")
    with pytest.raises(PhantomError, match="rescale"):
        PhantomSpec(rescale=(0.0, 1.0))


def test_tune_and_eval_draw_from_disjoint_seeds() -> None:
    from bmes_imaging.phantom import cohort_specs, draw_spec

    tune = cohort_specs("tune", n=300)
    evals = cohort_specs("eval", n=300)
    assert len(tune) == len(evals) == 300
    assert not {s.seed for _, s in tune} & {s.seed for _, s in evals}
    assert not {s.patient_id for _, s in tune} & {s.patient_id for _, s in evals}
    # not only the seeds: the drawn values differ too
    assert draw_spec(5, "tune").edema_fluid_ratio != draw_spec(5, "eval").edema_fluid_ratio
    assert draw_spec(5, "eval") == draw_spec(5, "eval")  # deterministic
    with pytest.raises(PhantomError, match="split"):
        draw_spec(1, "test")


def test_eval_cohort_holds_the_extremes_of_every_range() -> None:
    from bmes_imaging.phantom import RANGES, cohort_specs

    specs = [s for _, s in cohort_specs("eval", n=40)]
    lesions = [s for s in specs if not s.normal]
    fluid = [s.edema_fluid_ratio for s in lesions]
    t1 = [s.edema_t1_ratio for s in lesions]
    assert min(fluid) == 1.8 and max(fluid) == 8.0  # type: ignore[type-var]
    assert min(t1) == 0.35 and max(t1) == 0.85  # type: ignore[type-var]
    assert {(1.8, 0.85), (1.8, 0.35), (8.0, 0.35), (8.0, 0.85)} <= {
        (s.edema_fluid_ratio, s.edema_t1_ratio) for s in lesions}
    snr = [s.snr for s in specs if s.snr is not None]
    assert min(snr) == 8.0 and max(snr) == 60.0
    assert max(s.slice_mm or 0 for s in specs) == 5.0
    assert min(s.slice_mm or 9 for s in specs) == 2.0
    assert max(s.pixel_mm or 0 for s in specs) == 0.9
    assert min(s.pixel_mm or 9 for s in specs) == 0.3
    assert {s.fluid_plane for s in lesions} == {"sagittal", "axial", "coronal"}
    assert {s.fluid for s in specs} == {"stir", "t2_fs", "pd_fs"}
    assert {s.field_strength for s in specs} == {1.5, 3.0}
    assert any(s.coverage < 1.0 for s in lesions)
    assert max(s.flexion_deg for s in specs) == RANGES["flexion_deg"][1]
    assert {min(s.size for s in specs), max(s.size for s in specs)} == {0.8, 1.25}
    assert max(s.fat_suppression or 0 for s in specs) == 0.4
    assert any(s.rescale is not None for s in specs)
    assert any(len(s.edema_bones) == 4 for s in lesions)
    assert {s.edema_extent for s in lesions} >= {"subchondral", "moderate", "diffuse",
                                                  "mixed"}
    assert 0.15 <= sum(s.normal for s in specs) / len(specs) <= 0.4
    assert 0.2 <= sum(s.anatomy == "parametric" for s in specs) / len(specs) <= 0.6
    assert {s.side for s in specs} == {"L", "R"}
    assert any(s.red_marrow for s in specs if s.normal)


def test_deformation_strength_reshapes_the_bones() -> None:
    base = PhantomSpec(seed=8, normal=True, snr=None, resolution=4.0)
    plain = generate_study(base).bones.array
    weak = generate_study(replace(base, deformation=0.2)).bones.array
    strong = generate_study(replace(base, deformation=2.0)).bones.array

    def dice(a: np.ndarray, b: np.ndarray, bone: Bone) -> float:
        x, y = a == bone, b == bone
        return float(2 * (x & y).sum() / (x.sum() + y.sum()))

    assert dice(plain, weak, Bone.CALCANEUS) > dice(plain, strong, Bone.CALCANEUS)
    assert dice(plain, strong, Bone.CALCANEUS) < 0.9

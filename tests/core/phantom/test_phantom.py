"""Phantom studies: determinism, ground truth against the DICOM, mirroring, cohort, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from bmes_imaging.bones import Bone
from bmes_imaging.dicom import index_folder, load_series
from bmes_imaging.errors import PhantomError
from bmes_imaging.geometry import resample_to
from bmes_imaging.phantom import (
    PhantomSpec,
    cohort_specs,
    generate_study,
    load_foot_atlas,
    write_study,
)
from bmes_imaging.volume import load_nifti

# resolution=2.5: matrices ~180x150, a study in well under a second
FAST = 2.5


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    spec = PhantomSpec(seed=11, edema_bones=("talus", "navicular"), edema_extent="mixed",
                       effusion=True, vessel=True, red_marrow=True, motion_mm=1.2,
                       motion_deg=1.5, resolution=FAST)
    a = _files(write_study(spec, tmp_path / "a"))
    b = _files(write_study(spec, tmp_path / "b"))
    assert sorted(a) == sorted(b)
    assert sum(n.startswith("dicom/") for n in a) == 56
    assert {"truth/bones.nii.gz", "truth/edema.nii.gz", "truth/involvement.csv",
            "truth/phantom.json"} <= set(a)
    for name in a:
        assert a[name] == b[name], f"{name} differs between two runs with the same seed"
    c = _files(write_study(PhantomSpec(seed=12, resolution=FAST), tmp_path / "c"))
    assert c["truth/bones.nii.gz"] != a["truth/bones.nii.gz"]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[PhantomSpec, Path]:
    spec = PhantomSpec(seed=5, edema_bones=("talus", "calcaneus"), edema_extent="moderate",
                       resolution=2.0, snr=30.0, bias=0.2, patient_id="5",
                       patient_sex="F", patient_age=27)
    out = write_study(spec, tmp_path_factory.mktemp("study"))
    return spec, out


def _series(out: Path) -> dict[str, object]:
    idx = index_folder(out / "dicom")
    assert not idx.rejected
    return {s.sequence: load_series(s) for s in idx.stacks}


def test_truth_matches_dicom_signal(written: tuple[PhantomSpec, Path]) -> None:
    _, out = written
    series = _series(out)
    t1, stir = series["t1"], series["stir"]
    assert t1.info.laterality == "R" and t1.info.patient_id == "5"
    assert t1.info.study_instance_uid == stir.info.study_instance_uid
    bones = load_nifti(out / "truth" / "bones.nii.gz")
    edema = load_nifti(out / "truth" / "edema.nii.gz")
    assert bones.shape == t1.shape and np.allclose(bones.affine, t1.affine, atol=1e-4)
    bones_s = resample_to(bones, stir.affine, stir.shape, order=0).array
    edema_s = resample_to(edema, stir.affine, stir.shape, order=0).array
    for bone in (Bone.TALUS, Bone.CALCANEUS):
        # eroded in-plane so partial volume at the bone's edge does not decide
        ero = np.stack([ndimage.binary_erosion(sl, iterations=3)
                        for sl in np.moveaxis(bones.array == bone, 2, 0)], axis=2)
        ed = ero & (edema.array == bone)
        normal = ero & (edema.array == 0)
        assert ed.sum() > 100 and normal.sum() > 100
        assert np.median(t1.array[ed]) < 0.8 * np.median(t1.array[normal])
        ero_s = np.stack([ndimage.binary_erosion(sl, iterations=2)
                          for sl in np.moveaxis(bones_s == bone, 2, 0)], axis=2)
        ed_s = ero_s & (edema_s == bone)
        normal_s = ero_s & (edema_s == 0)
        assert np.median(stir.array[ed_s]) > 2.0 * np.median(stir.array[normal_s])
    # every bone mask lands on bright T1 marrow, not on soft tissue
    bright = np.percentile(t1.array, 99)
    for bone in (Bone.TALUS, Bone.NAVICULAR, Bone.CUBOID, Bone.TIBIA):
        inner = ndimage.binary_erosion(bones.array == bone)
        normal = inner & (edema.array == 0)
        assert np.median(t1.array[normal]) > 0.6 * bright, bone.bone_name
    # involvement.csv agrees with the label maps
    rows = (out / "truth" / "involvement.csv").read_text().splitlines()
    assert rows[0] == "bone,bone_label,bone_volume_ml,edema_volume_ml,fraction"
    talus = next(r.split(",") for r in rows[1:] if r.startswith("talus,"))
    ml = bones.voxel_volume_ml
    assert float(talus[2]) == pytest.approx((bones.array == 1).sum() * ml, rel=1e-3)
    assert 0.2 < float(talus[4]) < 0.55
    meta = json.loads((out / "truth" / "phantom.json").read_text())
    assert meta["spec"]["seed"] == 5 and np.allclose(meta["motion"], np.eye(4))


def test_normal_study_has_no_edema() -> None:
    study = generate_study(PhantomSpec(seed=3, normal=True, resolution=4.0, snr=None))
    assert not study.edema.array.any()
    assert all(r["edema_volume_ml"] == 0 for r in study.involvement)
    present = {r["bone"] for r in study.involvement}
    assert {"talus", "calcaneus", "navicular", "cuboid", "tibia"} <= present


def test_extent_controls_fraction() -> None:
    fr = {}
    for extent in ("subchondral", "diffuse"):
        s = generate_study(PhantomSpec(seed=8, edema_extent=extent, resolution=3.0, snr=None))
        fr[extent] = next(r["fraction"] for r in s.involvement if r["bone"] == "talus")
    assert fr["subchondral"] < 0.25
    assert fr["diffuse"] > 0.55


def test_motion_moves_stir_only() -> None:
    s = generate_study(PhantomSpec(seed=4, edema_extent="diffuse", motion_mm=2.0,
                                   motion_deg=2.0, resolution=FAST, snr=None))
    m = s.motion
    assert np.allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-9)
    angle = np.degrees(np.arccos((np.trace(m[:3, :3]) - 1) / 2))
    assert angle == pytest.approx(2.0, abs=1e-6)
    # the truth moved by `motion` lands on the STIR's talus marrow and edema
    from bmes_imaging.volume import Volume

    moved = Volume(s.bones.array, m @ s.bones.affine)
    moved_edema = Volume(s.edema.array, m @ s.edema.affine)
    b = resample_to(moved, s.stir.affine, s.stir.shape, order=0).array
    e = resample_to(moved_edema, s.stir.affine, s.stir.shape, order=0).array
    core = np.stack([ndimage.binary_erosion(sl, iterations=2)
                     for sl in np.moveaxis(b == Bone.TALUS, 2, 0)], axis=2)
    calc = np.stack([ndimage.binary_erosion(sl, iterations=2)
                     for sl in np.moveaxis(b == Bone.CALCANEUS, 2, 0)], axis=2)
    stir = s.stir.array
    assert np.median(stir[core & (e == Bone.TALUS)]) > 3 * np.median(stir[calc])


def test_left_foot_is_mirrored() -> None:
    right, left = load_foot_atlas("R"), load_foot_atlas("L")
    assert np.array_equal(right.array, left.array)
    assert np.allclose(left.affine, np.diag([-1, 1, 1, 1]) @ right.affine)

    def lateral_offset(study_bones):  # fibula x minus tibia x (world, RAS)
        a = study_bones.array
        xs = {}
        for bone in (Bone.TIBIA, Bone.FIBULA):
            ijk = np.argwhere(a == bone)
            xs[bone] = study_bones.world(ijk)[:, 0].mean()
        return xs[Bone.FIBULA] - xs[Bone.TIBIA]

    r = generate_study(PhantomSpec(seed=9, side="R", resolution=4.0, snr=None))
    lft = generate_study(PhantomSpec(seed=9, side="L", resolution=4.0, snr=None))
    assert lateral_offset(r.bones) > 5  # fibula on the patient's right of the tibia
    assert lateral_offset(lft.bones) < -5
    assert lft.t1.info.laterality == "L"


def test_table1_cohort_matches_clinical_table() -> None:
    from bmes_imaging.clinical import read_clinical_table, sample_table_path

    feet = cohort_specs("table1")
    records = read_clinical_table(sample_table_path())
    assert len(feet) == 19 and len(records) == 18
    names = [f for f, _ in feet]
    assert names[:2] == ["p01_L", "p02_R"] and "p11_R" in names and "p11_L" in names
    assert names[-1] == "c01_R" and feet[-1][1].normal
    for (folder, spec), rec in zip(feet[:-1], records, strict=True):  # the last is the control
        assert spec.patient_id == str(rec.patient) == str(int(folder[1:3]))
        assert spec.side == rec.side == folder[-1]
        assert spec.patient_sex == rec.sex and spec.patient_age == rec.age
        assert spec.edema_bones == tuple(Bone(b).bone_name for b in rec.primary_bones)
        assert not spec.normal
    seven = dict(feet)["p07_R"]
    assert set(seven.edema_bones) == {"medial_cuneiform", "intermediate_cuneiform",
                                      "lateral_cuneiform"}
    assert len({s.seed for _, s in feet}) == 19


def test_spec_validation() -> None:
    with pytest.raises(PhantomError, match="side"):
        PhantomSpec(side="X")
    with pytest.raises(PhantomError, match="unknown bone"):
        PhantomSpec(edema_bones=("femur",))
    with pytest.raises(PhantomError, match="edema_extent"):
        PhantomSpec(edema_extent="huge")
    assert PhantomSpec(edema_bones=("Lateral malleolus",)).edema_bones == ("fibula",)


def test_cli_writes_a_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bmes_imaging.cli import main

    rc = main(["phantom", str(tmp_path / "s"), "--seed", "1", "--normal", "--side", "L",
               "--resolution", "4"])
    assert rc == 0 and "wrote phantom study" in capsys.readouterr().out
    assert len(list((tmp_path / "s" / "dicom").glob("*.dcm"))) == 56
    assert main(["phantom", str(tmp_path / "t"), "--edema", "femur"]) == 1


def test_write_cohort_writes_every_foot_and_caches(tmp_path: Path) -> None:
    from bmes_imaging.phantom import write_cohort

    seen: list[str] = []
    folders = write_cohort("table1", tmp_path, resolution=4.0,
                           progress=lambda name, frac: seen.append(name))
    assert [f.name for f in folders][:3] == ["p01_L", "p02_R", "p03_R"]
    assert len(folders) == 19 and len(seen) == 19
    meta = json.loads((tmp_path / "p11_L" / "truth" / "phantom.json").read_text())
    assert meta["spec"]["patient_id"] == "11" and meta["spec"]["side"] == "L"
    rows = (tmp_path / "cohort.csv").read_text().splitlines()
    assert len(rows) == 20 and rows[0].startswith("folder,patient_id,side,sex,age")
    stamp = (tmp_path / "p05_L" / "truth" / "bones.nii.gz").stat().st_mtime_ns
    seen.clear()
    write_cohort("table1", tmp_path, resolution=4.0,
                 progress=lambda name, frac: seen.append(name))
    assert seen == []  # nothing regenerated: the folder is a cache
    assert (tmp_path / "p05_L" / "truth" / "bones.nii.gz").stat().st_mtime_ns == stamp
    with pytest.raises(PhantomError, match="unknown cohort"):
        write_cohort("table2", tmp_path)


def test_optional_axial_series_leaves_the_others_unchanged(tmp_path: Path) -> None:
    from bmes_imaging.dicom import pair_series

    base = PhantomSpec(seed=21, resolution=4.0)
    plain = generate_study(base)
    spec = PhantomSpec(seed=21, resolution=4.0, axial=True)
    study = generate_study(spec)
    assert np.array_equal(plain.t1.array, study.t1.array)
    assert np.array_equal(plain.stir.array, study.stir.array)
    ax = study.extra_series["axial_stir"]
    assert ax.info.plane == "axial" and ax.info.sequence == "stir"
    write_study(study, tmp_path)
    idx = index_folder(tmp_path / "dicom")
    assert sorted(s.plane for s in idx.stacks) == ["axial", "sagittal", "sagittal"]
    pairs = pair_series(idx).pairs
    assert len(pairs) == 1 and pairs[0].fluid.plane == "sagittal"


def test_atlas_has_every_bone_with_plausible_volume() -> None:
    atlas_r = load_foot_atlas()
    ml = atlas_r.voxel_volume_ml
    counts = np.bincount(atlas_r.array.reshape(-1), minlength=16)
    volumes = {Bone(label): counts[label] * ml for label in range(1, 15)}
    assert all(v > 2.0 for v in volumes.values()), volumes
    assert 28 < volumes[Bone.TALUS] < 40 and 60 < volumes[Bone.CALCANEUS] < 80
    assert volumes[Bone.FIRST_METATARSAL] > volumes[Bone.FIFTH_METATARSAL]
    assert counts[15:].sum() == 0  # toes and soft tissue are not labelled
    with pytest.raises(PhantomError):
        load_foot_atlas("X")


def test_template_matches_atlas_labels() -> None:
    from bmes_imaging.phantom import load_foot_template

    t1 = load_foot_template("R", "t1")
    stir = load_foot_template("R", "stir")
    labels = load_foot_atlas("R").array[::2, ::2, ::2]
    assert t1.shape == labels.shape and np.allclose(t1.affine, stir.affine)
    marrow = ndimage.binary_erosion(labels == Bone.CALCANEUS, iterations=2)
    assert np.median(t1.array[marrow]) > 8 * np.median(stir.array[marrow])  # fatty marrow
    assert np.median(t1.array[marrow]) > 700


@pytest.mark.parametrize("fluid", ["t2_fs", "pd_fs"])
def test_fat_suppressed_fluid_series(tmp_path: Path, fluid: str) -> None:
    spec = PhantomSpec(seed=6, fluid=fluid, edema_extent="diffuse", resolution=3.0,
                       snr=None)
    study = write_study(spec, tmp_path)
    series = _series(study)
    assert set(series) == {"t1", fluid}
    fl = series[fluid]
    bones = load_nifti(tmp_path / "truth" / "bones.nii.gz")
    edema = load_nifti(tmp_path / "truth" / "edema.nii.gz")
    b = resample_to(bones, fl.affine, fl.shape, order=0).array
    e = resample_to(edema, fl.affine, fl.shape, order=0).array
    ed = ndimage.binary_erosion(e == Bone.TALUS)
    calc = ndimage.binary_erosion(b == Bone.CALCANEUS)
    assert np.median(fl.array[ed]) > 2.5 * np.median(fl.array[calc])

"""The npe2 manifest, plugin discovery, the reader's path handling and the writer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.volume import load_nifti
from bmes_imaging_napari._reader import get_reader
from bmes_imaging_napari._study import load_study
from bmes_imaging_napari._writer import write_labels


def test_npe2_validate_passes() -> None:
    npe2 = shutil.which("npe2") or str(Path(__file__).parents[2] / ".venv" / "bin" / "npe2")
    out = subprocess.run([npe2, "validate", "bmes-imaging", "--imports"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout


def test_plugin_is_discovered_by_npe2() -> None:
    from npe2 import PluginManager

    pm = PluginManager()
    pm.discover()
    manifest = pm.get_manifest("bmes-imaging")
    contributions = manifest.contributions
    assert {w.display_name for w in contributions.widgets or []} >= {
        "Review", "Clinical record", "Study queue"}
    assert [s.key for s in contributions.sample_data or []] == ["phantom_study"]
    assert contributions.readers and contributions.readers[0].accepts_directories
    assert contributions.writers and "labels" in contributions.writers[0].layer_types


def test_reader_is_offered_only_what_it_reads(tmp_path: Path) -> None:
    """napari asks this plugin for folders, NIfTI and .dcm files, not for every file."""
    from npe2 import PluginManager

    pm = PluginManager()
    pm.discover()
    offered = {str(r.plugin_name) for r in pm.iter_compatible_readers([str(tmp_path / "a.txt")])}
    assert "bmes-imaging" not in offered
    for name in ("t1.nii.gz", "t1.nii", "IM0001.dcm"):
        offered = {str(r.plugin_name) for r in pm.iter_compatible_readers([str(tmp_path / name)])}
        assert "bmes-imaging" in offered, name
    (tmp_path / "study").mkdir()
    offered = {str(r.plugin_name) for r in pm.iter_compatible_readers([str(tmp_path / "study")])}
    assert "bmes-imaging" in offered


@pytest.mark.parametrize("kind", ["text", "empty_dir", "missing", "two_paths", "png"])
def test_reader_returns_none_for_paths_it_does_not_handle(tmp_path: Path, kind: str) -> None:
    if kind == "text":
        p: object = tmp_path / "notes.txt"
        (tmp_path / "notes.txt").write_text("hello")
    elif kind == "empty_dir":
        p = tmp_path
    elif kind == "missing":
        p = str(tmp_path / "nope.nii.gz")
    elif kind == "png":
        p = tmp_path / "x.png"
        (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    else:
        (tmp_path / "a.nii").write_bytes(b"")
        p = [str(tmp_path / "a.nii"), str(tmp_path / "b.nii")]
    assert get_reader(p) is None  # type: ignore[arg-type]


def test_reader_opens_nifti_file_in_world(synthetic_study, tmp_path: Path) -> None:
    path = tmp_path / "t1.nii.gz"
    synthetic_study.t1.to_nifti(path)
    reader = get_reader(str(path))
    assert reader is not None
    [(data, params, kind)] = reader(str(path))
    assert kind == "image"
    order = params["metadata"]["bmes_imaging"]["order"]
    np.testing.assert_allclose(data, synthetic_study.t1.array.transpose(order))
    np.testing.assert_allclose(params["affine"], synthetic_study.t1.affine[:, [*order, 3]])
    lo, hi = params["contrast_limits"]
    assert 0 < lo < hi


def test_reader_opens_label_nifti_as_labels(synthetic_study, tmp_path: Path) -> None:
    path = tmp_path / "bones.nii.gz"
    synthetic_study.bones.to_nifti(path)
    [(data, params, kind)] = get_reader(path)(path)  # type: ignore[misc]
    assert kind == "labels"
    assert data.dtype == np.uint8
    assert params["features"]["bone"][1] == "Talus"


def test_reader_opens_nifti_study_folder(nifti_study_dir: Path, synthetic_study) -> None:
    reader = get_reader(str(nifti_study_dir))
    assert reader is not None
    layers = reader(str(nifti_study_dir))
    assert [p["name"] for _, p, _ in layers] == ["T1", "STIR", "No STIR data"]
    assert [p["metadata"]["bmes_imaging"]["role"] for _, p, _ in layers] == [
        "t1", "fluid", "fluid_fov"]
    keys = {p["metadata"]["bmes_imaging"]["study_key"] for _, p, _ in layers}
    assert len(keys) == 1 and keys == {load_study(nifti_study_dir).key}


def test_writer_round_trips_labels_voxel_exact(synthetic_study, tmp_path: Path) -> None:
    from bmes_imaging_napari._layers import labels_layer_data

    data, params, _ = labels_layer_data(synthetic_study.edema, role="edema")
    out = tmp_path / "edema.nii.gz"
    assert write_labels(str(out), data, params) == [str(out)]
    back = load_nifti(out)
    np.testing.assert_array_equal(back.array, synthetic_study.edema.array)
    np.testing.assert_allclose(back.affine, synthetic_study.edema.affine, atol=1e-5)


def test_writer_refuses_non_nifti_names(synthetic_study, tmp_path: Path) -> None:
    from bmes_imaging.errors import NiftiError

    with pytest.raises(NiftiError, match=r"nii\.gz"):
        write_labels(str(tmp_path / "edema.tif"), synthetic_study.edema.array, {})


def test_sample_spec_matches_the_committed_sample() -> None:
    import json

    from bmes_imaging_napari._sample_data import sample_spec

    committed = Path(__file__).parents[2] / "sample_data" / "study_p02_R" / "truth"
    if not (committed / "phantom.json").is_file():
        pytest.skip("no committed sample study in this checkout")
    spec = json.loads((committed / "phantom.json").read_text())["spec"]
    assert sample_spec().to_dict() == spec


SAMPLE = Path(__file__).parents[2] / "sample_data" / "study_p02_R"


@pytest.mark.skipif(not (SAMPLE / "dicom").is_dir(), reason="no committed sample study")
def test_reader_opens_a_dicom_study_folder_as_t1_and_stir() -> None:
    reader = get_reader(str(SAMPLE))
    assert reader is not None
    layers = reader(str(SAMPLE))
    assert [p["name"] for _, p, _ in layers] == ["T1", "STIR", "No STIR data"]
    infos = [p["metadata"]["bmes_imaging"]["info"] for _, p, _ in layers[:2]]
    assert [i.sequence for i in infos] == ["t1", "stir"]
    assert len({i.study_instance_uid for i in infos}) == 1


def test_reader_opens_a_dicom_series_folder_alone(synthetic_study, tmp_path: Path) -> None:
    from bmes_imaging.dicom import write_series

    folder = tmp_path / "T1_SAG"
    write_series(synthetic_study.t1, folder, patient_id="2", series_description="T1 SAG",
                 uid_seed="napari-reader-test",
                 attributes={"ScanningSequence": "SE", "RepetitionTime": 500.0,
                             "EchoTime": 12.0})
    reader = get_reader(str(folder))
    assert reader is not None
    [(data, params, kind)] = reader(str(folder))
    assert kind == "image"
    meta = params["metadata"]["bmes_imaging"]
    np.testing.assert_allclose(meta["affine"], synthetic_study.t1.affine, atol=1e-3)
    order = meta["order"]
    back = np.asarray(data).transpose(np.argsort(order))
    np.testing.assert_allclose(back, synthetic_study.t1.array, atol=0.6)

"""``bmes convert``: DICOM series to NIfTI through the command line."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from bmes_imaging.cli import main
from bmes_imaging.dicom import index_folder, write_series
from bmes_imaging.dicom._load import read_stack


def test_convert_folder_file_and_files(tmp_path, volume_factory, capsys):
    vol = volume_factory("coronal", shape=(10, 9, 6), seed=5)
    files = write_series(vol, tmp_path / "dicom", patient_id="PID-XYZ-77",
                         patient_name="Doe^Jane", uid_seed="cli",
                         shuffle_seed=4, series_description="PD FS COR")
    out = tmp_path / "out" / "series.nii.gz"
    assert main(["convert", str(tmp_path / "dicom"), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "10 x 9 x 6" in printed
    assert "PID-XYZ-77" not in printed and "Doe" not in printed
    img = nib.load(out)
    loaded = read_stack(files)
    np.testing.assert_allclose(img.affine, loaded.affine, atol=1e-5)
    np.testing.assert_allclose(img.get_fdata(), loaded.array, rtol=1e-6)
    assert main(["convert", str(files[0]), str(tmp_path / "one.nii")]) == 0
    assert nib.load(tmp_path / "one.nii").shape[:3] == (10, 9, 1)
    assert main(["convert", *map(str, files[:3]), str(tmp_path / "three.nii")]) == 0


def test_convert_refuses_two_stacks_unless_one_is_chosen(tmp_path, volume_factory, capsys):
    folder = tmp_path / "dicom"
    write_series(volume_factory("axial", shape=(8, 8, 3)), folder, patient_id="1",
                 uid_seed="a", series_number=1, filename_pattern="a{index}.dcm")
    write_series(volume_factory("sagittal", shape=(8, 8, 4)), folder, patient_id="1",
                 uid_seed="a", series_number=2, filename_pattern="b{index}.dcm")
    out = tmp_path / "x.nii.gz"
    assert main(["convert", str(folder), str(out)]) == 1
    assert "2 image stacks" in capsys.readouterr().err and not out.exists()
    stack = next(s for s in index_folder(folder).stacks if s.n_images == 4)
    assert main(["convert", str(folder), str(out), "--stack", stack.stack_id]) == 0
    assert nib.load(out).shape[:3] == (8, 8, 4)
    assert main(["convert", str(folder), str(tmp_path / "bad.txt")]) == 1

"""``bmes screen --db``: the screening's candidates become unreviewed detector findings
with their edema label map, which the napari review opens; files written as before."""

from __future__ import annotations

import contextlib
import csv
import io
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bmes_imaging.cli import main
from bmes_imaging.errors import StoreError
from bmes_imaging.store import DETECTOR_SOURCE, open_store, save_screen_candidates


@pytest.mark.slow
def test_screen_db_stores_candidates_a_reader_opens(tmp_path: Path) -> None:
    from bmes_imaging.phantom import PhantomSpec, write_study

    root = tmp_path / "archive"
    write_study(PhantomSpec(seed=41, side="R", edema_bones=("talus",), resolution=4.0,
                            patient_id="1"), root / "p01")
    out, db = tmp_path / "out", str(tmp_path / "bmes.sqlite")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(["screen", str(root), "--out", str(out), "--workers", "1",
                       "--no-progress", "--db", db])
    assert status == 0
    assert "1 studies' candidates stored" in stdout.getvalue()
    # the screen's own files are unchanged in kind
    for name in ("studies.csv", "involvement.csv", "rejected_files.csv"):
        assert (out / name).is_file()
    with (out / "studies.csv").open(newline="", encoding="utf-8") as fh:
        [row] = [r for r in csv.DictReader(fh) if r["status"] == "done"]
    with (out / "involvement.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    edema_file = out / "studies" / row["study_key"] / "edema.nii.gz"
    with open_store(db) as store:
        # what the napari review's load_candidates() asks for
        loaded = store.latest_annotation(row["study_instance_uid"], reader=DETECTOR_SOURCE)
        assert loaded is not None and loaded.labels is not None
        np.testing.assert_array_equal(loaded.labels.array,
                                      np.asanyarray(nib.load(edema_file).dataobj))
        assert {f.status for f in loaded.findings} == {"candidate"}
        assert {f.bone.bone_name: f.grade for f in loaded.findings} == {
            r["bone"]: int(r["grade"]) for r in rows}
        # each bone's mask quality as involvement.csv has it (empty cell: unknown, NaN)
        quality = {f.bone.bone_name: f.bone_mask_quality for f in loaded.findings}
        for r in rows:
            cell = r["bone_mask_quality"]
            if cell:
                assert quality[r["bone"]] == float(cell), r["bone"]
            else:
                assert math.isnan(quality[r["bone"]]), r["bone"]
        assert any(r["bone_mask_quality"] for r in rows)  # automatic masks: measured
        assert store.study_links() == {row["study_instance_uid"]: None}
        # the same run again adds nothing (same input fingerprint)
        assert save_screen_candidates(store, out) == []
        assert len(store.annotations(row["study_instance_uid"])) == 1


def test_not_a_screening_folder_is_one_clear_error(tmp_path: Path) -> None:
    with open_store(tmp_path / "bmes.sqlite") as store, \
            pytest.raises(StoreError, match=r"studies\.csv is missing"):
        save_screen_candidates(store, tmp_path / "nothing")


def test_a_hostile_cell_is_one_clear_error_naming_file_row_and_column(tmp_path: Path
                                                                       ) -> None:
    out = tmp_path / "out"
    study = out / "studies" / "k1"
    study.mkdir(parents=True)
    (out / "studies.csv").write_text(
        "study_key,study_instance_uid,status,side\nk1,1.2.3,done,R\n", encoding="utf-8")
    (study / "involvement.csv").write_text(
        "bone,bone_volume_ml,edema_volume_ml,fraction,grade,bone_mask_quality\n"
        "talus,40,1,0.025,1,0.8\n"
        'calcaneus,80,0,0,0,"=HYPERLINK(""http://x"")\x07"\n', encoding="utf-8")
    with open_store(tmp_path / "bmes.sqlite") as store:
        with pytest.raises(StoreError) as err:
            save_screen_candidates(store, out)
        assert store.annotations("1.2.3") == []  # nothing half-written
    text = str(err.value)
    assert "involvement.csv row 3" in text and "bone_mask_quality" in text
    assert "\x07" not in text  # the control character is escaped (repr)

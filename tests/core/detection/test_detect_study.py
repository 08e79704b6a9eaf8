"""``bmes detect`` and ``bmes evaluate`` end to end on a DICOM study folder with junk."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.cli import main
from bmes_imaging.detection import INVOLVEMENT_COLUMNS, detect_study, evaluate
from bmes_imaging.dicom import write_series
from bmes_imaging.errors import DetectionError
from bmes_imaging.volume import load_nifti

STUDY_UID = "1.2.826.0.1.3680043.8.498.101"
FRAME_UID = "1.2.826.0.1.3680043.8.498.102"


@pytest.fixture(scope="module")
def study_folder(synth, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic_study")
    foot = synth.Foot(edema={int(Bone.TALUS): ((0.0, -5.0, 15.0), 9.0)}, effusion=True)
    t1, st, bones, edema = synth.make_study(foot, seed=11)
    common = {"patient_id": "7", "study_instance_uid": STUDY_UID,
                  "frame_of_reference_uid": FRAME_UID}
    write_series(t1, root / "dicom" / "T1", series_number=2, series_description="t1_tse_sag",
                 attributes={"RepetitionTime": 600, "EchoTime": 12, "ScanningSequence": "SE",
                                 "Laterality": "R"}, shuffle_seed=1, **common)
    write_series(st, root / "dicom" / "STIR", series_number=3,
                 series_description="t2_tirm_sag",
                 attributes={"RepetitionTime": 4000, "EchoTime": 40, "InversionTime": 150,
                                 "ScanningSequence": ["SE", "IR"], "Laterality": "R"},
                 shuffle_seed=2, **common)
    (root / "dicom" / "notes.txt").write_text("not an image")
    (root / "dicom" / "T1" / "DICOMDIR.bak").write_bytes(b"\x00" * 300)
    (root / "dicom" / ".DS_Store").write_bytes(b"junk")
    bones.to_nifti(root / "truth" / "bones.nii.gz")
    edema.to_nifti(root / "truth" / "edema.nii.gz")
    return root


def test_bmes_detect_end_to_end(study_folder, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(["detect", str(study_folder / "dicom"), "--out", str(out),
               "--bones", str(study_folder / "truth" / "bones.nii.gz")])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "talus" in printed
    for name in ("involvement.csv", "edema.nii.gz", "bones.nii.gz", "overlay.png"):
        assert (out / name).is_file(), name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries
    with open(out / "involvement.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == INVOLVEMENT_COLUMNS
    assert {r["study_instance_uid"] for r in rows} == {STUDY_UID}
    assert {r["side"] for r in rows} == {"R"} and {r["patient_id"] for r in rows} == {"7"}
    pos = [r["bone"] for r in rows if int(r["grade"]) > 0]
    assert pos == ["talus"]
    assert all(r["status"] == "candidate" for r in rows)
    edema = load_nifti(out / "edema.nii.gz")
    assert set(np.unique(edema.array)) == {0, int(Bone.TALUS)}
    assert (out / "overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # evaluate against the truth: one study, then the folder-of-studies form
    rc = main(["evaluate", "--truth", str(study_folder), "--pred", str(out),
               "--csv", str(tmp_path / "scores.csv")])
    table = capsys.readouterr().out
    assert rc == 0 and "sensitivity 1.000, specificity 1.000" in table
    ev = evaluate(study_folder, out)
    assert ev.dice > 0.85
    (tmp_path / "truths").mkdir()
    (tmp_path / "truths" / "s1").symlink_to(study_folder)
    (tmp_path / "preds").mkdir()
    (tmp_path / "preds" / "s1").symlink_to(out)
    ev2 = evaluate(tmp_path / "truths", tmp_path / "preds")
    assert [s.name for s in ev2.studies] == ["s1"] and ev2.dice == pytest.approx(ev.dice)


def test_detect_study_without_pair_says_why(study_folder, tmp_path) -> None:
    with pytest.raises(DetectionError, match="no T1 and fluid"):
        detect_study(study_folder / "dicom" / "T1", tmp_path / "o",
                     bones_path=study_folder / "truth" / "bones.nii.gz")
    assert main(["detect", str(study_folder / "dicom" / "T1"), "--out",
                 str(tmp_path / "o2")]) == 1

"""``bmes index``: table, pairs, rejected files, CSV, identifiers only on request."""

from __future__ import annotations

import csv
import subprocess
import sys

from bmes_imaging.cli import main

T1 = {"ScanningSequence": "SE", "RepetitionTime": 600, "EchoTime": 12, "Laterality": "L"}
STIR = {"ScanningSequence": "IR", "RepetitionTime": 4000, "EchoTime": 40,
        "InversionTime": 160, "Laterality": "L"}


def _tree(tmp_path, make_series):
    who = {"patient_id": "PID-4711", "patient_name": "Secret^Person",
               "study": "1.2.826.0.1.3680043.8.498.5"}
    make_series(tmp_path / "d", description="t1_tse_sag", number=2, n=4, attributes=T1,
                **who)
    make_series(tmp_path / "d", description="t2_tirm_sag", number=3, n=4, attributes=STIR,
                **who)
    (tmp_path / "d" / "readme.txt").write_text("hello")
    return tmp_path / "d"


def test_table_hides_identifiers_by_default(tmp_path, make_series, capsys):
    root = _tree(tmp_path, make_series)
    assert main(["index", str(root)]) == 0
    out = capsys.readouterr().out
    assert "PID-4711" not in out and "Secret" not in out
    assert "t1_tse_sag" in out and "t2_tirm_sag" in out
    assert "stir" in out and "sagittal" in out
    assert "T1 series 2 + stir series 3" in out
    assert "readme.txt: not DICOM" in out
    assert "9 files, 2 stacks, 1 files not used" in out


def test_identifiers_and_csv_on_request(tmp_path, make_series, capsys):
    root = _tree(tmp_path, make_series)
    out_csv = tmp_path / "out" / "index.csv"
    assert main(["index", str(root), "--csv", str(out_csv), "--show-identifiers"]) == 0
    out = capsys.readouterr().out
    assert "PID-4711" in out and "Secret^Person" in out
    with out_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    stacks = [r for r in rows if r["kind"] == "stack"]
    rejected = [r for r in rows if r["kind"] == "rejected"]
    assert [r["sequence"] for r in stacks] == ["t1", "stir"]
    assert {r["side"] for r in stacks} == {"L"}
    assert stacks[0]["patient_id"] == "PID-4711"
    assert [r["path"] for r in rejected] == ["readme.txt"]
    assert not list(out_csv.parent.glob(".*tmp"))  # atomic write left no temp file


def test_csv_without_identifiers(tmp_path, make_series, capsys):
    root = _tree(tmp_path, make_series)
    out_csv = tmp_path / "index.csv"
    assert main(["index", str(root), "--csv", str(out_csv)]) == 0
    text = out_csv.read_text(encoding="utf-8")
    assert "PID-4711" not in text and "Secret" not in text


def test_missing_folder_exits_1(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bmes_imaging", "index",
                           str(tmp_path / "nope")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 1
    assert "no such file or folder" in proc.stderr


def test_many_unused_files_are_grouped_by_reason(tmp_path, make_series, capsys):
    root = _tree(tmp_path, make_series)
    for i in range(45):
        (root / f"viewer_{i:02d}.dll").write_bytes(b"MZ" + bytes(300))
    assert main(["index", str(root)]) == 0
    out = capsys.readouterr().out
    assert "46  not DICOM" in out and "viewer_00.dll" in out and "viewer_44.dll" not in out
    assert main(["index", str(root), "--all-files"]) == 0
    assert "viewer_44.dll: not DICOM" in capsys.readouterr().out

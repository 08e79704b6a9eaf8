"""bmes screen on an archive mixed with junk: the run finishes, every study accounted for."""

from __future__ import annotations

import csv
from pathlib import Path

from bmes_imaging.cli import main
from bmes_imaging.screening import load_only, screen

from .conftest import NAMES


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_junk_archive_every_study_has_result_or_reason(junk_archive: dict, tmp_path: Path,
                                                       capsys) -> None:
    out = tmp_path / "out"
    status = main(["screen", str(junk_archive["root"]), "--out", str(out), "--workers", "2",
                   "--check-only"])
    assert status == 0
    studies = {r["study_instance_uid"]: r for r in _rows(out / "studies.csv")}
    for uid in junk_archive["good"]:
        assert studies[uid]["status"] == "done", studies[uid]
        marker = out / "studies" / studies[uid]["study_key"] / "screen_done.json"
        assert marker.exists()
    assert studies[junk_archive["nostir"]]["status"] == "failed"
    assert "fluid" in studies[junk_archive["nostir"]]["reason"]
    trunc = studies[junk_archive["truncated"]]
    assert trunc["status"] == "failed" and trunc["reason"]
    assert all(r["reason"] for r in studies.values() if r["status"] == "failed")
    rejected = _rows(out / "rejected_files.csv")
    assert {Path(r["path"]).name for r in rejected} >= {"notes.txt", "broken.dcm",
                                                       "DICOMDIR.bak"}
    log = (out / "screen.log").read_text(encoding="utf-8")
    assert "failed" in log
    for name in NAMES:
        for part in name.split("^"):
            assert part not in log
    for uid in studies:
        assert uid not in log  # only hashed study keys
    captured = capsys.readouterr()
    assert "4 studies done, 2 failed" in captured.out
    assert "5/5 studies (4 done, 1 failed, 0 remaining)" in captured.err  # progress line


def test_nothing_processable_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    (root / "readme.txt").write_text("no images here")
    assert main(["screen", str(root), "--out", str(tmp_path / "o"), "--workers", "1"]) == 1
    assert main(["screen", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2


def test_second_run_skips_unchanged_and_redoes_changed(junk_archive: dict,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = screen(junk_archive["root"], out, workers=1, study_function=load_only,
                   progress=False)
    assert first.n_done == 4 and first.n_resumed == 0
    again = screen(junk_archive["root"], out, workers=1, study_function=load_only,
                   progress=False)
    assert again.n_submitted == 0 and again.n_resumed == first.n_done + 1  # + truncated
    # touching one file of a good study changes its fingerprint: only it is redone
    victim = next((junk_archive["root"] / "good2").glob("ST*.dcm"))
    victim.write_bytes(victim.read_bytes())
    third = screen(junk_archive["root"], out, workers=1, study_function=load_only,
                   progress=False)
    assert third.n_submitted == 1
    redone = [o for o in third.outcomes if not o.from_earlier_run]
    assert len(redone) == 1 and redone[0].status == "done"

"""bmes screen on an archive mixed with junk: the run finishes, every study accounted for."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bmes_imaging.cli import main
from bmes_imaging.screening import load_only, screen

from .conftest import NAMES


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_junk_archive_every_study_has_result_or_reason(phantom_archive: dict,
                                                       phantom_local_run: dict) -> None:
    out = phantom_local_run["out"]
    assert phantom_local_run["status"] == 0
    studies = {(r["patient_id"], r["side"]): r for r in _rows(out / "studies.csv")}
    involvement = _rows(out / "involvement.csv")
    for pid, (side, bone) in phantom_archive["good"].items():
        row = studies[(pid, side)]
        assert row["status"] == "done", row
        folder = out / "studies" / row["study_key"]
        for name in ("screen_done.json", "involvement.csv", "edema.nii.gz", "bones.nii.gz"):
            assert (folder / name).exists(), name
        rows = [r for r in involvement if r["study_instance_uid"] == row["study_instance_uid"]]
        assert rows and all(r["status"] == "candidate" for r in rows)
        assert bone in row["bones_with_edema"].split("+")
    by_uid = {r["study_instance_uid"]: r for r in studies.values()}
    nostir = by_uid[phantom_archive["nostir_uid"]]
    assert nostir["status"] == "failed" and "fluid" in nostir["reason"]
    trunc = by_uid[phantom_archive["truncated_uid"]]
    assert trunc["status"] == "failed" and trunc["reason"]
    assert len(studies) == 4 and all(r["reason"] for r in studies.values()
                                     if r["status"] == "failed")
    rejected = {Path(r["path"]).name for r in _rows(out / "rejected_files.csv")}
    assert {"README.txt", "garbage.dcm"} <= rejected
    log = (out / "screen.log").read_text(encoding="utf-8")
    assert "failed" in log and "done in" in log
    for name in NAMES:
        for part in name.split("^"):
            assert part not in log
    for uid in by_uid:
        assert uid not in log  # only hashed study keys
    assert "2 studies done, 2 failed" in phantom_local_run["stdout"]
    # the truncated study's T1 is refused at index time (its pixel data is cut short), so
    # it fails in planning with its reason and the run's progress counts the 2 others
    assert "(2 done, 0 failed, 0 remaining)" in phantom_local_run["stderr"]  # progress


def test_check_only_archive_with_junk(junk_archive: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["screen", str(junk_archive["root"]), "--out", str(out), "--workers", "2",
                 "--check-only", "--no-progress"]) == 0
    studies = {r["study_instance_uid"]: r for r in _rows(out / "studies.csv")}
    assert all(studies[u]["status"] == "done" for u in junk_archive["good"])
    assert studies[junk_archive["nostir"]]["status"] == "failed"
    assert studies[junk_archive["truncated"]]["status"] == "failed"
    rejected = {Path(r["path"]).name for r in _rows(out / "rejected_files.csv")}
    assert {"notes.txt", "broken.dcm", "DICOMDIR.bak"} <= rejected


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
    # the truncated study is refused when planning (index time), never a task to resume
    assert again.n_submitted == 0 and again.n_resumed == first.n_done
    # touching one file of a good study changes its fingerprint: only it is redone
    victim = next((junk_archive["root"] / "good2").glob("ST*.dcm"))
    victim.write_bytes(victim.read_bytes())
    third = screen(junk_archive["root"], out, workers=1, study_function=load_only,
                   progress=False)
    assert third.n_submitted == 1
    redone = [o for o in third.outcomes if not o.from_earlier_run]
    assert len(redone) == 1 and redone[0].status == "done"


def test_screen_leaves_the_callers_logger_settings(junk_archive: dict, tmp_path: Path) -> None:
    """screen() attaches its run log for the run only: a caller's level is kept."""
    import logging

    logger = logging.getLogger("bmes_imaging.screening")
    before = (logger.level, logger.propagate, list(logger.handlers))
    logger.setLevel(logging.ERROR)
    try:
        result = screen(junk_archive["root"], tmp_path / "out", inline=True,
                        study_function=load_only, progress=False)
        assert result.n_done == 4
        assert logger.level == logging.ERROR and logger.propagate is True
        assert logger.handlers == before[2]
        # the run log still got the INFO lines although the caller asked for ERROR
        assert "done in" in (tmp_path / "out" / "screen.log").read_text(encoding="utf-8")
    finally:
        logger.setLevel(before[0])


def test_without_dask_the_studies_run_in_this_process(junk_archive: dict,
                                                      tmp_path: Path) -> None:
    """Dask is an optional extra: without it the screen still runs (one study at a time)."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['distributed'] = None  # as if Dask were not installed\n"
        "from bmes_imaging.screening import load_only, screen\n"
        f"r = screen({str(junk_archive['root'])!r}, {str(tmp_path / 'out')!r}, "
        "study_function=load_only, progress=False)\n"
        "print('done', r.n_done, 'workers', r.workers)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert "done 4 workers 0" in run.stdout
    log = (tmp_path / "out" / "screen.log").read_text(encoding="utf-8")
    assert "Dask is not installed" in log and "bmes-imaging[dask]" in log
    script_with_scheduler = script.replace("progress=False", "progress=False, "
                                           "scheduler='tcp://127.0.0.1:1'")
    run = subprocess.run([sys.executable, "-c", script_with_scheduler], capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode != 0 and "Dask is not installed" in run.stderr

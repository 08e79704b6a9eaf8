"""The README's main command, ``bmes demo OUT``, end to end (a few minutes)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_bmes_demo_runs_the_whole_workflow(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "bmes_imaging", "demo", str(out)],
                         check=False, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-2000:]

    studies = _rows(out / "screen" / "studies.csv")
    assert len(studies) == 37  # 18 feet of Table 1 + 1 normal control + 18 follow-ups
    assert {s["status"] for s in studies} == {"done"}

    feet = _rows(out / "involvement_by_foot_candidates.csv")
    assert len(feet) == 18
    assert {f["findings"] for f in feet} <= {"candidate", "none"}
    # the detector finds the recorded primary bone of every talus foot of the table
    talus_feet = [f for f in feet if f["clinical_primary_bones"] == "talus"]
    assert len(talus_feet) == 10
    assert all("talus" in (f["primary_bone"], *f["other_bones"].split("+"))
               for f in talus_feet)

    report = (out / "report" / "report.md").read_text()
    assert "| Sex, M / F | 10 / 7 |" in report
    assert "PHANTOM DATA" in report and "## Data provenance" in report
    assert "## Imaging summary (candidate findings)" in report
    assert "## Follow-up per foot" in report and "## Follow-up per bone and date" in report
    assert "![followup_timelines](plots/followup_timelines.png)" in report
    assert (out / "report" / "report.html").stat().st_size > 0
    # the CLI's counts are the report's
    n_dis = report.split("## Disagreements with the stated figures (")[1].split(")")[0]
    n_rnd = report.split("## Rounding differences (")[1].split(")")[0]
    assert (f"{n_dis} stated figure(s) disagree with the records, {n_rnd} differ by "
            "rounding only") in run.stdout
    # follow-up: a second time point per foot, the migratory foot gains navicular edema
    from bmes_imaging.export import Pseudonymizer

    long = _rows(out / "followup" / "followup_long.csv")
    assert {(r["patient"], r["side"]) for r in long if r["timepoint"] == "1"} == {
        (r["patient"], r["side"]) for r in long if r["timepoint"] == "0"}
    assert len({(r["patient"], r["side"]) for r in long}) == 18
    p3 = Pseudonymizer((out / "pseudonym.key").read_bytes()).patient("3")
    nav = [r for r in long if r["patient"] == p3 and r["bone"] == "navicular"
           and r["timepoint"] == "1"]
    assert nav and nav[0]["course"] == "new"
    assert (out / "followup" / "plots" / "followup_timelines.png").is_file()
    assert "stated 9 vs recomputed 10 [disagrees]: Male patients" in run.stdout
    assert "stated 9 vs recomputed >= 10 [disagrees]: Feet with edema in talus" in run.stdout
    assert (out / "involvement_by_foot_candidates.xlsx").stat().st_size > 0

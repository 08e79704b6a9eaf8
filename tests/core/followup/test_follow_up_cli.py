"""bmes follow-up end to end on a phantom foot and its follow-up, figures against the truth."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bmes_imaging.cli import main
from bmes_imaging.export import LONG_COLUMNS, wide_columns
from bmes_imaging.phantom import cohort_specs, follow_up_specs, write_study
from bmes_imaging.screening._plan import study_key

ROOT = Path(__file__).resolve().parents[3]
TABLE = ROOT / "sample_data" / "table1_clinical.csv"
COLS = ["study_instance_uid", "patient_id", "side", "bone", "bone_label", "bone_volume_ml",
        "edema_volume_ml", "fraction", "grade", "status"]


def _grade(fraction: float) -> int:
    return 0 if fraction <= 0 else 1 if fraction < 0.25 else 2 if fraction <= 0.5 else 3


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:  # type: ignore[type-arg]
    """The migratory foot p03_R and its follow-up, 'screened' with their ground truth
    as candidate findings (the screening layout: involvement.csv, studies/<key>/)."""
    tmp = tmp_path_factory.mktemp("fu_cli")
    images, screen = tmp / "images", tmp / "screen"
    base_spec = dataclasses.replace(dict(cohort_specs("table1"))["p03_R"], resolution=4.0)
    fu = {f: x for f, _, _, x in follow_up_specs("table1")}["p03_R_fu1"]
    write_study(base_spec, images / "p03_R")
    write_study(base_spec, images / "p03_R_fu1", follow_up=fu)
    rows, truth = [], {}
    for folder in ("p03_R", "p03_R_fu1"):
        meta = json.loads((images / folder / "truth" / "phantom.json").read_text())
        uid = meta["study_instance_uid"]
        with (images / folder / "truth" / "involvement.csv").open(newline="") as fh:
            inv = list(csv.DictReader(fh))
        truth[folder] = {r["bone"]: float(r["edema_volume_ml"]) for r in inv}
        rows += [[uid, "3", "R", r["bone"], r["bone_label"], r["bone_volume_ml"],
                  r["edema_volume_ml"], r["fraction"], _grade(float(r["fraction"])),
                  "candidate"] for r in inv]
        dest = screen / "studies" / study_key(uid, "R")
        dest.mkdir(parents=True)
        for name in ("bones.nii.gz", "edema.nii.gz"):
            shutil.copy(images / folder / "truth" / name, dest / name)
    with (screen / "involvement.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([COLS, *rows])
    return images, screen, truth


@pytest.mark.slow
def test_follow_up_cli_figures_equal_the_truth(tmp_path: Path, screened: tuple,  # type: ignore[type-arg]
                                               capsys: pytest.CaptureFixture[str]) -> None:
    images, screen, truth = screened
    out = tmp_path / "fu"
    assert main(["follow-up", "3", "--screen", str(screen), "--images", str(images),
                 "--clinical", str(TABLE), "--no-deidentify", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "3 R: 2 studies" in stdout and "registered" in stdout
    long = pd.read_csv(out / "followup_long.csv")
    assert list(long.columns) == list(LONG_COLUMNS)
    fu = long[long["timepoint"] == 1].set_index("bone")
    for bone, v1 in truth["p03_R_fu1"].items():
        v0 = truth["p03_R"][bone]
        assert fu.loc[bone, "volume_ml"] == pytest.approx(v1, abs=1e-4)
        assert fu.loc[bone, "change_since_baseline_ml"] == pytest.approx(v1 - v0, abs=1e-4)
    assert fu.loc["talus", "course"] == "resolved" and fu.loc["navicular", "course"] == "new"
    assert fu.loc["talus", "aofas"] == 95 and long[long["timepoint"] == 0]["aofas"].iloc[0] == 62
    wide = pd.read_excel(out / "followup_wide.xlsx")
    assert list(wide.columns) == wide_columns() and len(wide) == 2
    assert wide.loc[1, "days_since_baseline"] == fu.loc["talus", "days_since_baseline"] > 0
    page = (out / "followup.md").read_text()
    assert "phantoms" in page and "## Follow-up per bone and date" in page
    assert "| 3 | R | Navicular |" in page
    assert (out / "plots" / "followup_timelines.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "plots" / "feet" / "3_R.png").is_file()


@pytest.mark.slow
def test_follow_up_cli_deidentified_has_no_dates(tmp_path: Path, screened: tuple,  # type: ignore[type-arg]
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    images, screen, _ = screened
    out = tmp_path / "fu"
    assert main(["follow-up", "--all", "--screen", str(screen), "--images", str(images),
                 "--clinical", str(TABLE), "--key", str(tmp_path / "k"), "--out", str(out),
                 "--format", "html"]) == 0
    assert "P-" in capsys.readouterr().out
    long = pd.read_csv(out / "followup_long.csv")
    assert long["study_date"].isna().all() and long["patient"].str.startswith("P-").all()
    html = (out / "followup.html").read_text()
    assert "<td>3</td>" not in html and "20" + "14-" not in html


def test_follow_up_cli_needs_one_patient_or_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["follow-up", "--screen", "s", "--images", "i"]) == 2
    assert "one PATIENT or --all" in capsys.readouterr().err


@pytest.mark.slow
def test_report_with_follow_up_section_counts_baselines(tmp_path: Path, screened: tuple,  # type: ignore[type-arg]
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    images, screen, _ = screened
    out = tmp_path / "rep"
    assert main(["report", str(TABLE), "--findings", str(screen / "involvement.csv"),
                 "--images", str(images), "--follow-up", str(screen), "--no-deidentify",
                 "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "each foot's first study is reported" in capsys.readouterr().err
    assert "## Follow-up per foot" in text and "| 3 | R | 2 |" in text
    # the navicular edema of the follow-up is not counted with the baseline
    assert "| Navicular | >= 1 | 0 |" in text
    assert (out / "plots" / "followup_timelines.png").is_file()

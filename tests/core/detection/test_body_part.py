"""Studies that are not a foot or ankle are refused (issue 12, build 4)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bmes_imaging.cli import main
from bmes_imaging.detection import detect_study
from bmes_imaging.detection._body_part import (
    check_body_part,
    check_field_of_view,
    check_foot,
)
from bmes_imaging.errors import BmesError, NotAFootError
from bmes_imaging.phantom import PhantomSpec, generate_study, write_study

REAL = Path(__file__).resolve().parents[4] / "shared" / "real-dicom"
BRAIN_HFS = REAL / "dcm_qa_decubitus" / "In" / "HFS"
BRAIN_XA30 = REAL / "dcm_qa_xa30" / "In"


def _set_body_part(folder: Path, value: str) -> int:
    import pydicom

    n = 0
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.BodyPartExamined = value
        ds.save_as(path)
        n += 1
    return n


@pytest.fixture(scope="module")
def knee_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A (foot) phantom study whose headers say KNEE, as a mislabelled archive would."""
    root = tmp_path_factory.mktemp("knee") / "study"
    study = generate_study(PhantomSpec(seed=3, resolution=4.0, snr=None))
    write_study(study, root)
    assert _set_body_part(root / "dicom", "KNEE") > 10
    return root


@pytest.mark.parametrize("value", ["KNEE", "BRAIN", "HEAD", "Chest", "L-SPINE"])
def test_other_body_parts_are_refused(value: str) -> None:
    with pytest.raises(NotAFootError, match="not a foot or ankle"):
        check_body_part(value, "study 1")


@pytest.mark.parametrize("value", ["FOOT", "ANKLE", "Left foot", "LOWER_LEG", "", None,
                                   "EXTREMITY", "unknown words"])
def test_foot_and_unknown_body_parts_pass(value: str | None) -> None:
    check_body_part(value)


def test_bmes_detect_refuses_a_knee_and_force_overrides(knee_study: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    with pytest.raises(NotAFootError) as info:
        detect_study(knee_study, tmp_path / "refused")
    assert isinstance(info.value, BmesError)
    assert "BodyPartExamined is 'KNEE'" in str(info.value)
    assert not (tmp_path / "refused" / "involvement.csv").exists()
    assert main(["detect", str(knee_study), "--out", str(tmp_path / "cli")]) == 1
    err = capsys.readouterr().err
    assert "KNEE" in err and "--force" in err
    assert main(["detect", str(knee_study), "--out", str(tmp_path / "forced"), "--force",
                 "--bones", str(knee_study / "truth" / "bones.nii.gz")]) == 0
    assert (tmp_path / "forced" / "involvement.csv").is_file()


def test_screen_skips_a_knee_with_its_reason(knee_study: Path, tmp_path: Path) -> None:
    from bmes_imaging.screening import screen

    res = screen(knee_study.parent, tmp_path / "screen", inline=True, progress=False)
    with (tmp_path / "screen" / "studies.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["skipped"], rows
    assert "KNEE" in rows[0]["reason"] and "not a foot" in rows[0]["reason"]
    assert res.n_done == 0


@pytest.mark.skipif(not BRAIN_HFS.is_dir(), reason="real DICOM of dcm_qa_decubitus absent "
                    "(/work/shared/real-dicom)")
def test_real_brain_study_is_refused_by_detect(tmp_path: Path) -> None:
    with pytest.raises(NotAFootError, match="BRAIN"):
        detect_study(BRAIN_HFS, tmp_path / "out")


@pytest.mark.skipif(not (BRAIN_HFS.is_dir() and BRAIN_XA30.is_dir()),
                    reason="real DICOM of dcm_qa_decubitus / dcm_qa_xa30 absent")
@pytest.mark.parametrize("folder", [BRAIN_HFS, BRAIN_XA30])
def test_real_head_is_refused_by_its_field_of_view(folder: Path) -> None:
    """Even with the header's body part blanked, a head is head-sized."""
    import bmes_imaging as bm

    stack = next(s for s in bm.index_folder(folder).stacks if s.sequence == "t1")
    t1 = bm.load_series(stack)
    with pytest.raises(NotAFootError, match="head-sized"):
        check_field_of_view(t1)
    with pytest.raises(NotAFootError, match="BRAIN"):
        check_foot(t1)


def test_foot_phantoms_pass_the_field_of_view_check() -> None:
    for spec in (PhantomSpec(seed=5, resolution=4.0, snr=None, size=1.25),
                 PhantomSpec(seed=6, side="L", resolution=4.0, snr=None, size=0.8)):
        check_foot(generate_study(spec).t1)

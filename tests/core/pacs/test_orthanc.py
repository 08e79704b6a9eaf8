"""``bmes pacs`` and ``bmes screen --pacs`` against a real Orthanc on loopback (issue 16):
echo, find, C-GET and C-MOVE retrieval of a phantom study (resumable), screening from the
query, and SEG + SR sent back and found again by C-FIND."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from .conftest import ORTHANC_PORT, STORE_AET, STORE_PORT, Orthanc

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phantom study (T1 + STIR) on disk, as a scanner would have sent it."""
    from bmes_imaging.phantom import PhantomSpec, write_study

    folder = tmp_path_factory.mktemp("phantom")
    write_study(PhantomSpec(seed=5, edema_bones=("navicular",), resolution=4.0, snr=None,
                            patient_id="PACS-1"), folder)
    return folder


@pytest.fixture(scope="module")
def stored(orthanc: Orthanc, phantom: Path) -> Path:
    """The phantom study C-STOREd into Orthanc with dcmtk's storescu when present (the
    reference peer), else with ``bmes pacs send``."""
    files = sorted(str(p) for p in (phantom / "dicom").glob("*.dcm"))
    if shutil.which("storescu"):
        out = orthanc.run("storescu", "-aet", "BMES", "-aec", "ORTHANC", "127.0.0.1",
                          str(ORTHANC_PORT), *files)
    else:
        out = orthanc.bmes("pacs", "send", *orthanc.peer, *files)
    assert out.returncode == 0, out.stderr
    return phantom


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_listens_on_loopback_only(orthanc: Orthanc) -> None:
    links = orthanc.run("ip", "-o", "link", "show").stdout.splitlines()
    assert len(links) == 1 and ": lo:" in links[0]  # the namespace has no other interface
    assert any(a.endswith(f":{ORTHANC_PORT}") for a in orthanc.listening())


def test_echo(orthanc: Orthanc) -> None:
    out = orthanc.bmes("pacs", "echo", *orthanc.peer)
    assert out.returncode == 0, out.stderr
    assert "C-ECHO ORTHANC@127.0.0.1:4242: success" in out.stdout
    wrong = orthanc.bmes("pacs", "echo", "--host", "127.0.0.1", "--port", str(ORTHANC_PORT),
                         "--called-aet", "NOT_ORTHANC")
    assert wrong.returncode != 0
    assert "NOT_ORTHANC@127.0.0.1:4242" in wrong.stderr and "rejected" in wrong.stderr


def test_find_studies_with_series(orthanc: Orthanc, stored: Path, tmp_path: Path) -> None:
    out = orthanc.bmes("pacs", "find", *orthanc.peer, "--patient-id", "PACS-1",
                       "--csv", str(tmp_path / "find.csv"))
    assert out.returncode == 0, out.stderr
    rows = _rows(tmp_path / "find.csv")
    t1 = pydicom.dcmread(next((stored / "dicom").glob("*.dcm")), stop_before_pixels=True)
    assert {r["study_instance_uid"] for r in rows} == {str(t1.StudyInstanceUID)}
    assert sorted(r["sequence"] for r in rows) == ["stir", "t1"]
    counts = {r["sequence"]: int(r["instances"]) for r in rows}
    assert sum(counts.values()) == len(list((stored / "dicom").glob("*.dcm")))
    none = orthanc.bmes("pacs", "find", *orthanc.peer, "--patient-id", "NOBODY")
    assert none.returncode == 0 and "0 studies" in none.stderr
    bad = orthanc.bmes("pacs", "find", *orthanc.peer, "--date", "2024-01-01")
    assert bad.returncode != 0 and "YYYYMMDD" in bad.stderr


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.dcm"))


def test_retrieve_c_get_resumes(orthanc: Orthanc, stored: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "got"
    first = orthanc.bmes("pacs", "retrieve", *orthanc.peer, "--patient-id", "PACS-1",
                         "--out", str(out_dir))
    assert first.returncode == 0, first.stderr
    sent = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)
            for p in (stored / "dicom").glob("*.dcm")}
    got = _files(out_dir)
    assert {p.stem for p in got} == sent
    assert "series 2/2" in first.stderr  # progress
    victim = got[3]
    victim.unlink()
    again = orthanc.bmes("pacs", "retrieve", *orthanc.peer, "--patient-id", "PACS-1",
                         "--out", str(out_dir))
    assert again.returncode == 0, again.stderr
    assert f"1 instances received, {len(sent) - 1} already present" in again.stdout
    assert victim.is_file()
    original = next(p for p in (stored / "dicom").glob("*.dcm")
                    if pydicom.dcmread(p).SOPInstanceUID == victim.stem)
    assert np.array_equal(pydicom.dcmread(victim).pixel_array,
                          pydicom.dcmread(original).pixel_array)


def test_retrieve_c_move(orthanc: Orthanc, stored: Path, tmp_path: Path) -> None:
    out = orthanc.bmes("pacs", "retrieve", *orthanc.peer, "--patient-id", "PACS-1",
                       "--out", str(tmp_path / "moved"), "--move-aet", STORE_AET,
                       "--store-port", str(STORE_PORT), "--store-host", "127.0.0.1")
    assert out.returncode == 0, out.stderr
    assert len(_files(tmp_path / "moved")) == len(list((stored / "dicom").glob("*.dcm")))


def test_screen_from_the_query(orthanc: Orthanc, stored: Path, tmp_path: Path) -> None:
    out = orthanc.bmes("screen", str(tmp_path / "cache"), "--out", str(tmp_path / "screen"),
                       "--pacs", f"127.0.0.1:{ORTHANC_PORT}", "--aet", "BMES",
                       "--called-aet", "ORTHANC", "--patient-id", "PACS-1", "--workers", "1",
                       "--no-progress", timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    studies = _rows(tmp_path / "screen" / "studies.csv")
    assert len(studies) == 1 and studies[0]["status"] == "done", studies
    involved = {r["bone"] for r in _rows(tmp_path / "screen" / "involvement.csv")
                if r.get("status", "candidate") == "candidate"
                and float(r.get("edema_volume_ml") or 0) > 0}
    assert "navicular" in involved


def test_seg_and_sr_sent_back_and_found(orthanc: Orthanc, stored: Path, tmp_path: Path) -> None:
    from bmes_imaging.export import read_edema_sr

    truth = stored / "truth"
    export = ["export", "sr", str(stored / "dicom"), "--edema", str(truth / "edema.nii.gz"),
              "--bones", str(truth / "bones.nii.gz"), "--confirm", "navicular",
              "--reader", "Reader^P", "--out", str(tmp_path / "sr.dcm")]
    made = orthanc.bmes(*export)
    assert made.returncode == 0, made.stderr
    sent = orthanc.bmes("pacs", "send", *orthanc.peer, str(tmp_path / "sr_seg.dcm"),
                        str(tmp_path / "sr.dcm"))
    assert sent.returncode == 0 and "2 sent" in sent.stdout, sent.stderr
    found = orthanc.bmes("pacs", "find", *orthanc.peer, "--patient-id", "PACS-1",
                         "--modality", "any", "--csv", str(tmp_path / "all.csv"))
    assert found.returncode == 0, found.stderr
    by_modality = {r["modality"]: r for r in _rows(tmp_path / "all.csv")}
    seg = pydicom.dcmread(tmp_path / "sr_seg.dcm", stop_before_pixels=True)
    sr = pydicom.dcmread(tmp_path / "sr.dcm")
    assert by_modality["SEG"]["series_instance_uid"] == str(seg.SeriesInstanceUID)
    assert by_modality["SR"]["series_instance_uid"] == str(sr.SeriesInstanceUID)
    # and back again: the SR retrieved from the PACS holds the same measurements
    back = orthanc.bmes("pacs", "retrieve", *orthanc.peer, "--patient-id", "PACS-1",
                        "--modality", "any", "--all-series", "--out", str(tmp_path / "back"))
    assert back.returncode == 0, back.stderr
    (copy,) = [p for p in _files(tmp_path / "back") if p.stem == str(sr.SOPInstanceUID)]
    assert read_edema_sr(copy) == read_edema_sr(tmp_path / "sr.dcm")

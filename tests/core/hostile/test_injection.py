"""Hostile values everywhere data enters, checked everywhere data leaves.

A phantom study (``resolution=2.0``) whose every DICOM text attribute is rewritten with
hostile values (spreadsheet formulas, TAB / CR, HTML, terminal escapes, a fake patient
name), in a folder named after the patient, beside junk files with hostile names; a
clinical table with a hostile file name and hostile fields; stated figures with hostile
text. Through ``bmes index --csv``, ``detect``, ``screen``, ``clinical import / link``,
``export involvement`` and ``report`` (under umask 022):

* no CSV cell a spreadsheet would run as a formula, no raw control character in files;
* no raw HTML from data in the Markdown report, none unescaped in the HTML one;
* no control character on the terminal;
* no patient identifier in a log, nor on stdout without ``--show-identifiers``;
* every file 0600, every folder 0700.
"""

from __future__ import annotations

import itertools
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    FORMULA,
    HOSTILE,
    NAME,
    NAME_PARTS,
    assert_csv_inert,
    assert_no_raw_html,
    assert_private,
    assert_terminal_clean,
    run_bmes,
    sample_table,
)

#: Attributes the series classification reads: the hostile value is appended to them.
_KEEP_MEANING = {"SeriesDescription", "ProtocolName", "SequenceName", "RescaleType"}
_TEXT_VRS = {"LO", "SH", "PN", "ST", "LT", "UT", "UC"}
LINK_ID = "HOSP12345"  # a DICOM PatientID that is also the clinical patient key


def _poison(folder: Path, patient_id: str) -> int:
    """Rewrite every text attribute of every DICOM file under ``folder``."""
    import pydicom

    n = 0
    for path in sorted(folder.rglob("*.dcm")):
        with warnings.catch_warnings():  # over-long values on purpose, as a PACS may hold
            warnings.simplefilter("ignore", UserWarning)
            n += _poison_file(pydicom.dcmread(path), path, patient_id)
    return n


def _poison_file(ds: Any, path: Path, patient_id: str) -> int:
    n = 0
    values = itertools.cycle(HOSTILE)
    for el in list(ds.iterall()):
        if el.VR not in _TEXT_VRS or el.keyword in ("PatientID", "PatientName"):
            continue
        value = next(values)
        el.value = (f"{el.value} {value}" if el.keyword in _KEEP_MEANING else value)
        n += 1
    ds.PatientID = patient_id
    ds.PatientName = NAME
    ds.save_as(path)
    return n


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from bmes_imaging.phantom import PhantomSpec, write_study

    base = tmp_path_factory.mktemp("hostile")
    root = base / "archive"
    study = root / "broken" / "SURNAME_GIVEN"
    write_study(PhantomSpec(seed=7, side="R", edema_bones=("talus",), resolution=2.0,
                            patient_id="x", patient_name=NAME), study)
    assert _poison(study, FORMULA) > 20
    for junk in ("=cmd|' -C calc'!A0.txt", "\x1b]0;title\x07\x1b[2J.txt",
                 "<img src=x onerror=alert(1)>.txt", "+SURNAME_GIVEN.txt"):
        (root / junk).write_text("not DICOM\n")
    linked = base / "linked"
    _linked_series(linked)
    table = base / "=cmd <img src=x onerror=alert(1)> \x1b[2J.csv"
    rows = sample_table().read_text().splitlines()
    seven = next(r for r in rows if r.startswith("7,"))
    table.write_text("\n".join([*rows, LINK_ID + seven[1:]]) + "\n")
    bad_table = base / "bad.csv"
    bad_table.write_text(rows[0] + "\n" + rows[1].replace(",M,", f",{NAME},")
                         .replace(",17,", f",{FORMULA.replace(',', ';')},", 1) + "\n")
    stated = base / "stated.json"
    stated.write_text(json.dumps({
        "source": "<img src=x onerror=alert(1)> \x1b]0;t\x07",
        "figures": [
            {"figure": "sex_male", "value": 3, "where": f"{FORMULA} <b onclick=x>",
             "text": "<script>alert(1)</script>\x1b[2J"},
            {"figure": "patients", "value": 17, "where": "[x](javascript:alert(1))",
             "text": "`code` | cell"}]}))
    return {"base": base, "root": root, "study": study, "linked": linked, "table": table,
            "bad_table": bad_table, "stated": stated, "out": base / "out"}


def _linked_series(folder: Path) -> None:
    import numpy as np

    from bmes_imaging import Volume
    from bmes_imaging.dicom import write_series

    vol = Volume(np.zeros((8, 8, 3), np.float32), np.diag([0.5, 0.5, 3.0, 1.0]))
    write_series(vol, folder, patient_id=LINK_ID, patient_name=NAME,
                 series_description="T1 SAG \x1b]0;x\x07", attributes={"Laterality": "R"},
                 uid_seed="hostile-link")


def _clean_output(proc: Any, *, identifiers: tuple[str, ...] = (),
                  paths_listed: bool = False) -> None:
    """No control character, no identifier from the data on stdout / stderr.

    ``bmes index`` lists the files it did not use by their path (that is its job: the
    user's own folder names, which may hold a name, are shown); every other command
    shows no part of the name either.
    """
    assert "Traceback" not in proc.stderr, proc.stderr
    names = (NAME, "SURNAME GIVEN") if paths_listed else (NAME, *NAME_PARTS)
    for stream in (proc.stdout, proc.stderr):
        assert_terminal_clean(stream)
        for ident in (*names, *identifiers):
            assert ident not in stream, (ident, stream[:600])


def test_index_csv(hostile: dict[str, Any]) -> None:
    out = hostile["out"] / "index.csv"
    proc = run_bmes(["index", hostile["root"], "--csv", out])
    assert proc.returncode == 0, proc.stderr
    _clean_output(proc, identifiers=("HYPERLINK",), paths_listed=True)
    assert "SURNAME^GIVEN" not in out.read_text()  # names only with --show-identifiers
    rows = assert_csv_inert(out)
    assert any("'=cmd" in cell for row in rows for cell in row)  # the file name, inert
    assert_private(out)


def test_detect(hostile: dict[str, Any]) -> None:
    out = hostile["out"] / "detect"
    log = hostile["out"] / "detect.log"
    proc = run_bmes(["-v", "--log-file", log, "detect", hostile["study"], "--out", out])
    assert proc.returncode == 0, proc.stderr
    _clean_output(proc, identifiers=("HYPERLINK",))
    assert_csv_inert(out / "involvement.csv")
    text = log.read_text(encoding="utf-8")
    assert_terminal_clean(text)
    for ident in (*NAME_PARTS, "HYPERLINK"):
        assert ident not in text, ident
    assert_private(out)
    assert_private(log)


def test_screen(hostile: dict[str, Any]) -> None:
    out = hostile["out"] / "screen"
    proc = run_bmes(["screen", hostile["root"], "--out", out, "--workers", "1",
                     "--no-progress"])
    assert proc.returncode == 0, proc.stderr
    _clean_output(proc, identifiers=("HYPERLINK",))
    for name in ("studies.csv", "involvement.csv", "rejected_files.csv"):
        assert_csv_inert(out / name)
    log = (out / "screen.log").read_text(encoding="utf-8")
    assert_terminal_clean(log)
    for ident in (*NAME_PARTS, "HYPERLINK", "broken"):
        assert ident not in log, (ident, log)
    assert "study-" in log  # studies named by their hashed key
    assert_private(out)


def test_clinical_import_and_link(hostile: dict[str, Any]) -> None:
    db = hostile["out"] / "store" / "bmes.sqlite"
    proc = run_bmes(["clinical", "import", hostile["bad_table"], "--db", db])
    assert proc.returncode == 1
    _clean_output(proc, identifiers=("HYPERLINK",))
    assert "column 'sex'" in proc.stderr and "expected M/F" in proc.stderr
    proc = run_bmes(["clinical", "import", hostile["table"], "--db", db])
    assert proc.returncode == 0, proc.stderr
    _clean_output(proc)
    proc = run_bmes(["clinical", "link", "--dicom", hostile["linked"], "--db", db])
    assert proc.returncode == 0, proc.stderr
    _clean_output(proc, identifiers=(LINK_ID,))
    assert "1 linked" in proc.stdout
    shown = run_bmes(["clinical", "link", "--relink", "--show-identifiers", "--db", db])
    assert LINK_ID in shown.stdout  # asked for
    assert_private(db.parent)


def test_export_and_report(hostile: dict[str, Any]) -> None:
    out = hostile["out"]
    findings = out / "screen" / "involvement.csv"
    if not findings.exists():
        pytest.skip("needs test_screen's output (run the module)")
    inv = out / "export" / "involvement.csv"
    proc = run_bmes(["export", "involvement", hostile["table"], "--findings", findings,
                     "--status", "candidate", "--out", inv])
    assert proc.returncode == 0, proc.stderr
    _clean_output(proc)
    assert_csv_inert(inv)
    key = out / "pseudonym.key"
    for fmt in ("markdown", "html"):
        report = out / f"report_{fmt}"
        proc = run_bmes(["report", hostile["table"], "--findings", findings, "--status",
                         "candidate", "--stated", hostile["stated"], "--format", fmt,
                         "--out", report, "--key-file", key])
        assert proc.returncode == 0, proc.stderr
        _clean_output(proc)
        text = next(report.glob("report.*")).read_text(encoding="utf-8")
        assert_terminal_clean(text.replace("\n", ""))
        for raw in ("<img src=x", "<script>", "<b onclick"):
            assert raw not in text, raw
        if fmt == "markdown":
            assert_no_raw_html(text)
            assert not re.search(r"(?<!\\)\]\(javascript:", text)  # a link if unescaped
        assert_private(report)
    assert_private(inv.parent)
    assert_private(key)

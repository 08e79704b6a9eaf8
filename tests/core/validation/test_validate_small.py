"""``validate`` on small hand-made label maps (fast): groups, escaping, CSV cells, the
command line, and the same figures on SQLite and PostgreSQL.

Each study is a 12 x 12 x 6 grid holding the talus (label 1) and the navicular (3);
the detector's candidate map and the reader's final map are drawn by hand, so every
figure is known exactly.
"""

from __future__ import annotations

import csv
import os
import uuid

import numpy as np
import pytest

from bmes_imaging.cli import main
from bmes_imaging.store import open_store
from bmes_imaging.validation import validate
from bmes_imaging.volume import SeriesInfo, Volume

READER = '<b>Dr "X"</b> =HYPERLINK("x")'


def _vol(arr: np.ndarray, uid: str) -> Volume:
    return Volume(arr.astype(np.uint8), np.diag([2.0, 2.0, 2.0, 1.0]),
                  SeriesInfo(study_instance_uid=uid, series_instance_uid=uid + ".1"))


def _fill(store, n_studies: int = 3) -> None:
    """Study k: the detector finds talus edema (8 voxels); the reader confirms it in
    studies 0 and 2 (painting 4 more voxels in study 2) and rejects it in study 1;
    the navicular is negative for the detector and painted by the reader in study 0."""
    for k in range(n_studies):
        uid = f"1.2.826.0.1.3680043.8.498.{900 + k}"
        seq = ("stir", "t2_fs", "pd_fs")[k % 3]
        store.register_study(study_instance_uid=uid, series_instance_uid=uid + ".2",
                             sequence=seq)
        det = np.zeros((12, 12, 6), np.uint8)
        det[1:3, 1:3, 1:3] = 1
        read = det.copy()
        if k == 2:
            read[3, 1:3, 1:3] = 1
        if k == 0:
            read[8:10, 8:10, 2] = 3
        det_findings = [{"bone": "talus", "grade": 1, "edema_volume_ml": 0.064,
                         "confidence": 0.6 + 0.1 * k},
                        {"bone": "navicular", "grade": 0, "edema_volume_ml": 0.0,
                         "confidence": 0.9}]
        store.save_annotation(uid, "detector", det_findings, _vol(det, uid))
        talus = {"bone": "talus", "grade": 1, "status": "rejected" if k == 1 else "confirmed"}
        navicular = {"bone": "navicular", "grade": 1 if k == 0 else 0,
                     "status": "confirmed" if k == 0 else "candidate"}
        store.save_annotation(uid, READER, [talus, navicular], _vol(read, uid))


def _check(res) -> None:
    c = res.overall.confusion
    # talus: TP, FP (rejected), TP; navicular: FN (painted), TN, TN
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 2)
    # Dice: study 0: 8 vs 8 + 4 (navicular), 1: 8 vs 0, 2: 8 vs 12 -> 2*(8+0+8)/(20+8+20)
    assert res.overall.dice_pooled == pytest.approx(32 / 48)
    # volumes (ml, 8 ml voxels): talus 0.064-0.064, 0.064-0, 0.064-0.096; navicular 0-0.032
    assert res.overall.volume.bias == pytest.approx(np.mean([0, 0.064, -0.032, -0.032]))
    assert {s.value for s in res.summaries if s.group == "sequence"} == {
        "STIR", "T2-FS", "PD-FS"}


def test_small_store_figures_groups_and_escaping(tmp_path) -> None:
    with open_store(tmp_path / "s.sqlite") as store:
        _fill(store)
        res = validate(store, tmp_path / "out")
    _check(res)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<b>Dr" not in html and "&lt;b&gt;Dr &quot;X&quot;&lt;/b&gt;" in html
    md = (tmp_path / "out" / "report.md").read_text()
    assert "<b>" not in md
    with open(tmp_path / "out" / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    reader_row = next(r for r in rows if r["group"] == "reader")
    assert reader_row["value"] == READER  # text not starting with a formula lead: as is
    with open(tmp_path / "out" / "bone_reads.csv", newline="") as fh:
        hows = sorted((r["bone"], r["how"]) for r in csv.DictReader(fh))
    assert hows.count(("talus", "confirmed")) == 2 and ("navicular", "painted") in hows


def test_formula_reader_name_is_neutralised_in_csv(tmp_path) -> None:
    with open_store(tmp_path / "s.sqlite") as store:
        uid = "1.2.3.4"
        arr = np.zeros((4, 4, 4), np.uint8)
        arr[1, 1, 1] = 1
        store.save_annotation(uid, "detector", [{"bone": "talus", "grade": 1}], _vol(arr, uid))
        store.save_annotation(uid, "=cmd|' /C calc'!A0", [{"bone": "talus", "grade": 1,
                                                          "status": "confirmed"}],
                              _vol(arr, uid))
        validate(store, tmp_path / "out")
    text = (tmp_path / "out" / "summary.csv").read_text()
    assert "\n=cmd" not in text and ",=cmd" not in text and "'=cmd" in text


def test_command_line_prints_headline(tmp_path, capsys) -> None:
    db = tmp_path / "s.sqlite"
    with open_store(db) as store:
        _fill(store)
    rc = main(["validate", "--db", str(db), "--out", str(tmp_path / "out"),
               "--since", "2000-01-01"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "3 studies, 3 reads by 1 reader(s), 6 bone reads (3 positive, 3 negative" in printed
    assert "sensitivity 0.667" in printed
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--db", str(db), "--out", str(tmp_path / "o2"), "--since", "x"])
    assert exc.value.code == 2
    assert "not a date (YYYY-MM-DD)" in capsys.readouterr().err


@pytest.fixture
def pg_url(request):
    """A fresh, empty PostgreSQL database on the server of ``$BMES_TEST_PG_URL``, else on
    a throw-away server the tests start (``pg_server``)."""
    url = os.environ.get("BMES_TEST_PG_URL") or request.getfixturevalue("pg_server")["url"]
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bmes_validate_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_same_figures_on_postgresql(pg_url, tmp_path) -> None:
    with open_store(pg_url, annotation_dir=tmp_path / "labels") as store:
        _fill(store)
        res = validate(store, tmp_path / "out")
    _check(res)


def test_empty_store_says_what_is_missing(tmp_path, capsys) -> None:
    db = tmp_path / "s.sqlite"
    with open_store(db) as store:
        uid = "1.2.3.5"
        arr = np.zeros((4, 4, 4), np.uint8)
        store.save_annotation(uid, "Reader A", [{"bone": "talus", "grade": 0}], _vol(arr, uid))
    rc = main(["validate", "--db", str(db), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "no reviewed study with stored detector candidates" in err
    assert "no detector candidates stored" in err

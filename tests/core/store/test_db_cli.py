"""``bmes db upgrade / check / downgrade`` on SQLite and PostgreSQL, the missing-driver
line, and one store option everywhere (``--db``, ``--store`` alias, ``$BMES_DB``)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.cli import main
from bmes_imaging.clinical import sample_table_path
from bmes_imaging.store import HEAD_REVISION, open_store
from bmes_imaging.volume import Volume


def _save_two(url: str, folder: Path) -> None:
    with open_store(url, annotation_dir=folder) as store:
        for seed in (1, 2):
            arr = np.random.default_rng(seed).integers(0, 9, (8, 8, 4)).astype(np.uint8)
            store.save_annotation("1.2.3", f"dr_{seed}", [{"bone": "talus", "grade": 1}],
                                  Volume(arr, np.eye(4)))


def test_upgrade_check_downgrade(store_url: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "annotations"
    assert main(["db", "upgrade", "--db", store_url]) == 0
    assert HEAD_REVISION in capsys.readouterr().out
    _save_two(store_url, folder)
    assert main(["db", "check", "--db", store_url]) == 0
    out = capsys.readouterr().out
    assert "(current)" in out and "2 label maps checked" in out
    assert main(["db", "downgrade", "0002_store_identity", "--db", store_url,
                 "--annotations", str(folder)]) == 0
    assert len(list(folder.rglob("*.nii.gz"))) == 2
    capsys.readouterr()
    assert main(["db", "check", "--db", store_url]) == 1  # behind: says what to run
    assert "bmes db upgrade" in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", store_url, "--annotations", str(folder)]) == 0
    assert "0002_store_identity -> " + HEAD_REVISION in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", store_url]) == 0
    assert "nothing to do" in capsys.readouterr().out
    # a damaged map is a problem: exit 1, the version named
    from sqlalchemy import update

    from bmes_imaging.store._models import LabelMap

    with open_store(store_url, annotation_dir=folder) as store, store.engine.begin() as conn:
        conn.execute(update(LabelMap).where(LabelMap.annotation_id == 1)
                     .values(data=b"\x1f\x8bnot the map"))
    assert main(["db", "check", "--db", store_url]) == 1
    assert "problem: version id 1" in capsys.readouterr().out


@pytest.mark.slow
def test_a_missing_driver_names_the_extra(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['psycopg'] = None\n"  # as if not installed
            "from bmes_imaging.cli import main\n"
            "sys.exit(main(sys.argv[1:]))")
    for args in (["db", "check"], ["clinical", "import", str(sample_table_path())],
                 ["agreement", "A", "B"]):
        proc = subprocess.run([sys.executable, "-c", code, *args, "--db",
                               "postgresql+psycopg://bmes@127.0.0.1:9/x"],
                              capture_output=True, text=True, check=False, cwd=tmp_path)
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "pip install 'bmes-imaging[postgres]'" in lines[0]


@pytest.mark.slow
def test_one_store_option_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "bmes.sqlite")
    monkeypatch.setenv("BMES_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))
    assert main(["clinical", "import", str(sample_table_path()), "--store", db]) == 0
    with open_store(db) as store:
        store.register_study(study_instance_uid="1.2.3.7", patient_id="7", laterality="R")
        store.link_studies()
        store.save_findings("1.2.3.7", [{"bone": "talus", "grade": 2,
                                         "status": "confirmed"}], "Reader^A")
        store.save_findings("1.2.3.7", [{"bone": "talus", "grade": 1,
                                         "status": "confirmed"}], "Reader^B")
    outs = []
    for option in (["--db", db], ["--store", db], []):  # [] : $BMES_DB
        if not option:
            monkeypatch.setenv("BMES_DB", db)
        out = tmp_path / f"inv{len(outs)}.csv"
        assert main(["export", "involvement", *option, "--out", str(out)]) == 0
        with out.open(newline="", encoding="utf-8") as fh:
            outs.append([r for r in csv.DictReader(fh) if r["patient"] == "7"])
        assert main(["report", *option, "--out", str(tmp_path / f"rep{len(outs)}")]) == 0
        assert main(["agreement", "Reader^A", "Reader^B", *option]) == 0
    assert outs[0] == outs[1] == outs[2] and outs[0][0]["findings"] != "none"
    monkeypatch.delenv("BMES_DB")
    capsys.readouterr()
    assert main(["export", "involvement", "--out", str(tmp_path / "x.csv")]) == 2
    assert "--db" in capsys.readouterr().err

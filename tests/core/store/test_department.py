"""A department's store on a real PostgreSQL server, as two OS accounts use it.

* Reviews saved by one OS user (own HOME) are exported, reported and compared
  (reader agreement) by ANOTHER OS user (``nobody``, other HOME) from the same
  PostgreSQL URL, after the first user's HOME is gone: the label maps are in the
  database, not in anyone's folder.
* Three ``bmes clinical import`` processes on a fresh store at once: all succeed (or
  fail with one retryable line), never a traceback.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from bmes_test_services import service_missing

from bmes_imaging.clinical import sample_table_path

#: The first user's work: clinical table, two linked studies, two readers' reviews
#: (label maps + findings), saved with the store's defaults (no annotation folder given).
SAVE_REVIEWS = r"""
import sys
import numpy as np
from bmes_imaging.store import open_store
from bmes_imaging.volume import SeriesInfo, Volume

store = open_store(sys.argv[1])
store.import_clinical(sys.argv[2])
grid = np.diag([0.5, 0.5, 3.0, 1.0])
for uid, pid, side in (("1.2.3.7", "7", "R"), ("1.2.3.11", "11", "L")):
    store.register_study(study_instance_uid=uid, patient_id=pid, laterality=side)
store.link_studies()
for k, uid in enumerate(("1.2.3.7", "1.2.3.11")):
    for reader, shift in (("Reader_A", 0), ("Reader_B", 2)):
        arr = np.zeros((40, 32, 12), np.uint8)
        arr[10 + shift:20 + shift, 8:18, 3:7] = 1          # talus edema
        if k == 0:
            arr[25:30, 20 + shift:26, 4:8] = 5             # cuboid edema
        findings = [{"bone": "talus", "grade": 2, "status": "confirmed",
                     "edema_volume_ml": 1.0, "primary": True}]
        if k == 0:
            findings.append({"bone": "cuboid", "grade": 1, "status":
                             "confirmed" if reader == "Reader_A" else "rejected",
                             "edema_volume_ml": 0.2})
        store.save_annotation(uid, reader, findings, Volume(arr, grid,
                              SeriesInfo(series_instance_uid=uid + ".1")))
store.close()
print("saved")
"""


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BMES_") and k not in ("XDG_DATA_HOME", "XDG_CONFIG_HOME")}
    env["HOME"] = str(home)
    return env


def _as_other_user(home: Path) -> list[str]:
    """The command prefix running as ``nobody``: setpriv, with read-search on files only
    where this machine's Python lives in root's closed home (as in CI containers)."""
    if shutil.which("setpriv") is None:
        service_missing("setpriv is not installed (util-linux): cannot run as another user")
    base = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    probe = subprocess.run([*base, sys.executable, "-c", "import bmes_imaging"],
                           capture_output=True, text=True, check=False, cwd=home)
    if probe.returncode == 0:
        return base
    # the interpreter is unreadable for other users: let nobody read files (not write)
    return [*base, "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]


def _bmes(args: list[str], env: dict[str, str], prefix: list[str] | None = None,
          cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*(prefix or []), sys.executable, "-m", "bmes_imaging", *args],
                          capture_output=True, text=True, env=env, timeout=300, cwd=cwd,
                          check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    return proc


def _outputs(url: str, out: Path, env: dict[str, str], prefix: list[str] | None = None
             ) -> dict[str, object]:
    """Involvement table, report and agreement, as one user gets them."""
    _bmes(["export", "involvement", "--db", url, "--out", str(out / "inv.csv")], env,
          prefix, cwd=out)
    _bmes(["report", "--db", url, "--out", str(out / "report"), "--no-deidentify"], env,
          prefix, cwd=out)
    agreement = _bmes(["agreement", "Reader_A", "Reader_B", "--db", url, "--json"], env,
                      prefix, cwd=out)
    with (out / "inv.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    report = (out / "report" / "report.md").read_text(encoding="utf-8")
    return {"involvement": rows,  # the report's time of generation left out
            "report": [ln for ln in report.splitlines() if not ln.startswith("| generated")],
            "agreement": json.loads(agreement.stdout)}


@pytest.mark.slow
def test_reviews_saved_by_one_user_are_used_by_another(pg_url: str) -> None:
    table = Path(tempfile.mkdtemp(prefix="bmes-table-")) / "table1.csv"
    table.write_bytes(Path(sample_table_path()).read_bytes())
    table.parent.chmod(0o755)
    table.chmod(0o644)
    home_a = Path(tempfile.mkdtemp(prefix="bmes-home-a-"))  # root's, 0700
    home_b = Path(tempfile.mkdtemp(prefix="bmes-home-b-"))
    try:
        env_a = _clean_env(home_a)
        saved = subprocess.run([sys.executable, "-c", SAVE_REVIEWS, pg_url, str(table)],
                               capture_output=True, text=True, env=env_a, timeout=300,
                               check=False)
        assert saved.returncode == 0 and "Traceback" not in saved.stderr, saved.stderr
        out_a = home_a / "out"
        out_a.mkdir()
        seen_by_a = _outputs(pg_url, out_a, env_a)
        # no label map was written into the first user's HOME (nor anywhere else)
        assert not list(home_a.rglob("*.nii*"))
        shutil.rmtree(home_a)  # the first account (or workstation) is gone

        import pwd

        nobody = pwd.getpwnam("nobody")
        os.chown(home_b, nobody.pw_uid, nobody.pw_gid)
        prefix = _as_other_user(home_b)
        out_b = home_b / "out"
        out_b.mkdir()
        os.chown(out_b, nobody.pw_uid, nobody.pw_gid)
        seen_by_b = _outputs(pg_url, out_b, _clean_env(home_b), prefix)
        assert (out_b / "inv.csv").stat().st_uid == nobody.pw_uid  # written by nobody
    finally:
        shutil.rmtree(home_a, ignore_errors=True)
        shutil.rmtree(home_b, ignore_errors=True)
        shutil.rmtree(table.parent, ignore_errors=True)

    assert seen_by_b == seen_by_a
    rows = {(r["patient"], r["side"]): r for r in seen_by_b["involvement"]}
    assert rows[("7", "R")]["findings"] != "none"
    assert rows[("7", "R")]["primary_bone"] == "talus"
    agreement = seen_by_b["agreement"]
    dices = [v for k, v in _walk(agreement) if "dice" in k.lower() and v is not None]
    assert dices and all(0.0 < float(d) < 1.0 for d in dices)  # masks read and compared
    assert "Findings: confirmed only" in str(seen_by_b["report"])


def _walk(obj: object, key: str = "") -> list[tuple[str, object]]:
    if isinstance(obj, dict):
        return [kv for k, v in obj.items() for kv in _walk(v, str(k))]
    if isinstance(obj, list):
        return [kv for v in obj for kv in _walk(v, key)]
    return [(key, obj)]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_three_concurrent_imports_into_a_new_store(engine: str, tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    url = str(tmp_path / "new.sqlite") if engine == "sqlite" else \
        str(request.getfixturevalue("pg_url"))
    env = _clean_env(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-m", "bmes_imaging", "clinical", "import",
                               str(sample_table_path()), "--db", url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(3)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for status, _out, err in results:
        assert "Traceback" not in err and "psycopg" not in err, err
        if status != 0:  # allowed only as one clear, retryable line
            assert "try again" in err and len(err.strip().splitlines()) == 1, err
    print("import exit statuses:", [s for s, _, _ in results])
    assert sum(status == 0 for status, _, _ in results) >= 1

    from bmes_imaging.store import open_store

    with open_store(url, annotation_dir=tmp_path / "a") as store:
        assert len(store.clinical_records()) == 18

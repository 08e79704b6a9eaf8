"""The same screening on a real Dask scheduler + worker (separate processes on loopback)."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.cli import main
from bmes_imaging.volume import load_nifti

DASK = Path(sys.executable).with_name("dask")
VOLATILE = {"started", "finished", "seconds", "worker", "from_earlier_run"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask_logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    with (logs / "scheduler.log").open("wb") as slog, (logs / "worker.log").open("wb") as wlog:
        procs.append(subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=slog,
            start_new_session=True))
        procs.append(subprocess.Popen(
            [str(DASK), "worker", address, "--nworkers", "2", "--nthreads", "1",
             "--no-dashboard", "--host", "127.0.0.1", "--local-directory", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=wlog, start_new_session=True))
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s", set_as_default=False) as client:
                    client.wait_for_workers(2, timeout=30)
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [{k: v for k, v in r.items() if k not in VOLATILE} for r in csv.DictReader(fh)]
    return sorted(rows, key=lambda r: sorted(r.items()))


@pytest.mark.slow
def test_scheduler_run_matches_local_run(phantom_local_run: dict, phantom_archive: dict,
                                         tmp_path: Path, dask_cluster: str) -> None:
    local, remote = phantom_local_run["out"], tmp_path / "remote"
    assert main(["screen", str(phantom_archive["root"]), "--out", str(remote),
                 "--scheduler", dask_cluster, "--no-progress"]) == 0
    assert _table(local / "studies.csv") == _table(remote / "studies.csv")
    assert _table(local / "involvement.csv") == _table(remote / "involvement.csv")
    assert len(_table(remote / "involvement.csv")) > 0
    for marker in local.glob("studies/*/edema.nii.gz"):
        a = load_nifti(marker)
        b = load_nifti(remote / marker.relative_to(local))
        assert np.array_equal(a.array, b.array) and np.allclose(a.affine, b.affine)
    with (remote / "studies.csv").open(newline="") as fh:
        workers = {r["worker"] for r in csv.DictReader(fh) if r["worker"]}
    assert workers and not workers & _workers(local)
    log = (remote / "screen.log").read_text(encoding="utf-8")
    assert "dask: scheduler with 2 workers" in log


def _workers(out: Path) -> set[str]:
    with (out / "studies.csv").open(newline="") as fh:
        return {r["worker"] for r in csv.DictReader(fh) if r["worker"]}


def test_scheduler_check_only_matches_local(junk_archive: dict, tmp_path: Path,
                                            dask_cluster: str) -> None:
    root = str(junk_archive["root"])
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main(["screen", root, "--out", str(local), "--workers", "2", "--check-only",
                 "--no-progress"]) == 0
    assert main(["screen", root, "--out", str(remote), "--scheduler", dask_cluster,
                 "--check-only", "--no-progress"]) == 0
    assert _table(local / "studies.csv") == _table(remote / "studies.csv")

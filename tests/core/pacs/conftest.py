"""A real Orthanc (Debian package ``orthanc``) per test module, reachable only on loopback.

Orthanc binds every interface, so it runs in a private network namespace of its own
(``unshare -n``: the namespace has nothing but its own ``lo``), with its own
configuration and storage in a temporary folder, and is stopped at the end. The test's
DICOM clients (``bmes pacs ...``, dcmtk's ``storescu``) run as subprocesses inside that
namespace (``nsenter --net=/proc/PID/ns/net``). Skipped with the reason when Orthanc,
``unshare``/``nsenter`` or the privilege for a namespace are missing, failed instead when
``BMES_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ORTHANC_AET = "ORTHANC"
ORTHANC_PORT = 4242
OUR_AET = "BMES"
STORE_AET, STORE_PORT = "BMES_STORE", 11113


def _service_missing(reason: str) -> None:
    if os.environ.get("BMES_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (BMES_REQUIRE_SERVICES=1: CI needs the real service)")
    pytest.skip(reason)


@dataclass
class Orthanc:
    """A running Orthanc in its own network namespace."""

    pid: int
    folder: Path

    def run(self, *cmd: str, timeout: float = 300, check: bool = False,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command inside Orthanc's network namespace."""
        full = ["nsenter", f"--net=/proc/{self.pid}/ns/net", *cmd]
        return subprocess.run(full, capture_output=True, text=True, timeout=timeout,
                              check=check, env={**os.environ, **(env or {})})

    def bmes(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``bmes ARGS`` in the namespace (the installed package's interpreter)."""
        return self.run(sys.executable, "-m", "bmes_imaging", *args, timeout=timeout,
                        env={"PYTHONWARNINGS": "ignore"})

    @property
    def peer(self) -> list[str]:
        """The connection options of ``bmes pacs`` for this Orthanc."""
        return ["--host", "127.0.0.1", "--port", str(ORTHANC_PORT), "--aet", OUR_AET,
                "--called-aet", ORTHANC_AET]

    def listening(self) -> list[str]:
        """The listening TCP sockets in the namespace (``ss -ltnH``)."""
        out = self.run("ss", "-ltnH")
        return [line.split()[3] for line in out.stdout.splitlines() if line.strip()]


def _config(folder: Path) -> dict[str, object]:
    storage = folder / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    return {
        "Name": "bmes-test", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
        "Plugins": [], "HttpServerEnabled": False, "RemoteAccessAllowed": False,
        "DicomServerEnabled": True, "DicomAet": ORTHANC_AET, "DicomPort": ORTHANC_PORT,
        "DicomCheckCalledAet": True, "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True, "DicomCheckModalityHost": True,
        "DicomModalities": {"bmes": [OUR_AET, "127.0.0.1", 104],
                            "bmes_store": [STORE_AET, "127.0.0.1", STORE_PORT]},
        "SaveJobs": False, "ConcurrentJobs": 1, "StorageCompression": False,
        "SynchronousCMove": True, "StableAge": 1,
    }


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """Orthanc started for the module, in a private network namespace; stopped after."""
    binary = shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    if binary is None:
        _service_missing("Orthanc is not installed (Debian package 'orthanc')")
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            _service_missing(f"{tool} (util-linux / iproute2) is missing")
    folder = tmp_path_factory.mktemp("orthanc")
    cfg = folder / "orthanc.json"
    cfg.write_text(json.dumps(_config(folder), indent=1))
    log = (folder / "orthanc.log").open("w")
    proc = subprocess.Popen(
        ["unshare", "--net", "sh", "-c", f'ip link set lo up && exec "{binary}" "{cfg}"'],
        stdout=log, stderr=subprocess.STDOUT)
    server = Orthanc(proc.pid, folder)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                text = (folder / "orthanc.log").read_text()[-2000:]
                _service_missing(f"Orthanc did not start (a network namespace needs root): "
                                 f"{text}")
            if f"127.0.0.1:{ORTHANC_PORT}" in " ".join(server.listening()) or any(
                    a.endswith(f":{ORTHANC_PORT}") for a in server.listening()):
                break
            time.sleep(0.2)
        else:
            pytest.fail("Orthanc did not listen within 30 s")
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

"""Fixtures shared by every test package: real services started by the tests themselves.

A PostgreSQL server is started per test that asks for it (``pg_server``): a throw-away
cluster run as ``nobody`` on loopback only, stopped and removed afterwards. Where the
server binaries are missing the test is skipped with the reason, unless
``BMES_REQUIRE_SERVICES=1`` (set by ``.ci/run``), where a missing service is a failure:
CI must never pass by skipping the real database.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _service_missing(reason: str) -> None:
    if os.environ.get("BMES_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (BMES_REQUIRE_SERVICES=1: CI needs the real service)")
    pytest.skip(reason)


def _pg_binary(name: str) -> str | None:
    """``initdb`` / ``pg_ctl`` on PATH, else from Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pg_server() -> Iterator[dict[str, Any]]:
    """A throw-away PostgreSQL server (run as ``nobody``): ``url`` and ``stop()``."""
    import pwd

    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not initdb or not pg_ctl or shutil.which("runuser") is None:
        _service_missing("PostgreSQL server binaries (initdb, pg_ctl) or runuser not installed")
    assert initdb is not None and pg_ctl is not None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _service_missing("psycopg is not installed (the 'postgres' extra)")
    base = Path(f"/tmp/bmes-pg-{uuid.uuid4().hex[:8]}")
    base.mkdir(mode=0o700)
    nobody = pwd.getpwnam("nobody")
    os.chown(base, nobody.pw_uid, nobody.pw_gid)
    port = _free_port()

    def as_nobody(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "nobody", "--", *cmd], capture_output=True,
                              text=True, check=False, timeout=120)

    def stop() -> None:
        as_nobody(pg_ctl, "-D", str(base / "db"), "-m", "immediate", "-w", "stop")

    made = as_nobody(initdb, "-D", str(base / "db"), "-U", "bmes", "--auth=trust",
                     "-E", "UTF8")
    started = made.returncode == 0 and as_nobody(
        pg_ctl, "-D", str(base / "db"), "-l", str(base / "log"), "-w", "-o",
        f"-p {port} -k {base} -h 127.0.0.1", "start").returncode == 0
    if not started:
        shutil.rmtree(base, ignore_errors=True)
        _service_missing(f"cannot start a PostgreSQL server here: {made.stderr[-300:]}")
    try:
        yield {"url": f"postgresql+psycopg://bmes@127.0.0.1:{port}/postgres", "stop": stop}
    finally:
        stop()
        shutil.rmtree(base, ignore_errors=True)

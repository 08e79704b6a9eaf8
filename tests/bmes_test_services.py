"""Real services the tests start themselves: a throw-away PostgreSQL cluster.

The cluster runs as ``nobody`` on loopback only and is removed afterwards. Where the
server binaries or psycopg are missing the test is skipped with the reason, unless
``BMES_REQUIRE_SERVICES=1`` (set by ``.ci/run``): CI must never pass by skipping the real
database. Imported by ``tests/conftest.py`` (``pg_server``, ``pg_cluster``) and the store
tests (on the path through ``pythonpath`` in ``pyproject.toml``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def service_missing(reason: str) -> None:
    """Skip (or, with ``BMES_REQUIRE_SERVICES=1``, fail) for a missing service."""
    if os.environ.get("BMES_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (BMES_REQUIRE_SERVICES=1: CI needs the real service)")
    pytest.skip(reason)


def pg_binary(name: str) -> str | None:
    """``initdb`` / ``pg_ctl`` on PATH, else from Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_nobody(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "nobody", "--", *cmd], capture_output=True,
                          text=True, check=False, timeout=120)


class PgCluster:
    """A running throw-away cluster; :meth:`new_database` makes an empty database."""

    def __init__(self, base: Path, port: int, pg_ctl: str) -> None:
        self.base, self.port, self.pg_ctl = base, port, pg_ctl
        self.admin_url = f"postgresql+psycopg://bmes@127.0.0.1:{port}/postgres"
        self._template = False

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` in this cluster."""
        return f"postgresql+psycopg://bmes@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=bmes dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self, *, migrated: bool = False) -> str:
        """Create an empty database (``migrated``: a copy of a store schema at head, no
        identity yet: quicker than migrating each); return its URL."""
        if migrated and not self._template:
            from bmes_imaging.store._engine import make_engine, run_migrations

            self._admin("CREATE DATABASE t_template")
            engine = make_engine(self.url("t_template"))
            run_migrations(engine)
            engine.dispose()
            self._template = True
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._admin(f"CREATE DATABASE {name}" + (" TEMPLATE t_template" if migrated else ""))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`new_database` (its connections are ended)."""
        self._admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the server at once (a test may call it to take the database away)."""
        _as_nobody(self.pg_ctl, "-D", str(self.base / "db"), "-m", "immediate", "-w", "stop")


@contextlib.contextmanager
def running_pg_cluster() -> Iterator[PgCluster]:
    """Start a cluster as ``nobody`` on a free loopback port; stop and remove it after."""
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if not initdb or not pg_ctl or shutil.which("runuser") is None:
        service_missing("PostgreSQL server binaries (initdb, pg_ctl) or runuser not installed")
    assert initdb is not None and pg_ctl is not None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        service_missing("psycopg is not installed (the 'postgres' extra)")
    base = Path(f"/tmp/bmes-pg-{uuid.uuid4().hex[:8]}")
    base.mkdir(mode=0o700)
    nobody = pwd.getpwnam("nobody")
    os.chown(base, nobody.pw_uid, nobody.pw_gid)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    made = _as_nobody(initdb, "-D", str(base / "db"), "-U", "bmes", "--auth=trust",
                      "-E", "UTF8")
    started = made.returncode == 0 and _as_nobody(
        pg_ctl, "-D", str(base / "db"), "-l", str(base / "log"), "-w", "-o",
        f"-p {port} -k {base} -h 127.0.0.1", "start").returncode == 0
    if not started:
        shutil.rmtree(base, ignore_errors=True)
        service_missing(f"cannot start a PostgreSQL server here: {made.stderr[-300:]}")
    cluster = PgCluster(base, port, pg_ctl)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)

"""Fixtures shared by every test package: real services started by the tests themselves.

A PostgreSQL server is started per test that asks for ``pg_server``, and once per session
for ``pg_cluster`` (the store tests make a fresh database in it per test): a throw-away
cluster run as ``nobody`` on loopback only, stopped and removed afterwards
(:mod:`bmes_test_services`). Where the server binaries are missing the test is skipped
with the reason, unless ``BMES_REQUIRE_SERVICES=1`` (set by ``.ci/run``), where a missing
service is a failure: CI must never pass by skipping the real database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bmes_test_services import PgCluster, running_pg_cluster


@pytest.fixture
def pg_server() -> Iterator[dict[str, Any]]:
    """A throw-away PostgreSQL server (run as ``nobody``): ``url`` and ``stop()``."""
    with running_pg_cluster() as cluster:
        yield {"url": cluster.admin_url, "stop": cluster.stop}


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL cluster for a whole session (started when first asked for)."""
    with running_pg_cluster() as cluster:
        yield cluster

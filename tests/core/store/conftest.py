"""Store fixtures: every store test that takes ``store`` / ``store_url`` runs on SQLite
AND on a real PostgreSQL server.

One throw-away PostgreSQL 15 cluster (run as ``nobody``, loopback only) serves the
whole session (``pg_cluster`` in ``tests/conftest.py``); each test gets a fresh database
in it. Without the server
binaries or psycopg the PostgreSQL cases skip with the reason, unless
``BMES_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bmes_test_services import PgCluster

from bmes_imaging.store import Store, open_store

ENGINES = ("sqlite", "postgresql")


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards)."""
    url = pg_cluster.new_database()
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new store's URL: a SQLite file, or a database on the PostgreSQL server (schema
    at head from a template, no identity yet: opening it makes a new store)."""
    if request.param == "sqlite":
        yield str(tmp_path / "bmes.sqlite")
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    url = cluster.new_database(migrated=True)
    yield url
    cluster.drop_database(url)


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    """An open store on each engine (SQLite and PostgreSQL)."""
    s = open_store(store_url, annotation_dir=tmp_path / "annotations")
    yield s
    s.close()


def is_postgres(url: Any) -> bool:
    """Whether a store URL is a PostgreSQL one."""
    return str(url).startswith("postgresql")

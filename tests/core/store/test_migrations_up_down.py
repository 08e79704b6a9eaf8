"""Migrations up AND down on SQLite and PostgreSQL; label-map files of older stores moved
into the database (0003) and written back on downgrade; a missing file is named; a store
of schema 0003 gains the findings' bone mask quality (0004) with its findings and audit
trail intact, and goes back."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from bmes_imaging.bones import Bone
from bmes_imaging.errors import StoreError
from bmes_imaging.findings import Finding, FindingStatus
from bmes_imaging.store import HEAD_REVISION, Store, open_store
from bmes_imaging.store._engine import (
    current_revision,
    make_engine,
    resolve_url,
    run_migrations,
)
from bmes_imaging.store._models import Base, UTCDateTime
from bmes_imaging.volume import SeriesInfo, Volume

STUDY = "1.2.826.0.1.3680043.10.999.7"
BEFORE_0003 = "0002_store_identity"
BEFORE_0004 = "0003_label_maps_in_db"


def _labels(seed: int) -> Volume:
    arr = np.random.default_rng(seed).integers(0, 15, (12, 10, 6)).astype(np.uint8)
    affine = np.diag([0.41234567891, 0.41234567891, 3.3, 1.0])
    return Volume(arr, affine, SeriesInfo(series_instance_uid=f"1.2.3.{seed}"))


def _fill(store: Store) -> dict[int, int]:
    """Two readers' label maps and a findings-only version: annotation id -> seed."""
    saved = {}
    for seed, reader in ((1, "dr_a"), (2, "dr_b"), (3, "dr_a")):
        v = store.save_annotation(STUDY, reader, [{"bone": "talus", "grade": seed}],
                                  _labels(seed))
        saved[v.annotation_id] = seed
    store.save_findings(STUDY, [{"bone": "cuboid", "grade": 1}], "detector")
    return saved


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


def test_head_matches_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        assert ctx.get_current_revision() == HEAD_REVISION
        assert compare_metadata(ctx, Base.metadata) == []


def test_down_to_files_and_up_again_keeps_every_label_map(store: Store,
                                                          tmp_path: Path) -> None:
    saved = _fill(store)
    folder = tmp_path / "annotations"
    run_migrations(store.engine, annotation_dir=folder, revision=BEFORE_0003, downgrade=True)
    assert current_revision(store.engine) == BEFORE_0003
    assert "label_map" not in _tables(store)
    files = sorted(p for p in folder.rglob("*.nii.gz"))
    assert len(files) == 3
    assert all(p.stat().st_mode & 0o077 == 0 for p in files)  # 0600
    # the files are the old layout: the checksums recorded in the rows match
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT label_path, label_sha256 FROM annotation "
                                    "WHERE label_path IS NOT NULL").all()
    assert {hashlib.sha256((folder / rel).read_bytes()).hexdigest() for rel, _ in rows} == \
        {sha for _, sha in rows}
    run_migrations(store.engine, annotation_dir=folder)
    assert current_revision(store.engine) == HEAD_REVISION
    for path in files:  # the files are no longer needed
        path.unlink()
    for ann_id, seed in saved.items():
        loaded = store.load_annotation(ann_id)
        np.testing.assert_array_equal(loaded.labels.array, _labels(seed).array)
        np.testing.assert_array_equal(loaded.labels.affine, _labels(seed).affine)
    assert store.check_annotations() == ([], [])


def test_down_to_nothing_and_up_again(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url, annotation_dir=tmp_path / "a") as store:
        run_migrations(store.engine, revision="base", downgrade=True)
        assert current_revision(store.engine) is None
        assert _tables(store) <= {"alembic_version"}
        run_migrations(store.engine)
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_an_older_store_opens_and_its_files_move_in(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "annotations"
    with open_store(store_url, annotation_dir=folder) as store:
        saved = _fill(store)
        run_migrations(store.engine, annotation_dir=folder, revision=BEFORE_0003,
                       downgrade=True)
    victim = sorted(folder.rglob("*.nii.gz"))[1]
    kept = victim.read_bytes()
    victim.unlink()
    with pytest.raises(StoreError) as info:  # one line naming the file; nothing changed
        open_store(store_url, annotation_dir=folder)
    message = str(info.value)
    assert str(victim) in message and "missing" in message and "\n" not in message
    engine = make_engine(store_url if "://" in store_url else "sqlite:///" + store_url)
    try:
        assert current_revision(engine) == BEFORE_0003
        assert "label_map" not in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    victim.write_bytes(kept)  # restored from a backup
    with open_store(store_url, annotation_dir=folder) as store:
        assert store.check_annotations()[0] == []
    for path in folder.rglob("*.nii.gz"):
        path.unlink()
    other_home = tmp_path / "elsewhere"  # another account: a folder of its own, empty
    with open_store(store_url, annotation_dir=other_home) as store:
        for ann_id, seed in saved.items():
            np.testing.assert_array_equal(store.load_annotation(ann_id).labels.array,
                                          _labels(seed).array)


def test_a_damaged_file_stops_the_move(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "annotations"
    with open_store(store_url, annotation_dir=folder) as store:
        _fill(store)
        run_migrations(store.engine, annotation_dir=folder, revision=BEFORE_0003,
                       downgrade=True)
    victim = sorted(folder.rglob("*.nii.gz"))[0]
    victim.write_bytes(victim.read_bytes()[:-3] + b"xyz")
    with pytest.raises(StoreError, match="checksum") as info:
        open_store(store_url, annotation_dir=folder)
    assert str(victim) in str(info.value)


def test_files_from_several_accounts_move_in_together(store_url: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    """Before 0003 each reader's maps lay in their own account's folder: the upgrade
    from one account names the missing file; given every folder, all move in."""
    from bmes_imaging.cli import main

    folder_a, folder_b = tmp_path / "home_a", tmp_path / "home_b"
    with open_store(store_url, annotation_dir=folder_a) as store:
        saved = _fill(store)
        run_migrations(store.engine, annotation_dir=folder_a, revision=BEFORE_0003,
                       downgrade=True)
    for path in sorted(folder_a.rglob("*.nii.gz")):
        if "/dr_b/" in path.as_posix():  # dr_b saved from another account
            target = folder_b / path.relative_to(folder_a)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
    assert main(["db", "upgrade", "--db", store_url, "--annotations", str(folder_a)]) == 1
    assert "dr_b" in capsys.readouterr().err
    assert main(["db", "upgrade", "--db", store_url, "--annotations", str(folder_a),
                 "--annotations", str(folder_b)]) == 0
    with open_store(store_url, annotation_dir=tmp_path / "nowhere") as store:
        for ann_id, seed in saved.items():
            np.testing.assert_array_equal(store.load_annotation(ann_id).labels.array,
                                          _labels(seed).array)


# --- 0004: the findings' bone mask quality ---------------------------------------------

#: The tables as schema 0003 has them (only the columns written here; no quality).
_STUDY_0003 = sa.table("imaging_study", sa.column("id", sa.Integer),
                       sa.column("study_instance_uid", sa.String),
                       sa.column("registered_at", UTCDateTime()))
_ANNOTATION_0003 = sa.table("annotation", sa.column("id", sa.Integer),
                            sa.column("study_id", sa.Integer), sa.column("reader", sa.String),
                            sa.column("version", sa.Integer), sa.column("kind", sa.String),
                            sa.column("created_at", UTCDateTime()))
_FINDING_0003 = sa.table("finding", sa.column("id", sa.Integer),
                         sa.column("annotation_id", sa.Integer), sa.column("bone", sa.Integer),
                         sa.column("bone_volume_ml", sa.Float),
                         sa.column("edema_volume_ml", sa.Float),
                         sa.column("fraction", sa.Float), sa.column("grade", sa.Integer),
                         sa.column("t1_ratio", sa.Float), sa.column("fluid_ratio", sa.Float),
                         sa.column("confidence", sa.Float), sa.column("status", sa.String),
                         sa.column("source", sa.String), sa.column("primary", sa.Boolean))
_AUDIT_0003 = sa.table("audit_event", sa.column("at", UTCDateTime()),
                       sa.column("actor", sa.String), sa.column("action", sa.String),
                       sa.column("study_id", sa.Integer),
                       sa.column("annotation_id", sa.Integer),
                       sa.column("finding_id", sa.Integer), sa.column("bone", sa.Integer))

#: The findings written into the 0003 store, as the store must return them after 0004.
_OLD_FINDINGS = (
    Finding(Bone.NAVICULAR, bone_volume_ml=12.5, edema_volume_ml=3.25, fraction=0.26, grade=2,
            t1_ratio=0.61, fluid_ratio=2.4, confidence=0.83, status=FindingStatus.CONFIRMED,
            source="dr_a", primary=True),
    Finding(Bone.TALUS, grade=1, status=FindingStatus.CANDIDATE, source="dr_a"),  # numbers unknown
)


@pytest.fixture(params=("sqlite", "postgresql"))
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no schema at all) on each engine."""
    if request.param == "sqlite":
        yield resolve_url(tmp_path / "old.sqlite")
    else:
        yield request.getfixturevalue("pg_url")


def _store_at_0003(url: str) -> dict[int, int]:
    """A store made by the migrations up to 0003 holding ``_OLD_FINDINGS`` (one version
    of dr_a) written with that schema, each with its audit event: bone -> finding id."""
    engine = make_engine(url)
    try:
        run_migrations(engine, revision=BEFORE_0004)
        assert current_revision(engine) == BEFORE_0004
        assert "bone_mask_quality" not in {c["name"] for c in inspect(engine)
                                           .get_columns("finding")}
        now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
        ids = {}
        with engine.begin() as conn:
            study_id = conn.execute(_STUDY_0003.insert().values(
                study_instance_uid=STUDY, registered_at=now)
                .returning(_STUDY_0003.c.id)).scalar_one()
            ann_id = conn.execute(_ANNOTATION_0003.insert().values(
                study_id=study_id, reader="dr_a", version=1, kind="findings",
                created_at=now).returning(_ANNOTATION_0003.c.id)).scalar_one()
            for f in _OLD_FINDINGS:
                numbers = {name: None if math.isnan(getattr(f, name)) else getattr(f, name)
                           for name in ("bone_volume_ml", "edema_volume_ml", "fraction",
                                        "t1_ratio", "fluid_ratio", "confidence")}
                ids[int(f.bone)] = conn.execute(_FINDING_0003.insert().values(
                    annotation_id=ann_id, bone=int(f.bone), grade=f.grade,
                    status=str(f.status), source=f.source, primary=f.primary, **numbers)
                    .returning(_FINDING_0003.c.id)).scalar_one()
                conn.execute(_AUDIT_0003.insert().values(
                    at=now, actor="dr_a", action="finding_added", study_id=study_id,
                    annotation_id=ann_id, finding_id=ids[int(f.bone)], bone=int(f.bone)))
        return ids
    finally:
        engine.dispose()


def _audit_links(engine: sa.Engine) -> dict[int, int | None]:
    """bone -> finding id of each finding's audit event (raw: works at any revision)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT bone, finding_id FROM audit_event "
                                    "WHERE bone IS NOT NULL").all()
    return {int(bone): finding_id for bone, finding_id in rows}


def test_a_0003_store_gains_the_quality_with_its_findings_intact_and_goes_back(
        empty_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bmes_imaging.cli import main

    ids = _store_at_0003(empty_url)
    assert main(["db", "check", "--db", empty_url]) == 1  # behind: says what to run
    assert BEFORE_0004 in capsys.readouterr().out
    folder = tmp_path / "annotations"
    with open_store(empty_url, annotation_dir=folder) as store:  # upgrades on open
        assert current_revision(store.engine) == HEAD_REVISION
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        back = sorted(store.latest_findings(STUDY), key=lambda f: int(f.bone))
        assert back == sorted(_OLD_FINDINGS, key=lambda f: int(f.bone))  # NULL -> NaN
        assert all(math.isnan(f.bone_mask_quality) for f in back)
        assert {int(f.bone): f.finding_id for f in back} == ids
        assert _audit_links(store.engine) == ids
        new = store.save_findings(STUDY, [Finding(Bone.CUBOID, grade=1,
                                                  bone_mask_quality=0.42)], "detector")
        [kept] = store.load_annotation(new.annotation_id).findings
        assert kept.bone_mask_quality == 0.42
        links = _audit_links(store.engine)
        run_migrations(store.engine, annotation_dir=folder, revision=BEFORE_0004,
                       downgrade=True)
        assert current_revision(store.engine) == BEFORE_0004
        assert "bone_mask_quality" not in {c["name"] for c in inspect(store.engine)
                                           .get_columns("finding")}
        # dropped in place: no finding row (nor the audit events' links to them) lost
        assert _audit_links(store.engine) == links
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, bone, grade, fraction FROM finding "
                                        "ORDER BY id").all()
        assert [tuple(r) for r in rows] == [
            (ids[int(Bone.NAVICULAR)], int(Bone.NAVICULAR), 2, 0.26),
            (ids[int(Bone.TALUS)], int(Bone.TALUS), 1, None),
            (kept.finding_id, int(Bone.CUBOID), 1, None)]
    with open_store(empty_url, annotation_dir=folder) as store:  # and up again
        assert current_revision(store.engine) == HEAD_REVISION
        [again] = store.load_annotation(new.annotation_id).findings
        # the quality went with the downgrade (unknown now); everything else is kept
        assert again == dataclasses.replace(kept, bone_mask_quality=math.nan)
        assert again.finding_id == kept.finding_id
        assert len(store.latest_findings(STUDY, source="dr_a")) == 2

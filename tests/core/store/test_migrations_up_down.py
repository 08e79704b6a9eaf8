"""Migrations up AND down on SQLite and PostgreSQL; label-map files of older stores moved
into the database (0003) and written back on downgrade; a missing file is named."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from bmes_imaging.errors import StoreError
from bmes_imaging.store import HEAD_REVISION, Store, open_store
from bmes_imaging.store._engine import current_revision, make_engine, run_migrations
from bmes_imaging.store._models import Base
from bmes_imaging.volume import SeriesInfo, Volume

STUDY = "1.2.826.0.1.3680043.10.999.7"
BEFORE_0003 = "0002_store_identity"


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

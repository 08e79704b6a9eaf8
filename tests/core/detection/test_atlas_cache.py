"""The packaged atlas' flexed copy kept on disk (:mod:`bmes_imaging.detection._atlas_cache`).

Written atomically, 0600 in a 0700 folder; read back only when whole, ours and private,
for the same inputs and package version; a damaged, foreign or linked file is refused and
the arrays are made again (and written over it).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.detection import _atlas, _atlas_cache
from bmes_imaging.detection._atlas_cache import cached_arrays


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BMES_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BMES_NO_ATLAS_CACHE", raising=False)
    return tmp_path / "cache" / "atlas"


class _Maker:
    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.out = (rng.integers(0, 15, (6, 7, 8)).astype(np.uint8),
                    rng.random((5, 6, 7)).astype(np.float32))
        self.calls = 0

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return self.out[0].copy(), self.out[1].copy()


def _inputs() -> list[np.ndarray]:
    return [np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.eye(4)]


def _only_file(folder: Path) -> Path:
    files = [p for p in folder.iterdir() if not p.name.startswith(".")]
    assert len(files) == 1, files
    return files[0]


def _same(got: tuple[np.ndarray, np.ndarray], maker: _Maker) -> bool:
    return all(a.dtype == b.dtype and np.array_equal(a, b)
               for a, b in zip(got, maker.out, strict=True))


def test_written_private_and_read_back(folder: Path) -> None:
    make = _Maker()
    assert _same(cached_arrays("flexed", _inputs(), "30.0", make), make)
    path = _only_file(folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    again = _Maker()
    assert _same(cached_arrays("flexed", _inputs(), "30.0", again), make)
    assert again.calls == 0  # read, not made
    other = _Maker(1)  # other parameters or inputs: another file, made
    cached_arrays("flexed", _inputs(), "20.0", other)
    cached_arrays("flexed", [_inputs()[0] + 1, np.eye(4)], "30.0", other)
    assert other.calls == 2


def test_a_copy_made_by_other_code_is_not_read(folder: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A development install whose detection code changed (same version number) makes
    the flexed atlas again instead of reading the old code's copy."""
    make = _Maker()
    cached_arrays("flexed", _inputs(), "30.0", make)
    monkeypatch.setattr(_atlas_cache, "_code_digest", lambda: "0" * 64)
    changed = _Maker(1)
    assert _same(cached_arrays("flexed", _inputs(), "30.0", changed), changed)
    assert changed.calls == 1


@pytest.mark.parametrize("damage", ["truncate", "garble", "empty", "swap"])
def test_a_damaged_file_is_refused_and_made_again(folder: Path, damage: str) -> None:
    make = _Maker()
    cached_arrays("flexed", _inputs(), "30.0", make)
    path = _only_file(folder)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garble":  # a byte of the template changed: the digest says so
        path.write_bytes(data[:-200] + bytes([data[-200] ^ 0xFF]) + data[-199:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # another valid cache file under this name (e.g. copied over it)
        cached_arrays("flexed", _inputs(), "20.0", _Maker(1))
        other = next(p for p in folder.iterdir() if p != path and not p.name.startswith("."))
        path.write_bytes(other.read_bytes())
    again = _Maker()
    assert _same(cached_arrays("flexed", _inputs(), "30.0", again), make)
    assert again.calls == 1
    third = _Maker()  # written over the damaged file: read next time
    assert _same(cached_arrays("flexed", _inputs(), "30.0", third), make)
    assert third.calls == 0


def test_a_foreign_or_linked_file_is_refused(folder: Path, tmp_path: Path) -> None:
    make = _Maker()
    cached_arrays("flexed", _inputs(), "30.0", make)
    path = _only_file(folder)
    os.chmod(path, 0o644)  # readable by others: not ours to trust
    again = _Maker()
    assert _same(cached_arrays("flexed", _inputs(), "30.0", again), make)
    assert again.calls == 1 and stat.S_IMODE(path.stat().st_mode) == 0o600
    planted = tmp_path / "planted.npz"
    planted.write_bytes(path.read_bytes())
    os.chmod(planted, 0o600)
    path.unlink()
    path.symlink_to(planted)  # a link is never followed
    linked = _Maker()
    cached_arrays("flexed", _inputs(), "30.0", linked)
    assert linked.calls == 1 and not path.is_symlink()
    os.chmod(folder, 0o755)  # a folder others can write to: neither read nor written
    open_folder = _Maker()
    cached_arrays("flexed", _inputs(), "30.0", open_folder)
    assert open_folder.calls == 1


def test_switched_off(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BMES_NO_ATLAS_CACHE", "1")
    make = _Maker()
    cached_arrays("flexed", _inputs(), "30.0", make)
    assert make.calls == 1 and not folder.exists()


@pytest.mark.slow  # two flexed atlases (about 1.5 s each)
def test_the_packaged_flexed_atlas_from_disk_is_the_one_made(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_atlas, "_FLEXED_CACHE", {})
    packaged = _atlas._atlas_and_template("R")
    made = _atlas._flexed(packaged, 30.0)
    assert len([p for p in folder.iterdir() if p.suffix == ".npz"]) == 1
    monkeypatch.setattr(_atlas, "_FLEXED_CACHE", {})
    calls = []
    monkeypatch.setattr(_atlas, "flexed_atlas", lambda *a: calls.append(a))
    read = _atlas._flexed(packaged, 30.0)
    assert not calls  # from disk
    assert np.array_equal(read.labels.array, made.labels.array)
    assert read.template.tobytes() == made.template.tobytes()
    # a caller's own atlas (e.g. a warped copy) is never written
    own = _atlas._PreparedAtlas(packaged.labels, packaged.template + np.float32(0.0),
                                packaged.template_affine)
    monkeypatch.setattr(_atlas, "flexed_atlas", lambda *a: (
        np.asarray(packaged.labels.array), packaged.template))
    _atlas._flexed(own, 30.0)
    assert len([p for p in folder.iterdir() if p.suffix == ".npz"]) == 1
    assert _atlas_cache.cache_folder() == folder

"""The packaged atlas' flexed copy kept on disk, so that a process does not remake it.

:func:`._refine.flexed_atlas` (the atlas with its foot in plantar flexion, tried when a
foot matches the atlas poorly) costs 1.3-2.3 s of CPU per side, once per process: every
``bmes detect`` of such a foot, every review session. It depends only on the packaged
atlas and the code, so it is kept in the user's cache folder
(``$BMES_CACHE/atlas``, else ``$XDG_CACHE_HOME/bmes-imaging/atlas``, else
``~/.cache/bmes-imaging/atlas``; ``BMES_NO_ATLAS_CACHE=1`` switches it off):

* the file name holds a SHA-256 of the package version, the source of the detection
  package (so that a changed flexion or sampling code in a development install never
  reads a copy made by the old code), the flexion angle and the atlas' own arrays
  (labels, template, affines): another version, code or atlas never reads it;
* it is written atomically (:func:`bmes_imaging._atomic.atomic_path`: a temporary file,
  fsync, a rename), 0600 in a 0700 folder;
* a file that is not a regular file of this user with no rights for others, in a
  folder that is, or whose stored key or SHA-256 of its arrays does not match, is
  refused: the flexed atlas is made again and written over it (a damaged, foreign or
  planted file is never used).

Only the packaged atlases are kept (an atlas given by a caller, or a benchmark's warped
copy, is made in memory only).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["cache_folder", "cached_arrays"]

log = logging.getLogger(__name__)

Arrays = tuple[NDArray[np.uint8], NDArray[np.float32]]


def cache_folder() -> Path | None:
    """Where the flexed atlases are kept, or None when switched off."""
    if os.environ.get("BMES_NO_ATLAS_CACHE", "").strip() not in ("", "0"):
        return None
    base = os.environ.get("BMES_CACHE")
    if base:
        return Path(base) / "atlas"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "bmes-imaging" / "atlas"


def _digest(arrays: Sequence[NDArray[np.generic]], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.data)
    return h.hexdigest()


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """SHA-256 of the detection package's source files (the code a cached copy was
    made by)."""
    h = hashlib.sha256()
    for src in sorted(Path(__file__).parent.glob("*.py")):
        h.update(src.name.encode())
        h.update(src.read_bytes())
    return h.hexdigest()


def _private(path: Path, kind: int) -> bool:
    """``path`` is a ``kind`` (stat.S_IFREG / S_IFDIR) of this user, no rights for
    others (a symbolic link is not followed: refused)."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return (stat.S_IFMT(st.st_mode) == kind and st.st_uid == os.getuid()
            and not st.st_mode & 0o077)


def _read(path: Path, key: str) -> Arrays | None:
    """The arrays of ``path`` if it is ours, private and whole; else None."""
    if not path.exists() and not path.is_symlink():
        return None
    if not _private(path.parent, stat.S_IFDIR) or not _private(path, stat.S_IFREG):
        log.warning("atlas cache %s is not a private file of this user: not used", path)
        return None
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            stored, digest = str(z["key"]), str(z["digest"])
            labels, template = np.array(z["labels"]), np.array(z["template"])
    except Exception:  # any damage: a truncated, garbled or foreign file
        log.warning("atlas cache %s is damaged: made again", path, exc_info=True)
        return None
    if (stored != key or labels.dtype != np.uint8 or template.dtype != np.float32
            or _digest((labels, template)) != digest):
        log.warning("atlas cache %s does not match its digest: made again", path)
        return None
    return labels, template


def _write(path: Path, key: str, arrays: Arrays) -> None:
    from .._atomic import atomic_path, make_private_dirs

    make_private_dirs(path.parent)
    if not _private(path.parent, stat.S_IFDIR):
        log.warning("atlas cache folder %s is not private to this user: not written",
                    path.parent)
        return
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, key=np.array(key), digest=np.array(_digest(arrays)),
                 labels=arrays[0], template=arrays[1])


def cached_arrays(name: str, inputs: Sequence[NDArray[np.generic]], params: str,
                  make: Callable[[], Arrays]) -> Arrays:
    """``make()``, read from the cache folder when a valid copy for ``inputs`` (the
    arrays it is made from), ``params`` and this package version is there, else made
    and written there (a failure to write only costs the next process the time)."""
    from .. import __version__

    folder = cache_folder()
    if folder is None:
        return make()
    key = _digest(inputs, f"{name}|{__version__}|{_code_digest()}|{params}")
    path = folder / f"{name}-{key[:32]}.npz"
    got = _read(path, key)
    if got is not None:
        return got
    out = make()
    try:
        _write(path, key, out)
    except OSError:
        log.debug("atlas cache %s not written", path, exc_info=True)
    return out

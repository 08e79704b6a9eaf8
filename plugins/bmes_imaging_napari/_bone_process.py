"""Automatic bone masks in a separate process, beside the napari session.

Registering the foot atlas to a T1 image (:func:`bmes_imaging.detection.automatic_bones`)
is pure-Python optimisation for most of its 1.5 s: in a thread of the napari process it
holds the GIL against the GUI and the T1/fluid alignment, and running them "in parallel"
saved almost nothing. One worker process, started once per session (``spawn``: never a
fork of a process running Qt threads) and holding the prepared atlas, registers the atlas
while this process aligns the series and draws the layers, on the other core.

Nothing depends on the process for correctness: with one CPU, or if it cannot be started
or dies, detection computes the masks in-process as before.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from bmes_imaging.volume import Volume

__all__ = ["shutdown", "start", "submit_automatic_bones"]

log = logging.getLogger(__name__)

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()
_disabled = False


def _prepare() -> None:  # in the worker process
    from bmes_imaging.detection import prepare_atlas

    prepare_atlas()


def _automatic_bones(t1: Volume, config: Any) -> Volume:  # in the worker process
    from bmes_imaging.detection import automatic_bones

    return automatic_bones(t1, config)


def _get_pool() -> ProcessPoolExecutor | None:
    global _pool
    with _lock:
        if _pool is None and not _disabled and (os.cpu_count() or 1) >= 2:
            _pool = ProcessPoolExecutor(max_workers=1,
                                        mp_context=multiprocessing.get_context("spawn"))
            atexit.register(shutdown)
        return _pool


def _submit(fn: Callable[..., Any], *args: Any) -> Future[Any] | None:
    """``fn(*args)`` in the worker process; None when there is none (one CPU, or it
    broke: then the session stays in-process)."""
    pool = _get_pool()
    if pool is None:
        return None
    try:
        return pool.submit(fn, *args)
    except Exception:  # broken or shut down: detection runs in-process
        log.debug("bone-mask process unavailable", exc_info=True)
        _reset()
        return None


def start() -> Future[None] | None:
    """Start the worker process and prepare the atlas in it (returns when asked; the
    future completes when the process is ready). None when there is no second CPU."""
    return _submit(_prepare)


def submit_automatic_bones(t1: Volume, config: Any = None) -> Future[Volume] | None:
    """Automatic bone masks of ``t1`` computed in the worker process, or None when it
    is not available (then compute them in-process)."""
    return _submit(_automatic_bones, t1, config)


def _take_pool() -> ProcessPoolExecutor | None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    return pool


def _reset() -> None:
    global _disabled
    _disabled = True  # once broken, stay in-process for the session
    pool = _take_pool()
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def shutdown() -> None:
    """Stop the worker process (at exit; also safe to call earlier)."""
    pool = _take_pool()
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)

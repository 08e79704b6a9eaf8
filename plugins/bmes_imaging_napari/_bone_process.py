"""Automatic bone masks in a separate process, beside the napari session.

Registering the foot atlas to a T1 image (:func:`bmes_imaging.detection.automatic_bones`)
is pure-Python optimisation for most of its 1.5 s: in a thread of the napari process it
holds the GIL against the GUI and the T1/fluid alignment. One worker process, started
once per session and holding the prepared atlas, registers the atlas while this process
aligns the series and draws the layers, on the other core.

The worker is ``python -m bmes_imaging_napari._bone_worker`` started with
:mod:`subprocess`: a fresh interpreter that imports only that module, never the user's
``__main__`` (``multiprocessing``'s ``spawn`` re-runs a script that lacks an
``if __name__ == "__main__"`` guard). Requests and answers are pickled frames on its
stdin / stdout. The worker ends when its stdin closes (this process exited, however it
exited) and within half a second when this process is gone, even mid-task; a clean
exit of napari also stops it (:func:`shutdown`, at exit and when the viewer closes).

Nothing depends on the process for correctness: with one CPU, or if it cannot be started
or dies, detection computes the masks in-process as before.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import IO, Any

from bmes_imaging.volume import Volume

__all__ = ["WorkerGone", "WorkerStopped", "cancel_request", "gui_process", "is_running",
           "pid", "shutdown", "start", "submit_automatic_bones", "submit_bones_ahead",
           "submit_detect", "submit_export", "submit_painting_ratios"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!Q")
#: Seconds a stopping worker is given to exit by itself before it is terminated.
STOP_TIMEOUT_S = 2.0


#: The switch of the detection's compiled kernels (:mod:`bmes_imaging.detection._kernels`)
#: and the user's own setting of it (given to the worker process).
_NO_NUMBA = "BMES_NO_NUMBA"
_USER_NO_NUMBA = os.environ.get(_NO_NUMBA)


def gui_process() -> None:
    """Mark this process as the GUI's: the detection's compiled kernels stay off here.

    The worker process registers the atlas with them (numba); in this process their
    first use would import numba and load or compile the kernels, a GUI stall of up to
    seconds, for little (the T1 / fluid alignment, and the in-process fallback of the
    bone masks: the numpy code gives the same results). The worker gets the user's own
    ``BMES_NO_NUMBA``."""
    module = sys.modules.get("bmes_imaging.detection._kernels")
    if module is not None:
        module.disable()
    os.environ[_NO_NUMBA] = "1"


class WorkerGone(RuntimeError):
    """The worker process ended or broke before answering (not an error of the task:
    the caller computes in-process instead)."""


class WorkerStopped(WorkerGone):
    """The worker was stopped on purpose (:func:`shutdown`: the session ends) before
    answering: a detection waiting for it ends (no in-process fallback at exit)."""


def write_frame(stream: IO[bytes], obj: Any) -> None:
    """Write one pickled, length-prefixed frame and flush."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """Read one frame; raises EOFError when the stream is closed."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


class _Worker:
    """The child process, its pending futures and the thread reading its answers."""

    def __init__(self) -> None:
        env = dict(os.environ)
        # the worker needs neither a display nor the caller's start-up file
        env.pop("PYTHONSTARTUP", None)
        # the compiled registration kernels are the worker's (off in the GUI process)
        if _USER_NO_NUMBA is None:
            env.pop(_NO_NUMBA, None)
        else:
            env[_NO_NUMBA] = _USER_NO_NUMBA
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bmes_imaging_napari._bone_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            start_new_session=False)
        self.pending: dict[int, Future[Any]] = {}
        #: request id -> callable given each progress report ``(stage, fraction)``
        self.listeners: dict[int, Callable[[tuple[str, float]], None]] = {}
        self.ids = itertools.count()
        self.lock = threading.Lock()
        self.broken = False
        self.stopping = False  # stop() called: answers never come, on purpose
        self.reader = threading.Thread(target=self._read_answers, name="bmes-bone-answers",
                                       daemon=True)
        self.reader.start()
        # requests are written by a thread of their own: a T1 volume is megabytes, and
        # the pipe takes them only as fast as a busy worker reads (never block the GUI)
        self.requests: queue.SimpleQueue[tuple[int, str, tuple[Any, ...]] | None] = \
            queue.SimpleQueue()
        self.writer = threading.Thread(target=self._write_requests,
                                       name="bmes-bone-requests", daemon=True)
        self.writer.start()

    def submit(self, name: str, *args: Any,
               listener: Callable[[tuple[str, float]], None] | None = None
               ) -> tuple[int, Future[Any]]:
        """Send ``name(*args)``: (request id, future of the answer); ``listener`` is
        given the request's progress reports (in the answer-reading thread)."""
        future: Future[Any] = Future()
        with self.lock:
            if self.broken or self.proc.stdin is None:
                raise WorkerGone("bone-mask process is not running")
            n = next(self.ids)
            self.pending[n] = future
            if listener is not None:
                self.listeners[n] = listener
        self.requests.put((n, name, args))
        return n, future

    def _write_requests(self) -> None:  # writer thread
        while True:
            request = self.requests.get()
            if request is None or self.proc.stdin is None:
                return
            try:
                write_frame(self.proc.stdin, request)
            except (OSError, ValueError):
                with self.lock:
                    self.broken = True
                    future = self.pending.pop(request[0], None)
                if future is not None and not future.done():
                    future.set_exception(WorkerGone("the bone-mask process is gone"))
                return

    def _read_answers(self) -> None:  # reader thread
        assert self.proc.stdout is not None
        try:
            while True:
                n, ok, value = read_frame(self.proc.stdout)
                if ok is None:  # a progress report, not the answer
                    listener = self.listeners.get(n)
                    if listener is not None:
                        listener(value)
                    continue
                with self.lock:
                    future = self.pending.pop(n, None)
                    self.listeners.pop(n, None)
                if future is None or future.cancelled():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        except (EOFError, OSError, pickle.UnpicklingError, ValueError):
            pass
        with self.lock:
            self.broken = True
            pending, self.pending = self.pending, {}
            self.listeners.clear()
        gone = WorkerStopped if self.stopping else WorkerGone
        for future in pending.values():
            if not future.done():
                future.set_exception(gone("the bone-mask process ended"))

    def stop(self) -> None:
        """Close its stdin (it exits), then terminate / kill it if it does not."""
        with self.lock:
            self.broken = self.stopping = True
            stdin = self.proc.stdin
            busy = bool(self.pending)
        self.requests.put(None)
        if busy:  # a request may be half written: end the worker first
            try:
                self.proc.terminate()
            except OSError:
                pass
        self.writer.join(timeout=STOP_TIMEOUT_S)
        try:
            if stdin is not None:
                stdin.close()
        except OSError:
            pass
        # idle, it exits on EOF at once; busy registering an atlas, it is not waited for
        first = self.proc.terminate if busy else None
        for action in (first, self.proc.terminate, self.proc.kill):
            if action is not None:
                try:
                    action()
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_worker: _Worker | None = None
_lock = threading.Lock()
_disabled = False
_atexit_registered = False


def _get_worker() -> _Worker | None:
    global _worker, _atexit_registered, _disabled
    with _lock:
        if _worker is None and not _disabled and (os.cpu_count() or 1) >= 2:
            try:
                _worker = _Worker()
            except OSError:
                log.debug("bone-mask process could not start", exc_info=True)
                _disabled = True
                return None
            if not _atexit_registered:
                atexit.register(shutdown)
                _atexit_registered = True
        return _worker


def _submit(name: str, *args: Any) -> Future[Any] | None:
    """``name(*args)`` in the worker process; None when there is none (one CPU, or it
    broke: then the session stays in-process)."""
    request = _submit_numbered(name, *args)
    return None if request is None else request[1]


def _submit_numbered(name: str, *args: Any,
                     listener: Callable[[tuple[str, float]], None] | None = None
                     ) -> tuple[int, Future[Any]] | None:
    worker = _get_worker()
    if worker is None:
        return None
    try:
        return worker.submit(name, *args, listener=listener)
    except WorkerGone:  # broken: detection runs in-process
        log.debug("bone-mask process unavailable", exc_info=True)
        _reset()
        return None


def start() -> Future[None] | None:
    """Start the worker process and prepare the atlas in it (returns at once; the
    future completes when the process is ready). None when there is no second CPU."""
    return _submit("prepare")


def submit_automatic_bones(t1: Volume, config: Any = None) -> Future[Volume] | None:
    """Automatic bone masks of ``t1`` computed in the worker process, or None when it
    is not available (then compute them in-process)."""
    return _submit("automatic_bones", t1, config)


def submit_bones_ahead(key: str, t1: Volume, config: Any = None) -> Future[None] | None:
    """Start the automatic bone masks of study ``key`` in the worker process, kept there
    for its detection (:func:`submit_detect`); the future completes (None) when they
    are ready. None when the process is not available."""
    return _submit("bones_ahead", key, t1, config)


def submit_detect(key: str, t1: Volume, fluid: Volume, kwargs: dict[str, Any],
                  cache_folder: str | None,
                  listener: Callable[[tuple[str, float]], None] | None = None
                  ) -> tuple[int, Future[Any]] | None:
    """Detection of study ``key`` in the worker process
    (:func:`._remote_detection.detect_with_masks` with the masks started there by
    :func:`submit_bones_ahead`, else started now); ``cache_folder``: where the worker
    writes the study's detector cache. (request id, future of the ``EdemaResult``), or
    None when the process is not available. ``listener`` gets the progress reports."""
    return _submit_numbered("detect", key, t1, fluid, kwargs, cache_folder,
                            listener=listener)


def submit_painting_ratios(detection: int) -> Future[Any] | None:
    """The painting ratios of the worker's detection request ``detection`` (the last
    one it answered), computed there; None when the process is not available."""
    return _submit("painting_ratios", detection)


def cancel_request(number: int) -> None:
    """Ask the worker to stop request ``number`` (a detection) at its next step."""
    worker = _worker
    if worker is not None:
        try:
            worker.submit("cancel", number)
        except WorkerGone:
            pass


def submit_export(kind: str, t1: Volume, path: str, kwargs: dict[str, Any]) -> Future[Any] | None:
    """Write a DICOM SEG (``kind="seg"``) or SR + SEG (``"sr"``) in the worker process
    (highdicom's encoding is pure Python: in a thread here it would hold the GUI's
    GIL); None when the process is not available (then write in-process). The
    future's result is the ``SegExport``; a :class:`WorkerGone` error means the process
    ended before answering."""
    return _submit("export", kind, t1, path, kwargs)


def is_running() -> bool:
    """True while the worker process is alive."""
    worker = _worker
    return worker is not None and worker.proc.poll() is None


def pid() -> int | None:
    """Process id of the worker, or None when there is none."""
    worker = _worker
    return worker.proc.pid if worker is not None else None


def _take_worker() -> _Worker | None:
    global _worker
    with _lock:
        worker, _worker = _worker, None
    return worker


def _reset() -> None:
    global _disabled
    _disabled = True  # once broken, stay in-process for the session
    worker = _take_worker()
    if worker is not None:
        worker.stop()


def shutdown() -> None:
    """Stop the worker process (at exit and when the viewer closes; safe to call
    again: a later request starts a new one)."""
    worker = _take_worker()
    if worker is not None:
        worker.stop()

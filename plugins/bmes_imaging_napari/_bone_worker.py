"""The bone-mask worker process: ``python -m bmes_imaging_napari._bone_worker``.

Serves automatic bone masks, the review's detection (alignment, signal comparison and
findings: :mod:`._remote_detection`) and the review's DICOM SEG / SR export (pure-Python
encoding that would otherwise hold the GUI process's GIL).

Reads ``(id, name, args)`` frames on stdin, answers ``(id, ok, value)`` on stdout (see
:mod:`._bone_process`); ``ok`` None is a progress report ``(stage, fraction)`` of a
running request. Bone masks run in one thread of their own and detections in another,
so a detection aligns the series while the study's masks (started ahead) finish; the
other requests are served in the reading thread. Ends when stdin closes, and at once
when its parent process is gone (a watchdog thread). Ctrl+C in the terminal reaches
the whole process group: the worker ignores it and lets napari shut it down.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import IO, Any

__all__ = ["main"]


def _watch_parent(interval_s: float = 0.5) -> None:
    """Exit at once when the parent process is gone, even in the middle of a task.

    (``PR_SET_PDEATHSIG`` would fire when the parent's *thread* that started the worker
    ends, and napari starts it from a short-lived thread.)
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="bmes-parent-watch", daemon=True).start()


def _prepare() -> None:
    """The atlas and its templates, and the modules the first automatic bone masks
    import on first use (the atlas library's store lookup, the watershed of the image-
    decided boundaries: about a second the first request would otherwise wait for)."""
    from bmes_imaging.detection import prepare_atlas

    prepare_atlas()
    import scipy.signal  # noqa: F401
    from skimage.segmentation import watershed  # noqa: F401  (lazily loaded module)

    import bmes_imaging.store  # noqa: F401


def _automatic_bones(t1: Any, config: Any) -> Any:
    from bmes_imaging.detection import automatic_bones

    return automatic_bones(t1, config)


def _export(kind: str, t1: Any, path: str, kwargs: dict[str, Any]) -> Any:
    from ._review_export import write_export

    return write_export(kind, t1, path, kwargs)


class _Lane:
    """One daemon thread running the calls given to it in order (a daemon: the
    process exits at once when its stdin closes, never waiting for a registration)."""

    def __init__(self, name: str) -> None:
        self.calls: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] \
            = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, func: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.calls.put((future, func, args))
        return future

    def _run(self) -> None:
        while True:
            future, func, args = self.calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(func(*args))
            except BaseException as exc:  # noqa: BLE001  answered to the caller
                future.set_exception(exc)


class _Server:
    """The requests' state: the answer stream (one writer at a time), the lanes, the
    bone masks computed ahead per study and the cancelled requests."""

    #: studies whose masks are kept (the open one and the one before)
    KEEP = 2

    def __init__(self, answers: IO[bytes]) -> None:
        self.answers = answers
        self.write_lock = threading.Lock()
        self.masks_lane = _Lane("bmes-masks")
        self.detect_lane = _Lane("bmes-detect")
        self.ahead: dict[str, tuple[Any, Future[Any]]] = {}
        self.cancelled: set[int] = set()
        self.ahead_lock = threading.Lock()
        #: the last detection answered: (request id, T1, result, config), for its
        #: painting ratios (asked for after the answer)
        self.last: tuple[int, Any, Any, Any] | None = None

    def send(self, n: int, ok: bool | None, value: Any) -> None:
        """Write one answer (or progress report); OSError when the parent is gone."""
        from ._bone_process import write_frame

        with self.write_lock:
            try:
                write_frame(self.answers, (n, ok, value))
            except OSError:
                raise
            except Exception as exc:  # noqa: BLE001  e.g. an exception that does not pickle
                write_frame(self.answers, (n, False, RuntimeError(f"{type(exc).__name__}: "
                                                                  f"{exc}")))

    def answer_when_done(self, n: int, future: Future[Any],
                         value: Callable[[Any], Any] = lambda v: v) -> None:
        def done(f: Future[Any]) -> None:
            exc = f.exception()
            try:
                if exc is None:
                    self.send(n, True, value(f.result()))
                else:
                    self.send(n, False, _answer_error(exc) if isinstance(exc, Exception)
                              else RuntimeError(f"{type(exc).__name__}: {exc}"))
            except OSError:
                os._exit(0)  # the parent is gone

        future.add_done_callback(done)

    def masks_for(self, key: str, t1: Any, config: Any) -> Future[Any]:
        """The masks of study ``key``: started ahead for this T1, else started now."""
        import numpy as np

        with self.ahead_lock:
            kept = self.ahead.get(key)
            if kept is not None and kept[0].shape == t1.shape \
                    and np.allclose(kept[0].affine, t1.affine) \
                    and np.array_equal(kept[0].array, t1.array):
                return kept[1]
            future = self.masks_lane.submit(_automatic_bones, t1, config)
            self.ahead.pop(key, None)
            self.ahead[key] = (t1, future)
            while len(self.ahead) > self.KEEP:
                self.ahead.pop(next(iter(self.ahead)))
            return future

    def detect(self, n: int, key: str, t1: Any, fluid: Any, kwargs: dict[str, Any]) -> Any:
        """Detection request ``n`` (in the detection lane)."""
        from ._remote_detection import DetectionCancelled, detect_with_masks

        def progress(stage: str, fraction: float) -> None:
            if n in self.cancelled:
                raise DetectionCancelled(stage)
            try:
                self.send(n, None, (str(stage), float(fraction)))
            except OSError:
                os._exit(0)

        masks = None
        if kwargs.get("bones") is None and not kwargs.get("seeds"):
            masks = self.masks_for(key, t1, kwargs.get("config"))
        try:
            result = detect_with_masks(t1, fluid, masks, progress, **kwargs)
        finally:
            self.cancelled.discard(n)
        self.last = (n, t1, result, kwargs.get("config"))
        return result

    def painting_ratios(self, detection: int) -> Any:
        """The painting ratios of detection request ``detection`` (in the detection
        lane, after its answer and its cache)."""
        from ._remote_detection import painting_ratios

        last = self.last
        if last is None or last[0] != detection:
            raise LookupError(f"detection request {detection} is not the last one here")
        _, t1, result, config = last
        return painting_ratios(t1, result.bones, result.fluid_aligned, config)

    def serve(self, n: int, name: str, args: tuple[Any, ...]) -> None:
        """Start or run request ``n``."""
        if name == "bones_ahead":
            key, t1, config = args
            self.answer_when_done(n, self.masks_for(key, t1, config), lambda _: None)
        elif name == "automatic_bones":
            self.answer_when_done(n, self.masks_lane.submit(_automatic_bones, *args))
        elif name == "detect":
            *request, cache_folder = args
            future = self.detect_lane.submit(self.detect, n, *request)
            self.answer_when_done(n, future)
            if cache_folder:  # next in the lane: after the answer is sent
                self.detect_lane.submit(_write_cache, future, cache_folder)
        elif name == "painting_ratios":
            self.answer_when_done(n, self.detect_lane.submit(self.painting_ratios, *args))
        elif name == "cancel":
            self.cancelled.add(args[0])
            self.send(n, True, None)
        else:
            try:
                value, ok = _TASKS[name](*args), True
            except Exception as exc:  # noqa: BLE001  returned to the caller (falls back in-process)
                value, ok = _answer_error(exc), False
            self.send(n, ok, value)


def _write_cache(detection: Future[Any], folder: str) -> None:
    """The study's detector cache (bones, aligned fluid) of a detection that succeeded,
    as the review model writes it; a failure only costs a later detection."""
    from pathlib import Path

    from bmes_imaging.errors import BmesError

    from ._ahead import write_cached

    if detection.exception() is not None:
        return
    result = detection.result()
    try:  # (private folders: a plain mkdir here made the study's folder 0755)
        write_cached(Path(folder), result.bones, result.fluid_aligned)
    except (BmesError, OSError, ValueError):
        pass


_TASKS: dict[str, Callable[..., Any]] = {"prepare": _prepare, "export": _export}


def _answer_error(exc: Exception) -> Exception:
    """``exc`` if the parent can unpickle it, else a RuntimeError naming it (an error
    class whose constructor takes other arguments would not rebuild there)."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001  any failure to round-trip
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def main() -> int:
    """Serve requests until stdin closes."""
    from ._bone_process import read_frame

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _watch_parent()
    requests = sys.stdin.buffer
    server = _Server(sys.stdout.buffer)
    sys.stdout = sys.stderr  # a stray print must not corrupt the answer stream
    while True:
        try:
            n, name, args = read_frame(requests)
        except EOFError:
            return 0
        try:
            server.serve(n, name, args)
        except OSError:  # the parent is gone
            return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # the lanes' daemon threads may be mid-task: do not wait for them

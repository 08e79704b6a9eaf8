"""The bone-mask worker process: ``python -m bmes_imaging_napari._bone_worker``.

Serves automatic bone masks and the review's DICOM SEG / SR export (pure-Python
encoding that would otherwise hold the GUI process's GIL).

Reads ``(id, name, args)`` frames on stdin, answers ``(id, ok, value)`` on stdout (see
:mod:`._bone_process`). Ends when stdin closes, and at once when its parent process is
gone (a watchdog thread). Ctrl+C in the terminal reaches the whole process group: the
worker ignores it and lets napari shut it down.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

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


_TASKS: dict[str, Callable[..., Any]] = {"prepare": _prepare,
                                         "automatic_bones": _automatic_bones,
                                         "export": _export}


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
    from ._bone_process import read_frame, write_frame

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _watch_parent()
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answer stream
    while True:
        try:
            n, name, args = read_frame(requests)
        except EOFError:
            return 0
        try:
            value, ok = _TASKS[name](*args), True
        except Exception as exc:  # noqa: BLE001  returned to the caller (falls back in-process)
            value, ok = _answer_error(exc), False
        try:
            write_frame(answers, (n, ok, value))
        except OSError:  # the parent is gone
            return 0
        except Exception as exc:  # noqa: BLE001  e.g. an exception that does not pickle
            try:
                write_frame(answers, (n, False, RuntimeError(f"{type(exc).__name__}: {exc}")))
            except OSError:
                return 0


if __name__ == "__main__":
    sys.exit(main())

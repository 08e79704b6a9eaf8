"""Warm-up of the review dock: what makes the first study open and detection fast.

Done once per process while the reader is still choosing a study: the imports the first
open needs, napari's first image and labels layers, and the bone-mask process with its
foot atlas (:mod:`.._bone_process`). Nothing here is needed for correct results.
"""

from __future__ import annotations

import logging
import threading

from qtpy.QtCore import QTimer

__all__ = ["warm_up", "warm_up_done"]

log = logging.getLogger(__name__)

_warm_up_started = threading.Event()
#: Set when :func:`warm_up` is done, the atlas included (benchmarks wait on it).
warm_up_done = threading.Event()


def _prepare_atlas() -> None:  # a daemon thread
    """The bone atlas, in the bone-mask process (else in this one, for detection)."""
    try:
        from .._bone_process import start

        ready = start()
        if ready is not None:
            ready.result()
        else:
            from bmes_imaging.detection import prepare_atlas

            prepare_atlas()
    except Exception:  # only a head start; detection reports real errors
        log.debug("bone atlas warm-up failed", exc_info=True)
    finally:
        warm_up_done.set()


def _warm_up_gui() -> None:  # GUI thread, when idle
    """Imports the first open and detection need, then one image and one labels layer
    made and dropped (napari sets up its unit registry and layer machinery on the first
    ones), then the bone-mask process with its atlas (waited for in a background thread).

    The imports stay in the GUI thread: an import in another thread can add warning
    filters while a DICOM read has them swapped out (``warnings.catch_warnings`` is
    process-wide), and lose them.
    """
    try:
        import numpy as np
        import pandas  # noqa: F401  napari's layer features (first labels layer)
        import pydicom.pixels  # noqa: F401  pixel decoders (first DICOM load)
        from napari.layers import Image, Labels

        import bmes_imaging.detection
        import bmes_imaging.dicom  # noqa: F401

        Image(np.zeros((2, 2, 2), dtype=np.float32), scale=(1.0, 1.0, 2.0))
        Labels(np.zeros((2, 2, 2), dtype=np.uint8))
    except Exception:
        log.debug("warm-up failed", exc_info=True)
    threading.Thread(target=_prepare_atlas, name="bmes-warm-up", daemon=True).start()


def warm_up() -> None:
    """Prepare, once per process and while the reader is still choosing a study, what
    makes the first open and detection fast (imports, napari's first layers, the bone
    atlas). Nothing here is needed for correct results, only for speed.
    """
    if _warm_up_started.is_set():
        return
    _warm_up_started.set()
    QTimer.singleShot(0, _warm_up_gui)

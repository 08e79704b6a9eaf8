"""Warm-up of the review dock: what makes the first study open and detection fast.

Done once per process while the reader is still choosing a study: the imports the first
open needs, napari's first image and labels layers, and the bone-mask process with its
foot atlas (:mod:`.._bone_process`). Nothing here is needed for correct results.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

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


def _warm_up_gui(viewer: Any = None) -> None:  # GUI thread, when idle
    """Imports the first open and detection need, then one image and one labels layer
    made and dropped (napari sets up its unit registry and layer machinery on the first
    ones; in an empty ``viewer`` they are added, hidden, and removed: vispy builds its
    image and labels visuals the first time, about 1.5 s that the first open would
    otherwise freeze for), then the bone-mask process with its atlas (waited for in a
    background thread).

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
    _warm_up_visuals(viewer)
    threading.Thread(target=_prepare_atlas, name="bmes-warm-up", daemon=True).start()


def _warm_up_visuals(viewer: Any) -> None:
    """A hidden image and labels layer added to an empty viewer and removed again."""
    if viewer is None:
        return
    try:
        if len(viewer.layers) > 0:  # the reader's layers: leave them be
            return
        import numpy as np

        added = [viewer.add_image(np.zeros((2, 2, 2), dtype=np.float32), visible=False,
                                  name="bmes warm-up image"),
                 viewer.add_labels(np.zeros((2, 2, 2), dtype=np.uint8), visible=False,
                                   name="bmes warm-up labels")]
        for layer in reversed(added):
            viewer.layers.remove(layer)
    except Exception:
        log.debug("warm-up of the viewer's visuals failed", exc_info=True)


def warm_up(viewer: Any = None) -> None:
    """Prepare, once per process and while the reader is still choosing a study, what
    makes the first open and detection fast (imports, napari's first layers, in
    ``viewer`` if it is empty, the bone atlas). Nothing here is needed for correct
    results, only for speed.
    """
    if _warm_up_started.is_set():
        return
    _warm_up_started.set()
    ref = weakref.ref(viewer) if viewer is not None else None
    QTimer.singleShot(0, lambda: _warm_up_gui(ref() if ref is not None else None))

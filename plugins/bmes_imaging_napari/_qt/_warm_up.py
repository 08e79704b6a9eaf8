"""Warm-up of the review dock: what makes the first study open and detection fast.

Done once per process while the reader is still choosing a study, one step per
event-loop turn (:class:`~._turns.Turns`: the window stays responsive): the imports the
first open needs, the five layers a study shows (added on a tiny empty volume, drawn
once with the caption's glyphs and the scale bar, then hidden and kept for the first
study to reuse: :mod:`._warm_layers`), then the bone-mask process with its foot atlas
(:mod:`.._bone_process`, the long pole of a first detection, waited for in a
background thread; a study opened meanwhile starts it itself). Nothing here is needed
for correct results.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from qtpy.QtCore import QTimer

from ._turns import Turns

__all__ = ["warm_up", "warm_up_done"]

log = logging.getLogger(__name__)

_warm_up_started = threading.Event()
#: Set when :func:`warm_up` is done, the atlas included (benchmarks wait on it).
warm_up_done = threading.Event()
#: The GUI part's steps while they run (kept from garbage collection).
_running: list[Turns] = []
#: Set when the GUI part is done (the atlas thread may still run).
_gui_done = threading.Event()
_atlas_done = threading.Event()
#: Every character the caption and the slice line draw (first glyph renders are slow).
_GLYPHS = "".join(chr(c) for c in range(32, 127)) + "·"


def _finished(part: threading.Event) -> None:
    part.set()
    if _gui_done.is_set() and _atlas_done.is_set():
        warm_up_done.set()


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
        _finished(_atlas_done)


def _imports() -> None:
    """The modules the first open and detection import (in the GUI thread: an import
    in another thread can add warning filters while a DICOM read has them swapped out,
    ``warnings.catch_warnings`` being process-wide, and lose them)."""
    import nibabel  # noqa: F401  the store's label maps (first candidates saved: 0.25 s)
    import numpy as np
    import pandas  # noqa: F401  napari's layer features (first labels layer)
    import pydicom.pixels  # noqa: F401  pixel decoders (first DICOM load)
    from napari.layers import Image, Labels

    import bmes_imaging.detection
    import bmes_imaging.dicom  # noqa: F401

    # napari sets up its unit registry and layer machinery on the first layers
    Image(np.zeros((2, 2, 2), dtype=np.float32), scale=(1.0, 1.0, 2.0))
    Labels(np.zeros((2, 2, 2), dtype=np.uint8))


def _draw_once(viewer: Any) -> None:
    """One frame drawn now (``viewer.screenshot``) with the warm-up's layers, the
    caption's glyphs in the text overlay (transparent) and the scale bar (settings put
    back): the shaders of the layers' visuals, the glyph textures and the scale bar's
    visual are built here instead of in the first paint of a study."""
    from ._canvas import scale_bar, text_overlay

    overlay, bar = text_overlay(viewer), scale_bar(viewer)
    saved = {name: getattr(overlay, name) for name in ("text", "visible", "color",
                                                      "font_size")}
    bar_visible = bar.visible
    try:
        overlay.text, overlay.font_size = _GLYPHS, 12
        overlay.color, overlay.visible = (0.0, 0.0, 0.0, 0.0), True
        bar.visible = True  # napari builds an overlay's visual when first shown
        viewer.screenshot(canvas_only=True, flash=False)
    finally:
        for name, value in saved.items():
            setattr(overlay, name, value)
        if bar.visible != bar_visible:
            bar.visible = bar_visible


def _visual_steps(viewer: Any) -> Iterator[None]:
    """In an empty viewer: the five layers a study shows added on a tiny empty volume
    (:func:`._warm_layers.warm_layer_data`), one per step, the sagittal reading view
    set, one frame drawn with them (:func:`_draw_once`), then hidden and kept for the
    first study to reuse (as every later study reuses its predecessor's). Stops adding
    once a study is being shown."""
    if len(viewer.layers) > 0:  # the reader's layers: leave them be
        return
    from ._warm_layers import is_warm, study_taken_over, warm_layer_data

    added = []
    for data, params, kind in warm_layer_data():
        if study_taken_over(viewer):
            break
        layer = getattr(viewer, f"add_{kind}")(data, **params)
        if params["metadata"]["bmes_imaging"]["role"] == "bones":
            layer.contour = 1  # as the review shows bones
        added.append(layer)
        yield None
    if not study_taken_over(viewer):  # the sagittal reading view, as a study sets it
        from ._viewer_layers import orient_for_plane

        orient_for_plane(viewer, "sagittal")
        yield None
    if not study_taken_over(viewer):
        _draw_once(viewer)
        yield None
    for layer in added:  # hidden until a study takes them
        if is_warm(layer) and layer in viewer.layers and layer.visible:
            layer.visible = False


def _gui_steps(viewer_ref: Callable[[], Any]) -> Iterator[None]:
    """The warm-up's GUI steps; each failure only loses its head start.

    The bone-mask process starts last, when this thread imports nothing more: napari's
    Ctrl+C handler waits for the worker threads, and one of them waiting for a module
    this thread is importing would never end."""
    try:
        _imports()
    except Exception:
        log.debug("warm-up imports failed", exc_info=True)
    yield None
    viewer = viewer_ref()
    steps = _visual_steps(viewer) if viewer is not None else iter(())
    del viewer  # a viewer closed meanwhile is not kept alive
    while True:
        try:
            if next(steps, StopIteration) is StopIteration:
                break
        except Exception:
            log.debug("warm-up of the viewer's visuals failed", exc_info=True)
            break
        yield None
    threading.Thread(target=_prepare_atlas, name="bmes-warm-up", daemon=True).start()


def _gui_finished(turns: Turns) -> None:
    if turns in _running:
        _running.remove(turns)
    _finished(_gui_done)


def warm_up(viewer: Any = None) -> None:
    """Prepare, once per process and while the reader is still choosing a study, what
    makes the first open and detection fast (the bone atlas in the bone-mask process,
    imports, and, if ``viewer`` is empty, the five layers a study shows drawn once and
    kept hidden for the first study to reuse). Nothing here is needed for correct
    results, only for speed; it starts on the next event-loop turn and runs one step
    per turn.
    """
    if _warm_up_started.is_set():
        return
    _warm_up_started.set()
    _gui_done.clear()
    _atlas_done.clear()
    ref: Callable[[], Any] = (weakref.ref(viewer) if viewer is not None
                              else (lambda: None))

    def start() -> None:
        turns = Turns()
        _running.append(turns)
        done = lambda: _gui_finished(turns)  # noqa: E731
        turns.run(_gui_steps(ref), done=done, failed=lambda exc: done())

    QTimer.singleShot(0, start)

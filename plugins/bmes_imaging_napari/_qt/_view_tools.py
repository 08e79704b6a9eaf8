"""Reading tools beside the images: window / level, a distance ruler, edema fill or outline.

:class:`ViewTools` is a row of controls the review dock composes; it is given the
viewer and the review model and works on the open study's layers:

* **Window / level** presets for the shown series: the series' own WindowCenter /
  WindowWidth (from its DICOM header), the automatic percentiles, a narrow and a wide
  window; and by mouse: **right-button drag** on the canvas changes the level
  (up / down) and the width (left / right) of the top visible series, as in PACS viewers.
* **Measure**: a shapes layer in line mode; each line is labelled with its length in
  mm (world coordinates are millimetres).
* **Edema outline**: the edema labels drawn as outlines instead of filled.
* **3 views**: coronal and axial views linked to this one by a crosshair
  (:mod:`._linked_views`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
from qtpy.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QPushButton, QWidget

from .._layers import AXIS_LABELS, contrast_limits_for
from ._linked_views import LinkedViews
from ._viewer_layers import plugin_meta

__all__ = ["PRESETS", "ViewTools", "series_window"]

#: Window presets: name -> (lower, upper) percentiles of the series (None: DICOM's own).
PRESETS: dict[str, tuple[float, float] | None] = {
    "Series W/L": None, "Auto": (0.5, 99.5), "Narrow": (5.0, 95.0), "Wide": (0.0, 100.0),
}
MEASURE_NAME = "Measure (mm)"


def series_window(info: Any) -> tuple[float, float] | None:
    """(lower, upper) of the series' own WindowCenter / WindowWidth, or None."""
    files = getattr(info, "source_files", ()) or ()
    if not files:
        return None
    import pydicom

    try:
        ds = pydicom.dcmread(files[0], stop_before_pixels=True, force=True,
                             specific_tags=["WindowCenter", "WindowWidth"])
        centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    except (OSError, ValueError, TypeError):
        return None
    if centre is None or width is None:
        return None
    c = float(centre[0] if isinstance(centre, pydicom.multival.MultiValue) else centre)
    w = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    return (c - w / 2.0, c + w / 2.0) if w > 0 else None


class ViewTools(QWidget):
    """Window / level presets and drag, the ruler, edema fill / outline."""

    def __init__(self, viewer: Any, model: Any) -> None:
        super().__init__()
        self.viewer = viewer
        self.model = model
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(list(PRESETS))
        self.preset_combo.setToolTip("Window / level of the shown series (right-drag on "
                                     "the image: up/down level, left/right width)")
        self.preset_combo.activated.connect(lambda _: self.apply_preset())
        self.measure_button = QPushButton("Measure")
        self.measure_button.setToolTip("Draw lines; each shows its length in mm")
        self.measure_button.clicked.connect(self.start_measuring)
        self.views_button = QPushButton("3 views")
        self.views_button.setToolTip("Coronal and axial views beside this one, linked by a "
                                     "crosshair")
        self.views_button.clicked.connect(lambda: self.open_linked_views())
        self.linked: LinkedViews | None = None
        self.outline_check = QCheckBox("Edema outline")
        self.outline_check.toggled.connect(self.set_edema_outline)
        row.addWidget(self.preset_combo, 1)
        row.addWidget(self.measure_button)
        row.addWidget(self.views_button)
        row.addWidget(self.outline_check)
        viewer.mouse_drag_callbacks.append(self._window_drag)

    # ------------------------------------------------------------ window / level
    def _series_layers(self) -> list[Any]:
        return [layer for layer in self.viewer.layers
                if (plugin_meta(layer) or {}).get("role") in ("t1", "fluid")]

    def shown_series(self) -> Any:
        """The top visible T1 / fluid layer (what the reader looks at), or None."""
        shown = [layer for layer in self._series_layers() if layer.visible]
        return shown[-1] if shown else None

    def apply_preset(self, name: str | None = None) -> tuple[float, float] | None:
        """Apply a preset (default: the combo's) to the shown series; its limits."""
        layer = self.shown_series()
        if layer is None:
            return None
        name = name or self.preset_combo.currentText()
        meta = plugin_meta(layer) or {}
        info = meta.get("info")
        percentiles = PRESETS.get(name)
        limits = series_window(info) if percentiles is None else None
        if limits is None:
            data = np.asarray(layer.data)
            lo_p, hi_p = percentiles or PRESETS["Auto"] or (0.5, 99.5)
            flat = data.ravel()[:: max(1, data.size // 1_000_000)]
            nonzero = flat[flat != 0]
            values = nonzero if nonzero.size else flat
            lo, hi = (float(v) for v in np.percentile(values, [lo_p, hi_p]))
            limits = (lo, hi) if hi > lo else contrast_limits_for(data, info and
                                                                  info.sequence)
        self._set_limits(layer, limits)
        return limits

    @staticmethod
    def _set_limits(layer: Any, limits: tuple[float, float]) -> None:
        lo, hi = limits
        lo_range, hi_range = layer.contrast_limits_range
        if lo < lo_range or hi > hi_range:
            layer.contrast_limits_range = (min(lo, lo_range), max(hi, hi_range))
        layer.contrast_limits = (lo, hi)

    def _window_drag(self, viewer: Any, event: Any) -> Generator[None, None, None] | None:
        """Right-button drag: level with up / down, width with left / right."""
        if getattr(event, "button", None) != 2:
            return None
        return self._drag(event)

    def _drag(self, event: Any) -> Generator[None, None, None]:
        layer = self.shown_series()
        if layer is None:
            return
        lo, hi = layer.contrast_limits
        start = np.asarray(event.pos, dtype=float)
        span = max(hi - lo, 1e-6)
        yield
        while event.type == "mouse_move":
            dx, dy = np.asarray(event.pos, dtype=float) - start
            width = max(span * float(np.exp(dx / 200.0)), 1e-6)
            centre = (lo + hi) / 2.0 - dy / 200.0 * span
            self._set_limits(layer, (centre - width / 2.0, centre + width / 2.0))
            yield

    # ------------------------------------------------------------ linked views
    def open_linked_views(self, *, show: bool = True) -> LinkedViews:
        """Axial and coronal views linked to this one by a crosshair (opened or
        refreshed with the open study's layers)."""
        if self.linked is None:
            self.linked = LinkedViews(self.viewer)
        self.linked.open(show=show)
        return self.linked

    def close_linked_views(self) -> None:
        """Close the linked views (the review dock closes)."""
        if self.linked is not None:
            self.linked.close()
            self.linked = None

    # ------------------------------------------------------------------ ruler
    def start_measuring(self) -> Any:
        """Add (or select) the ruler layer in line mode; returns it."""
        layer = next((x for x in self.viewer.layers if x.name == MEASURE_NAME), None)
        if layer is None:
            layer = self.viewer.add_shapes(
                name=MEASURE_NAME, ndim=self.viewer.dims.ndim, edge_color="yellow",
                edge_width=0.6, features={"length_mm": np.zeros(0)},
                units=("mm", "mm", "mm"), axis_labels=AXIS_LABELS,
                text={"string": "{length_mm:.1f} mm", "color": "yellow", "size": 10})
            layer.events.data.connect(lambda event: self.update_lengths(layer))
        self.viewer.layers.selection.active = layer
        layer.mode = "add_line"
        return layer

    @staticmethod
    def update_lengths(layer: Any) -> None:
        """Label every line of the ruler layer with its length (mm)."""
        lengths = [float(np.linalg.norm(np.diff(np.asarray(d, dtype=float)[[0, -1]],
                                                axis=0)))
                   for d in layer.data]
        layer.features = {"length_mm": np.asarray(lengths, dtype=float)}
        layer.refresh_text()

    # ------------------------------------------------------------------ edema
    def set_edema_outline(self, outline: bool) -> None:
        """Edema labels as outlines (True) or filled (False)."""
        for layer in self.viewer.layers:
            if (plugin_meta(layer) or {}).get("role") == "edema" \
                    and layer.contour != int(outline):  # each set redraws
                layer.contour = int(outline)

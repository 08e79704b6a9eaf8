"""Axial, coronal and sagittal views linked by a crosshair.

napari's multi-canvas is not public API: the two other planes are shown in two more
napari viewers (``napari.Viewer``) holding the same layers (the same arrays: edits of
the edema show in every view), placed in the same RAS+ millimetre world. The three
viewers share one 3-D point: moving the slider (or clicking) in one moves the slices
of the others, and a crosshair in each view marks where the other two planes cut it.

Radiological display: coronal and axial views show the patient's right on the screen's
left; superior up (coronal), anterior up (axial).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._layers import AXIS_LABELS
from ._viewer_layers import camera_of, plugin_meta
from ._warm_layers import is_warm

__all__ = ["CROSSHAIR_NAME", "PLANES", "LinkedViews"]

CROSSHAIR_NAME = "Crosshair"
#: plane -> (dims order: slider first, then vertical, horizontal; camera orientation2d)
PLANES: dict[str, tuple[tuple[int, int, int], tuple[str, str]]] = {
    "sagittal": ((0, 2, 1), ("up", "left")),
    "coronal": ((1, 2, 0), ("up", "left")),
    "axial": ((2, 1, 0), ("up", "left")),
}
_ROLES = ("t1", "fluid", "fluid_fov", "bones", "edema")


def _world_box(viewer: Any) -> np.ndarray:
    """(2, 3) lower / upper world corner of the study's layers (mm)."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for layer in viewer.layers:
        if (plugin_meta(layer) or {}).get("role") not in _ROLES or is_warm(layer):
            continue
        extent = np.asarray(layer.extent.world, dtype=float)[:, -3:]
        lo, hi = np.minimum(lo, extent[0]), np.maximum(hi, extent[1])
    if not np.all(np.isfinite(lo)):
        return np.array([[-100.0] * 3, [100.0] * 3])
    return np.stack([lo, hi])


def crosshair_lines(point: np.ndarray, displayed: tuple[int, int], box: np.ndarray
                    ) -> list[np.ndarray]:
    """Two lines through ``point`` along the displayed axes, across the world box."""
    lines = []
    for axis in displayed:
        a, b = point.copy(), point.copy()
        a[axis], b[axis] = box[0, axis], box[1, axis]
        lines.append(np.stack([a, b]))
    return lines


class LinkedViews:
    """The main viewer plus coronal and axial viewers, linked by one point."""

    def __init__(self, viewer: Any) -> None:
        self.main = viewer
        self.others: dict[str, Any] = {}
        self._syncing = False

    @property
    def viewers(self) -> list[Any]:
        """The main viewer, then the linked ones."""
        return [self.main, *self.others.values()]

    def open(self, *, show: bool = True) -> dict[str, Any]:
        """Open (or refresh) the coronal and axial views of the study shown in the main
        viewer; returns them by plane."""
        import napari

        first = not self.others
        self._syncing = True  # no linking while the layers are put in
        try:
            if first:
                for plane in ("coronal", "axial"):
                    self.others[plane] = napari.Viewer(
                        title=f"bmes-imaging review: {plane}", show=show)
            for plane, other in self.others.items():
                self._copy_layers(other)
                order, orientation = PLANES[plane]
                other.dims.order = order
                try:
                    camera_of(other).orientation2d = orientation
                except (AttributeError, TypeError, ValueError):
                    pass
                other.reset_view()
        finally:
            self._syncing = False
        if first:
            for viewer in self.viewers:
                viewer.dims.events.point.connect(self._on_point)
        self._place(np.asarray(self.main.dims.point, dtype=float)[-3:])
        return dict(self.others)

    def _copy_layers(self, other: Any) -> None:
        for layer in list(other.layers):
            if layer.name != CROSSHAIR_NAME:
                other.layers.remove(layer)
        for layer in self.main.layers:
            if (plugin_meta(layer) or {}).get("role") not in _ROLES or is_warm(layer):
                continue
            data, state, kind = layer.as_layer_data_tuple()
            getattr(other, f"add_{kind}")(data, **state)

    def _on_point(self, event: Any = None) -> None:
        if self._syncing:
            return
        source = next((v for v in self.viewers
                       if event is not None and v.dims is getattr(event, "source", None)),
                      self.main)
        self._place(np.asarray(source.dims.point, dtype=float)[-3:])

    def _place(self, point: np.ndarray) -> None:
        """Move every view to ``point`` (mm) and redraw the crosshairs."""
        self._syncing = True
        try:
            for viewer in self.viewers:
                if viewer.dims.ndim < 3:
                    continue
                for axis in range(3):
                    if abs(float(viewer.dims.point[axis]) - point[axis]) > 1e-6:
                        viewer.dims.set_point(axis, float(point[axis]))
                self._draw_crosshair(viewer, point)
        finally:
            self._syncing = False

    def _draw_crosshair(self, viewer: Any, point: np.ndarray) -> None:
        displayed = tuple(viewer.dims.displayed)
        if len(displayed) != 2:
            return
        lines = crosshair_lines(point, (displayed[0], displayed[1]), _world_box(viewer))
        layer = next((x for x in viewer.layers if x.name == CROSSHAIR_NAME), None)
        if layer is None:
            active = viewer.layers.selection.active  # the reader's (e.g. edema paint)
            viewer.add_shapes(lines, shape_type="line", name=CROSSHAIR_NAME,
                              edge_color="cyan", edge_width=0.4, opacity=0.8,
                              units=("mm", "mm", "mm"), axis_labels=AXIS_LABELS)
            if active is not None:
                viewer.layers.selection.active = active
        else:
            layer.data = lines
            layer.shape_type = ["line", "line"]

    def crosshair_point(self) -> np.ndarray:
        """The shared 3-D point (mm, world RAS+ of the display frame)."""
        return np.asarray(self.main.dims.point, dtype=float)[-3:]

    def close(self) -> None:
        """Close the linked viewers."""
        for viewer in self.viewers:
            try:
                viewer.dims.events.point.disconnect(self._on_point)
            except (TypeError, ValueError, RuntimeError):
                pass
        for other in self.others.values():
            try:
                other.close()
            except RuntimeError:  # already closed by the reader
                pass
        self.others = {}

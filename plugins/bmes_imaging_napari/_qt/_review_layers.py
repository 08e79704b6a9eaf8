"""The review's layers in the viewer: the study's images, its bone and edema labels,
painting into the edema and the view jumping to a bone.

:class:`ReviewLayers` is given the viewer, the review model and the view tools; the
review dock holds one. It keeps the edema layer and the model's label map one array
(a paint stroke edits the model), records strokes for undo, and recomputes the
findings a moment after the last stroke; :attr:`ReviewLayers.edited` tells the dock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QObject, QTimer, Signal

from bmes_imaging.bones import Bone
from bmes_imaging.errors import BmesError

from .._layers import display_frame, layer_view, volume_from_layer
from ._prompts import notify_error, notify_info
from ._turns import run_now
from ._viewer_layers import (
    camera_of,
    plugin_meta,
    show_labels,
    study_layer_steps,
    study_layers,
)

if TYPE_CHECKING:
    from .._review_model import ReviewModel
    from .._study import Study
    from ._view_tools import ViewTools

__all__ = ["RECOMPUTE_DELAY_MS", "ReviewLayers"]

#: Findings are recomputed this long (ms) after the last paint stroke.
RECOMPUTE_DELAY_MS = 250


class ReviewLayers(QObject):
    """The review model's study and labels as napari layers.

    Parameters
    ----------
    viewer
        The napari viewer.
    model
        The :class:`~bmes_imaging_napari._review_model.ReviewModel` shown.
    view_tools
        The dock's view tools (edema drawn as fill or outline).
    parent
        Owner of this object (the dock).

    Attributes
    ----------
    syncing
        True while this object adds or changes layers itself (the dock ignores the
        layer events that causes).
    """

    #: the reader painted into the edema layer (the review is unsaved now)
    edited = Signal()

    def __init__(self, viewer: Any, model: ReviewModel, view_tools: ViewTools,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.model = model
        self.view_tools = view_tools
        self.syncing = False
        self._edema_layer: Any = None
        self.recompute_timer = QTimer(self)
        self.recompute_timer.setSingleShot(True)
        self.recompute_timer.setInterval(RECOMPUTE_DELAY_MS)
        self.recompute_timer.timeout.connect(self.recompute_now)
        #: empty labels layers added ahead of detection (:meth:`empty_labels_steps`), by
        #: role, until detection fills them
        self._placeholders: dict[str, Any] = {}
        viewer.layers.events.inserted.connect(self._on_layer_inserted)

    @contextmanager
    def _own_changes(self) -> Iterator[None]:
        self.syncing = True
        try:
            yield
        finally:
            self.syncing = False

    @property
    def edema_layer(self) -> Any:
        """The labels layer the reader paints edema into (None before detection)."""
        return self._edema_layer

    def study_layers(self) -> dict[str, Any]:
        """The open study's layers by role (``t1``, ``fluid``, ``bones``, ``edema``...)."""
        study = self.model.study
        return study_layers(self.viewer, study.key if study is not None else None)

    def show_study(self, study: Study, tuples: list[Any] | None) -> None:
        """Show a study's T1 and fluid layers (layer data prepared already, or now)."""
        run_now(self.show_study_steps(study, tuples))

    def show_study_steps(self, study: Study, tuples: list[Any] | None) -> Iterator[None]:
        """:meth:`show_study` one layer per step (:class:`~._turns.Turns`)."""
        self._disconnect_edema_layer()
        steps = study_layer_steps(self.viewer, study, tuples)
        while True:
            with self._own_changes():  # layers added here are not "opened by a reader"
                role = next(steps, None)
            if role is None:
                return
            yield None

    def sync(self) -> None:
        """Show the model's bone and edema labels (adding or updating layers)."""
        run_now(self.sync_steps())

    def sync_steps(self) -> Iterator[None]:
        """:meth:`sync` one labels layer per step (:class:`~._turns.Turns`)."""
        model = self.model
        assert model.study is not None
        key = model.study_key
        frame = display_frame(model.study.t1)
        if model.bones is not None:
            with self._own_changes():
                # outlines: the marrow signal stays readable
                show_labels(self.viewer, model.bones, role="bones", key=key, frame=frame,
                            contour=1)
                self._placeholders.pop("bones", None)  # filled
            yield None
        if model.study is None or model.study_key != key:
            return  # another study was opened meanwhile
        with self._own_changes():
            if model.edema is not None:
                self._disconnect_edema_layer()
                outline = self.view_tools.outline_check.isChecked()
                layer = show_labels(self.viewer, model.edema, role="edema", key=key,
                                    frame=frame, name="Edema", contour=int(outline))
                self._connect_edema_layer(layer)
                self._placeholders.pop("edema", None)  # filled
                self.view_tools.set_edema_outline(outline)  # other edema layers
                # painting must edit the model's array: share it with the layer
                model.edema.array = volume_from_layer(layer).array
                model._voxel_counts = model._count_voxels()

    def empty_labels_steps(self) -> Iterator[None]:
        """Empty bone and edema layers for the open study where it has none yet, one
        per step (:class:`~._turns.Turns`), when it can be detected on (a fluid series).

        Added while a study opens (the bone masks are computed meanwhile, in the
        bone-mask process): adding a labels layer is one napari step of 0.2-0.5 s that
        cannot be split, so showing detection's result then only fills the layers, as
        for every study opened after the first.
        """
        model = self.model
        study = model.study
        if study is None or study.fluid is None:
            return
        t1, key, frame = study.t1, study.key, display_frame(study.t1)
        for role, name in (("bones", None), ("edema", "Edema")):
            if model.study is not study:
                return  # another study was opened meanwhile
            if role in self.study_layers():
                continue
            contour = 1 if role == "bones" else int(self.view_tools.outline_check.isChecked())
            empty = t1.with_array(np.zeros(t1.shape, np.uint8))  # an array for each
            with self._own_changes():
                self._placeholders[role] = show_labels(self.viewer, empty, role=role,
                                                       key=key, frame=frame, name=name,
                                                       contour=contour)
            yield None

    def _on_layer_inserted(self, event: Any) -> None:
        """A bone or edema map the reader opened for this study replaces the empty layer
        added ahead of detection (one layer per role, as before it was added)."""
        if self.syncing:
            return
        meta = plugin_meta(event.value)
        role = meta.get("role") if meta else None
        empty = self._placeholders.get(role) if isinstance(role, str) else None
        study = self.model.study
        if empty is None or empty is event.value or study is None \
                or (meta or {}).get("study_key") not in (study.key, None):
            return
        placeholder: Any = empty
        QTimer.singleShot(0, lambda: self._drop_placeholder(str(role), placeholder))

    def _drop_placeholder(self, role: str, layer: Any) -> None:
        current = self._placeholders.get(role)
        if current is None or current is not layer:
            return
        del self._placeholders[role]
        if current in self.viewer.layers and not np.any(current.data):
            with self._own_changes():
                self.viewer.layers.remove(current)

    def close(self) -> None:
        """Stop following the viewer's layers (the dock closes)."""
        self._placeholders.clear()
        try:
            self.viewer.layers.events.inserted.disconnect(self._on_layer_inserted)
        except (TypeError, ValueError, RuntimeError):  # the viewer is gone already
            pass

    def update_bones(self) -> None:
        """Redraw the bone labels after the model's bones changed."""
        layer = self.study_layers().get("bones")
        if layer is not None and self.model.bones is not None:
            with self._own_changes():
                layer.data = layer_view(self.model.bones)

    def refresh_edema(self) -> None:
        """Redraw the edema layer after the model changed its labels in place."""
        if self._edema_layer is not None:
            self._edema_layer.refresh()

    def _connect_edema_layer(self, layer: Any) -> None:
        self._edema_layer = layer
        layer.events.paint.connect(self._on_labels_edited)
        layer.events.data.connect(self._on_labels_edited)

    def _disconnect_edema_layer(self) -> None:
        layer = self._edema_layer
        if layer is not None:
            layer.events.paint.disconnect(self._on_labels_edited)
            layer.events.data.disconnect(self._on_labels_edited)
        self._edema_layer = None

    def _on_labels_edited(self, event: Any = None) -> None:
        if self.syncing:
            return
        model = self.model
        layer = self._edema_layer
        if layer is not None and model.edema is not None \
                and not np.shares_memory(layer.data, model.edema.array):
            model.edema.array = volume_from_layer(layer).array
        model.dirty = True
        history = model.history
        history.record_paint(model)  # the stroke can be undone
        QTimer.singleShot(0, lambda: history.resolve(model))
        self.recompute_timer.start()
        self.edited.emit()

    def recompute_now(self) -> None:
        """Recompute the findings from the painted edema (timer slot)."""
        if not self.model.can_recompute():
            notify_info("Run detection to update volumes after painting (bone labels "
                        "are needed).")
            return
        try:
            self.model.recompute()
        except BmesError as exc:
            notify_error(f"Cannot recompute findings: {exc}")

    def flush_edits(self) -> None:
        """Recompute now if a paint stroke is waiting for the debounce timer."""
        if self.recompute_timer.isActive():
            self.recompute_timer.stop()
            self.recompute_now()

    def start_painting(self, bone: Bone | None) -> None:
        """Select the edema layer in paint mode, painting ``bone`` (if given)."""
        layer = self._edema_layer
        if layer is None:
            notify_info("Run detection first: there is no edema layer to paint.")
            return
        if bone is not None:
            layer.selected_label = int(bone)
        self.viewer.layers.selection.active = layer
        layer.mode = "paint"

    def toggle_sequence(self) -> None:
        """Flip between the T1 and the fluid series (shows one, hides the other)."""
        layers = self.study_layers()
        t1, fluid = layers.get("t1"), layers.get("fluid")
        if t1 is None or fluid is None:
            return
        show_t1 = fluid.visible
        fluid.visible = not show_t1
        t1.visible = True

    def jump_to(self, bone: Bone | int) -> None:
        """Centre the view on the bone's edema (or the bone) and slice through it."""
        centre = self.model.centroid_world(bone)
        if centre is None:
            return
        dims = self.viewer.dims
        if dims.ndim < 3 or self.model.study is None:
            return
        frame = display_frame(self.model.study.t1)
        shown = frame[:3, :3] @ np.asarray(centre, dtype=float) + frame[:3, 3]
        world = shown[-dims.ndim:]
        for axis in dims.not_displayed:
            dims.set_point(axis, _on_grid(dims.range[axis], float(world[axis])))
        displayed = [float(world[a]) for a in dims.displayed]
        camera_of(self.viewer).center = tuple(displayed)


def _on_grid(world_range: Any, value: float) -> float:
    """``value`` moved to the nearest slice of ``(start, stop, step)`` (as the slider
    does): napari re-slices every layer once more when the point is off its grid."""
    start, stop, step = (float(x) for x in world_range)
    if not step > 0:
        return value
    n = min(max(round((value - start) / step), 0), int((stop - start) / step + 1e-9))
    return start + n * step


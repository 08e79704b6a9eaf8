"""Undo / redo of the review: decisions (confirm, reject, primary), relabel and paint.

A :class:`History` keeps snapshots of what the reader changes in a
:class:`~bmes_imaging_napari._review_model.ReviewModel`: the findings (frozen
:class:`bmes_imaging.findings.Finding` rows, so a copy of the list is a snapshot), the
edema labels when a step edits them (relabel, a paint stroke) and the bone labels when a
relabel moves them. Restoring writes the edema back *into the same array*
(the napari labels layer shares it), so the canvas follows. Non-Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["History", "Snapshot"]

#: Steps kept (each holds at most one copy of the edema and bone labels).
LIMIT = 50


@dataclass
class Snapshot:
    """The model's state before (undo) or after (redo) one step."""

    label: str
    findings: list[Any]
    edema: NDArray[Any] | None = None
    bones: NDArray[Any] | None = None


class History:
    """Undo and redo stacks of one study's review."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self.undo_stack: list[Snapshot] = []
        self.redo_stack: list[Snapshot] = []
        #: The edema labels as of the last recorded step (what a paint stroke changed).
        self.edema_before: NDArray[Any] | None = None
        #: A paint stroke was recorded; :attr:`edema_before` is taken after it is written.
        self.stale = False

    def reset(self, model: Any) -> None:
        """Forget every step (a study opened, detection run, a review restored)."""
        self.undo_stack.clear()
        self.redo_stack.clear()
        self.stale = False
        self.edema_before = None if model.edema is None else model.edema.array.copy()

    @staticmethod
    def _snapshot(model: Any, label: str, *, edema: NDArray[Any] | None = None,
                  bones: bool = False) -> Snapshot:
        return Snapshot(label, list(model.findings), edema,
                        None if not bones or model.bones is None
                        else np.array(model.bones.array, copy=True))

    def record(self, model: Any, label: str, *, labels: bool = False,
               bones: bool = False) -> None:
        """Remember the state before a step; ``labels``: the step edits the edema,
        ``bones``: it edits the bone labels too."""
        self.resolve(model)
        edema = None
        if labels and model.edema is not None:
            edema = (self.edema_before if self.edema_before is not None
                     else model.edema.array.copy())
        self._push(self._snapshot(model, label, edema=edema, bones=bones))

    def record_paint(self, model: Any) -> None:
        """A paint stroke is being written into the edema labels: remember them as
        before it.

        napari announces a stroke made with the mouse after writing it, and one made by
        ``Labels.paint`` before: the labels after the stroke are taken later, by
        :meth:`resolve` (the next event-loop turn, or the next step, undo or redo).
        """
        if model.edema is None:
            return
        self.resolve(model)
        before = self.edema_before
        if before is None:
            before = model.edema.array.copy()
        self._push(Snapshot("paint", list(model.findings), before))
        self.stale = True

    def resolve(self, model: Any) -> None:
        """Take the edema labels after a paint stroke as the next 'before'."""
        if self.stale:
            self.stale = False
            self.labels_changed(model)

    def labels_changed(self, model: Any) -> None:
        """After a step that edited the edema: the new state is the next 'before'."""
        if model.edema is not None:
            self.edema_before = model.edema.array.copy()

    def _push(self, snapshot: Snapshot) -> None:
        self.undo_stack.append(snapshot)
        del self.undo_stack[: max(0, len(self.undo_stack) - self.limit)]
        self.redo_stack.clear()

    @property
    def can_undo(self) -> bool:
        """True if there is a step to undo."""
        return bool(self.undo_stack)

    @property
    def can_redo(self) -> bool:
        """True if there is an undone step to redo."""
        return bool(self.redo_stack)

    def undo(self, model: Any) -> str | None:
        """Undo the last step; its label, or None if there was none."""
        return self._move(model, self.undo_stack, self.redo_stack)

    def redo(self, model: Any) -> str | None:
        """Redo the last undone step; its label, or None if there was none."""
        return self._move(model, self.redo_stack, self.undo_stack)

    def _move(self, model: Any, source: list[Snapshot], target: list[Snapshot]
              ) -> str | None:
        self.resolve(model)
        if not source:
            return None
        snap = source.pop()
        current = self._snapshot(
            model, snap.label,
            edema=None if snap.edema is None or model.edema is None
            else model.edema.array.copy(), bones=snap.bones is not None)
        target.append(current)
        self._restore(model, snap)
        return snap.label

    def _restore(self, model: Any, snap: Snapshot) -> None:
        model.findings = list(snap.findings)
        if snap.edema is not None and model.edema is not None:
            np.copyto(model.edema.array, snap.edema)  # in place: the layer shares it
        if snap.bones is not None and model.bones is not None:
            model.bones = model.bones.with_array(snap.bones.copy())
            model.forget_ratios()
        model.after_restore(labels=snap.edema is not None, bones=snap.bones is not None)
        self.labels_changed(model)

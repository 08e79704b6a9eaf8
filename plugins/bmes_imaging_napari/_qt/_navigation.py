"""Moving through the findings: Next / Previous over undecided candidates, undo / redo.

:class:`FindingNavigator` is given the review model and the findings table (and a
callback that redraws after an undo); the review dock composes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtWidgets import QLabel

from bmes_imaging.bones import Bone

from ._findings_table import FindingsTable

__all__ = ["FindingNavigator"]


class FindingNavigator:
    """Next / Previous and undo / redo on a review model shown in a findings table."""

    def __init__(self, model: Any, table: FindingsTable, status: QLabel,
                 redraw: Callable[[Bone | None], None]) -> None:
        self.model = model
        self.table = table
        self.status = status
        self.redraw = redraw

    def step_rows(self) -> list[int]:
        """Rows Next / Previous step through: bones with candidate edema not decided
        yet; once every one is decided, all bones with edema (0 ml bones never)."""
        findings = self.model.findings
        with_edema = [i for i, f in enumerate(findings) if f.edema_volume_ml > 0]
        open_rows = [i for i in with_edema if findings[i].status == "candidate"]
        return open_rows or with_edema

    def step(self, delta: int) -> None:
        """Select the next (``+1``) or previous (``-1``) row to review, wrapping."""
        rows = self.step_rows()
        if not rows:
            self.status.setText("No candidate edema to step to")
            return
        bone = self.table.selected_bone()
        order = [int(f.bone) for f in self.model.findings]
        current = order.index(int(bone)) if bone is not None and int(bone) in order \
            else (-1 if delta > 0 else len(order))
        ahead = [r for r in rows if (r - current) * delta > 0]
        target = (ahead[0] if delta > 0 else ahead[-1]) if ahead \
            else (rows[0] if delta > 0 else rows[-1])  # wrap around
        self.table.selectRow(target)

    def first(self) -> None:
        """Select the first row to review (none: nothing selected)."""
        rows = self.step_rows()
        if rows:
            self.table.selectRow(rows[0])

    def undo(self) -> None:
        """Undo the model's last step and redraw."""
        self._move(self.model.undo, "Undone")

    def redo(self) -> None:
        """Redo the model's last undone step and redraw."""
        self._move(self.model.redo, "Redone")

    def _move(self, move: Callable[[], str | None], done: str) -> None:
        bone = self.table.selected_bone()
        label = move()
        if label is None:
            return
        self.redraw(bone)
        self.status.setText(f"{done}: {label}")

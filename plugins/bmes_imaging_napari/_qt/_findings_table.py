"""The findings table of the review widget: one row per bone, colour-coded statuses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from bmes_imaging.bones import Bone

__all__ = ["COLUMNS", "FindingsTable"]

#: Table columns (short headers; the tooltips say what they hold).
COLUMNS: tuple[str, ...] = ("Bone", "mL", "%", "Gr", "Conf", "Status", "Prim", "Source",
                            "Mask")
_COLUMN_TIPS: tuple[str, ...] = (
    "Bone", "Edema volume (mL)", "Fraction of the bone with edema (%)",
    "Grade: 0 none, 1 < 25 %, 2 25-50 %, 3 > 50 % of the bone",
    "Detector confidence (0-1)", "candidate / confirmed / rejected",
    "Primary affected bone", "Who made the finding: the detector or a reader",
    "Automatic bone mask quality (0-1); 'check' when the mask is not to be trusted "
    "without a look; empty for imported or seeded masks")
#: Row height (px) and the rows the table is sized to show (every bone of the vocabulary).
ROW_HEIGHT = 20
ROWS_SHOWN = 14
_MASK_COLUMN = COLUMNS.index("Mask")
_CHECK_COLOUR = QColor(240, 140, 40)
_STATUS_COLOURS = {"confirmed": QColor(60, 160, 80), "rejected": QColor(170, 60, 60),
                   "candidate": QColor(200, 160, 40)}


class FindingsTable(QTableWidget):
    """Read-only table of :class:`~bmes_imaging.detection.BoneFinding` rows."""

    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(list(COLUMNS))
        for col, tip in enumerate(_COLUMN_TIPS):
            header_item = self.horizontalHeaderItem(col)
            if header_item is not None:
                header_item.setToolTip(tip)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        vertical, horizontal = self.verticalHeader(), self.horizontalHeader()
        if vertical is not None:  # compact rows: all 14 bones without scrolling
            vertical.setVisible(False)
            vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            vertical.setDefaultSectionSize(ROW_HEIGHT)
        if horizontal is not None:
            horizontal.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            horizontal.setStretchLastSection(True)
            horizontal.setMinimumSectionSize(24)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setMinimumHeight(self.height_for_rows(ROWS_SHOWN))

    def height_for_rows(self, n: int) -> int:
        """Height (px) that shows ``n`` rows, the header and the frame."""
        header = self.horizontalHeader()
        head = header.sizeHint().height() if header is not None else ROW_HEIGHT
        return head + n * ROW_HEIGHT + 2 * self.frameWidth() + 2

    def show_findings(self, findings: Sequence[Any]) -> None:
        """Show ``findings`` (keeps the selected bone selected, emits no selection)."""
        selected = self.selected_bone()
        self.blockSignals(True)
        try:
            if self.rowCount() != len(findings):
                self.setRowCount(len(findings))
            for row, f in enumerate(findings):
                self.fill_row(row, f)
        finally:
            self.blockSignals(False)
        if selected is not None:
            self.select_bone(findings, selected, quiet=True)

    def fill_row(self, row: int, f: Any) -> None:
        """Write one finding into ``row`` (only cells whose text changed)."""
        # unmeasured values (NaN, an ungraded stored finding) show as empty cells
        values = (f.bone.display_name, _number(f.edema_volume_ml, "{:.2f}"),
                  _number(f.fraction, "{:.1f}", scale=100.0),
                  "" if f.grade is None else str(f.grade), _number(f.confidence, "{:.2f}"),
                  str(f.status), "yes" if f.primary else "", str(f.source),
                  _mask_text(f))
        for col, text in enumerate(values):
            item = self.item(row, col)
            if item is None:
                item = QTableWidgetItem()
                self.setItem(row, col, item)
            if item.text() != text:
                item.setText(text)
            if col == 0:
                item.setData(Qt.ItemDataRole.UserRole, int(f.bone))
            if col == COLUMNS.index("Status"):
                item.setForeground(_STATUS_COLOURS.get(f.status, QColor(200, 200, 200)))
            if col == _MASK_COLUMN:
                item.setForeground(_CHECK_COLOUR if text.startswith("check")
                                   else QColor(200, 200, 200))

    def update_bone(self, findings: Sequence[Any], bone: Bone) -> None:
        """Rewrite the row of ``bone`` only (fast path for confirm / reject)."""
        for row, f in enumerate(findings):
            if f.bone == bone:
                self.fill_row(row, f)
                return

    def selected_bone(self) -> Bone | None:
        """The bone of the selected row, or None."""
        selection = self.selectionModel()
        rows = selection.selectedRows() if selection is not None else []
        if not rows:
            return None
        item = self.item(rows[0].row(), 0)
        if item is None:
            return None
        value = item.data(Qt.ItemDataRole.UserRole)
        return Bone(int(value)) if value is not None else None

    def select_bone(self, findings: Sequence[Any], bone: Bone, *, quiet: bool = False
                    ) -> None:
        """Select the row of ``bone``; ``quiet`` emits no selection signal."""
        for row, f in enumerate(findings):
            if f.bone == bone:
                if quiet:
                    self.blockSignals(True)
                self.selectRow(row)
                if quiet:
                    self.blockSignals(False)
                return


def _number(value: float | None, fmt: str, *, scale: float = 1.0) -> str:
    """``value`` formatted, or empty when it is unknown (None or NaN)."""
    if value is None or value != value:
        return ""
    return fmt.format(scale * value)


def _mask_text(f: Any) -> str:
    """The mask column: the quality, with "check" in front when it asks for a look."""
    text = _number(f.bone_mask_quality, "{:.2f}")
    return f"check {text}" if f.mask_needs_check else text

"""The study picker: a folder with several studies (or both feet) asks which one.

Never the first study silently: :func:`bmes_imaging.study.load_study` refuses to choose
(:class:`~bmes_imaging.study.SeveralStudiesError`) and the review widget (and the
napari reader) show this dialog with the studies it found: patient, side, study date,
series, folder.
"""

from __future__ import annotations

from collections.abc import Sequence

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._study import StudyChoice
from ._canvas import _date

__all__ = ["StudyPicker", "pick_study_dialog"]

COLUMNS = ("Patient", "Side", "Study date", "Series", "Folder")


class StudyPicker(QDialog):
    """A table of the studies found; OK (or a double click) opens the selected one."""

    def __init__(self, choices: Sequence[StudyChoice], parent: QWidget | None = None,
                 folder: str = "") -> None:
        super().__init__(parent)
        self.choices = list(choices)
        self.setWindowTitle("Choose the study to review")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(
            f"{folder or 'This folder'} holds {len(self.choices)} studies or feet. "
            "Which one do you want to review?"))
        self.table = QTableWidget(len(self.choices), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, c in enumerate(self.choices):
            side = {"L": "left", "R": "right"}.get(c.side or "", "?")
            for col, text in enumerate((c.patient_id or "?", side, _date(c.study_date),
                                        c.description, c.folder.name)):
                self.table.setItem(row, col, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        if header is not None:
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            header.setStretchLastSection(True)
        self.table.doubleClicked.connect(self.accept)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if self.choices:
            self.table.selectRow(0)
        self.resize(720, min(520, 140 + 30 * len(self.choices)))

    def chosen(self) -> StudyChoice | None:
        """The selected study (None if nothing is selected)."""
        model = self.table.selectionModel()
        rows = model.selectedRows() if model is not None else []
        return self.choices[rows[0].row()] if rows else None


def pick_study_dialog(parent: QWidget | None, choices: Sequence[StudyChoice],
                      folder: str = "") -> StudyChoice | None:
    """Ask which study to open; None if the reader cancelled."""
    dialog = StudyPicker(choices, parent, folder)
    dialog.setWindowModality(Qt.WindowModality.ApplicationModal)
    return dialog.chosen() if dialog.exec() == QDialog.DialogCode.Accepted else None

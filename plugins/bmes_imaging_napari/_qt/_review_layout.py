"""The review widget's controls and their layout (built once, wired to its slots)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from bmes_imaging.bones import Bone

from ._findings_table import FindingsTable
from ._view_tools import ViewTools

if TYPE_CHECKING:
    from ._review_widget import ReviewWidget

__all__ = ["build_review_ui"]


def build_review_ui(widget: ReviewWidget) -> None:
    """Create the review widget's controls as its attributes, lay them out and connect
    them to its slots (the widget sets their enabled state once its parts exist)."""
    layout = QVBoxLayout(widget)
    form = QFormLayout()
    widget.reader_edit = QLineEdit(widget.model.reader)
    widget.reader_edit.setPlaceholderText("your name (recorded with every save)")
    widget.reader_edit.editingFinished.connect(widget._on_reader_changed)
    form.addRow("Reader", widget.reader_edit)
    widget.study_label = QLabel("No study open")
    widget.study_label.setWordWrap(True)
    form.addRow("Study", widget.study_label)
    layout.addLayout(form)

    row = QHBoxLayout()
    widget.open_button = QPushButton("Open study…")
    widget.open_button.clicked.connect(widget._open_dialog)
    widget.detect_button = QPushButton("Run detection")
    widget.detect_button.clicked.connect(widget.run_detection)
    widget.cancel_button = QPushButton("Cancel")
    widget.cancel_button.setEnabled(False)
    widget.cancel_button.clicked.connect(widget.cancel_detection)
    for b in (widget.open_button, widget.detect_button, widget.cancel_button):
        row.addWidget(b)
    layout.addLayout(row)
    widget.progress = QProgressBar()
    widget.progress.setRange(0, 100)
    widget.progress.setValue(0)
    widget.progress_label = QLabel("")
    layout.addWidget(widget.progress)
    layout.addWidget(widget.progress_label)

    widget.view_tools = ViewTools(widget.viewer, widget.model)
    layout.addWidget(widget.view_tools)

    widget.table = FindingsTable()
    widget.table.itemSelectionChanged.connect(widget._on_selection)
    layout.addWidget(widget.table, 1)

    row = QHBoxLayout()
    widget.confirm_button = QPushButton("Confirm (C)")
    widget.confirm_button.clicked.connect(widget.confirm_selected)
    widget.reject_button = QPushButton("Reject (R)")
    widget.reject_button.clicked.connect(widget.reject_selected)
    widget.primary_button = QPushButton("Primary (⇧P)")
    widget.primary_button.clicked.connect(widget.toggle_primary_selected)
    widget.next_button = QPushButton("Next (N)")
    widget.next_button.clicked.connect(widget.select_next)
    for b in (widget.confirm_button, widget.reject_button, widget.primary_button,
              widget.next_button):
        row.addWidget(b)
    layout.addLayout(row)

    row = QHBoxLayout()
    row.addWidget(QLabel("Move edema to"))
    widget.bone_combo = QComboBox()
    for bone in Bone:
        widget.bone_combo.addItem(bone.display_name, int(bone))
    row.addWidget(widget.bone_combo, 1)
    widget.move_button = QPushButton("Change bone")
    widget.move_button.clicked.connect(widget._change_bone_clicked)
    row.addWidget(widget.move_button)
    layout.addLayout(row)

    row = QHBoxLayout()
    widget.paint_button = QPushButton("Paint edema")
    widget.paint_button.setToolTip("Select the edema layer in paint mode with the "
                                 "selected finding's bone as label (E erases)")
    widget.paint_button.clicked.connect(widget.start_painting)
    widget.save_button = QPushButton("Save (Ctrl+Shift+S)")
    widget.save_button.clicked.connect(widget.save_in_background)
    widget.seg_button = QPushButton("Export SEG…")
    widget.seg_button.setToolTip("Write the confirmed edema and the bones as a DICOM SEG "
                               "that references the T1 series")
    widget.seg_button.clicked.connect(widget._export_seg_dialog)
    row.addWidget(widget.paint_button)
    row.addWidget(widget.save_button)
    row.addWidget(widget.seg_button)
    layout.addLayout(row)
    row = QHBoxLayout()
    widget.undo_button = QPushButton("Undo (Ctrl+Z)")
    widget.undo_button.setToolTip("Undo the last confirm, reject, primary, change of bone "
                                  "or paint stroke")
    widget.undo_button.clicked.connect(widget.undo)
    widget.redo_button = QPushButton("Redo (Ctrl+Shift+Z)")
    widget.redo_button.clicked.connect(widget.redo)
    row.addWidget(widget.undo_button)
    row.addWidget(widget.redo_button)
    layout.addLayout(row)
    widget.state_label = QLabel("")
    layout.addWidget(widget.state_label)

"""Study queue: the studies of a folder, which ones this reader has reviewed, next one.

Point it at a folder (a cohort such as ``bmes phantom --cohort table1 OUT`` writes, or a
PACS export with one folder per study); each study is marked reviewed when the store
holds an annotation of it by the current reader. "Next unreviewed" opens the next study
without one in the review widget (which asks first about unsaved work).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bmes_imaging.errors import BmesError

from .._study import find_studies, study_key_of_folder

if TYPE_CHECKING:
    import napari

    from ._review_widget import ReviewWidget

__all__ = ["QueueEntry", "QueueWidget"]


class QueueEntry:
    """One study of the queue: its folder, key and whether the reader reviewed it."""

    __slots__ = ("key", "path", "reviewed")

    def __init__(self, path: Path, key: str | None, reviewed: bool) -> None:
        self.path = path
        self.key = key
        self.reviewed = reviewed

    def __repr__(self) -> str:
        return f"<QueueEntry {self.path.name} reviewed={self.reviewed}>"


class QueueWidget(QWidget):
    """A list of studies to review, with "Next unreviewed".

    Parameters
    ----------
    napari_viewer
        The viewer.
    review
        The review widget to open studies in; default: the plugin's docked "Review"
        widget (docked on first use).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer, *,
                 review: ReviewWidget | None = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._review = review
        self.entries: list[QueueEntry] = []
        self.root: Path | None = None
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.folder_button = QPushButton("Folder…")
        self.folder_button.clicked.connect(self._choose_folder)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        row.addWidget(self.folder_button)
        row.addWidget(self.refresh_button)
        layout.addLayout(row)
        self.summary = QLabel("No folder chosen")
        layout.addWidget(self.summary)
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(self._open_item)
        layout.addWidget(self.list)
        self.next_button = QPushButton("Next unreviewed")
        self.next_button.clicked.connect(self.open_next_unreviewed)
        layout.addWidget(self.next_button)
        env = os.environ.get("BMES_QUEUE")
        if env:
            self.set_folder(env)

    @property
    def review(self) -> ReviewWidget:
        """The review widget studies open in."""
        if self._review is None:
            _, widget = self.viewer.window.add_plugin_dock_widget("bmes-imaging", "Review")
            self._review = widget
        return self._review

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of studies")
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str | os.PathLike[str]) -> None:
        """List the studies under ``folder``."""
        self.root = Path(folder)
        self.refresh()

    def _reviewed(self, key: str | None) -> bool:
        reader = self.review.model.reader
        if key is None or not reader:
            return False
        try:
            return any(v.label_path is not None
                       for v in self.review.model.store.annotations(key, reader))
        except BmesError:
            return False

    def refresh(self) -> None:
        """Re-read the folder and the reader's saved reviews."""
        self.list.clear()
        self.entries = []
        if self.root is None:
            return
        for path in find_studies(self.root):
            key = study_key_of_folder(path)
            self.entries.append(QueueEntry(path, key, self._reviewed(key)))
        current = self.review.model.study
        for entry in self.entries:
            item = QListWidgetItem(("✓ " if entry.reviewed else "• ")
                                   + str(entry.path.relative_to(self.root)
                                         if entry.path != self.root else entry.path.name))
            item.setData(Qt.ItemDataRole.UserRole, str(entry.path))
            if entry.reviewed:
                item.setForeground(QColor(120, 120, 120))
            if current is not None and entry.key == current.key:
                item.setSelected(True)
            self.list.addItem(item)
        done = sum(e.reviewed for e in self.entries)
        self.summary.setText(f"{done} of {len(self.entries)} studies reviewed"
                             + (f" by {self.review.model.reader}"
                                if self.review.model.reader else " (enter your name)"))

    def _open_item(self, item: QListWidgetItem) -> None:
        self.review.open_study(item.data(Qt.ItemDataRole.UserRole))

    def next_unreviewed(self) -> QueueEntry | None:
        """The first unreviewed study after the open one (wrapping), or None."""
        if not self.entries:
            return None
        current = self.review.model.study
        start = 0
        for i, entry in enumerate(self.entries):
            if current is not None and entry.key == current.key:
                start = i + 1
                break
        n = len(self.entries)
        for step in range(n):
            entry = self.entries[(start + step) % n]
            if not entry.reviewed and (current is None or entry.key != current.key):
                return entry
        return None

    def open_next_unreviewed(self) -> bool:
        """Open the next unreviewed study; False if none is left or opening failed."""
        self.refresh()
        entry = self.next_unreviewed()
        if entry is None:
            self.summary.setText("Every study in the queue is reviewed")
            return False
        ok = self.review.open_study(entry.path)
        if ok:
            self.refresh()
        return ok

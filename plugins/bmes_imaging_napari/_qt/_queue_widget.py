"""Study queue: the studies of a folder, which ones this reader has reviewed, next one.

Point it at a folder (a cohort such as ``bmes phantom --cohort table1 OUT`` writes, or a
PACS export); its studies are found by the core's one study loader
(:func:`bmes_imaging.study.find_study_choices`: the folder indexed once, the T1 and
fluid series paired per study and side, the files ``bmes index`` reads), each listed
once per foot; the folder is indexed in a worker thread (the window stays responsive on
a large cohort). A study is marked reviewed when the store holds an annotation of it by
the current reader. "Next unreviewed" opens the next study
without one in the review widget (which asks first about unsaved work).

With "Studies in the store" checked the queue lists the studies registered in the store
(e.g. by ``bmes screen`` or a clinical link) in the store's order; their folders are
found under the chosen folder by StudyInstanceUID (studies not found there are listed
but cannot be opened).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
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

from .._study import StudyChoice, find_study_choices
from ._background import _weak
from ._prompts import notify_error

if TYPE_CHECKING:
    import napari

    from ._review_widget import ReviewWidget

__all__ = ["QueueEntry", "QueueWidget"]


class QueueEntry:
    """One study of the queue: its folder, key, whether the reader reviewed it, and the
    study (and side) to open (None: listed by the store, not found in the folder)."""

    __slots__ = ("choice", "key", "path", "reviewed")

    def __init__(self, path: Path | None, key: str | None, reviewed: bool,
                 choice: StudyChoice | None = None) -> None:
        self.path = path
        self.key = key
        self.reviewed = reviewed
        self.choice = choice

    def __repr__(self) -> str:
        name = self.path.name if self.path is not None else self.key
        return f"<QueueEntry {name} reviewed={self.reviewed}>"


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
        self.choices: list[StudyChoice] = []  # the studies found under root
        self.scan_worker: Any = None  # the worker indexing root, None when done
        self.from_store = False
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.folder_button = QPushButton("Folder…")
        self.folder_button.clicked.connect(self._choose_folder)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.rescan)
        row.addWidget(self.folder_button)
        row.addWidget(self.refresh_button)
        layout.addLayout(row)
        self.store_check = QCheckBox("Studies in the store")
        self.store_check.setToolTip("List the studies registered in the store (their "
                                    "folders are looked up under the chosen folder)")
        self.store_check.toggled.connect(self.use_store)
        layout.addWidget(self.store_check)
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
        self.rescan()

    @property
    def scanning(self) -> bool:
        """True while the folder is being indexed."""
        return self.scan_worker is not None

    def rescan(self) -> Any:
        """Find the studies under the folder again, in a worker thread (the core indexes
        it: :func:`find_study_choices`), then list them. Returns the worker (None: no
        folder chosen, or a scan runs already)."""
        if self.root is None:
            self.choices = []
            self.refresh()
            return None
        if self.scan_worker is not None:
            return None
        from napari.qt.threading import create_worker

        worker = create_worker(find_study_choices, self.root, _start_thread=False,
                               _ignore_errors=True)
        root = self.root
        on_found = _weak(functools.partial(self._found, root))  # a closed dock is not
        on_failed = _weak(functools.partial(self._scan_failed, root))  # kept alive
        worker.returned.connect(on_found)
        worker.errored.connect(on_failed)
        self.scan_worker = worker
        self.refresh_button.setEnabled(False)
        self.next_button.setEnabled(False)
        self.summary.setText(f"Looking for studies in {root.name or root}…")
        worker.start()
        return worker

    def _scan_ended(self) -> None:
        self.scan_worker = None
        self.refresh_button.setEnabled(True)
        self.next_button.setEnabled(True)

    def _found(self, root: Path, choices: list[StudyChoice]) -> None:
        self._scan_ended()
        if root != self.root:  # another folder was chosen meanwhile
            self.rescan()
            return
        self.choices = choices
        self.refresh()

    def _scan_failed(self, root: Path, exc: BaseException) -> None:
        self._scan_ended()
        self.choices = []
        self.list.clear()
        self.entries = []
        if isinstance(exc, (BmesError, OSError)):
            self.summary.setText(f"Cannot read the folder: {exc}")
        else:
            notify_error(f"Looking for studies in {root} failed: {exc}")

    def use_store(self, enabled: bool = True) -> None:
        """List the store's registered studies (True) or the folder's studies (False)."""
        self.from_store = bool(enabled)
        if self.store_check.isChecked() != self.from_store:
            self.store_check.setChecked(self.from_store)
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
        """List the studies found (:meth:`rescan`) with the reader's saved reviews."""
        self.list.clear()
        self.entries = []
        if self.from_store:
            by_key: dict[str, StudyChoice] = {}
            for choice in self.choices:
                by_key.setdefault(choice.key, choice)
            try:
                keys = list(self.review.model.store.studies())
            except BmesError as exc:
                self.summary.setText(f"Cannot read the store: {exc}")
                return
            self.entries = [QueueEntry(by_key[k].folder if k in by_key else None, k,
                                       self._reviewed(k), by_key.get(k)) for k in keys]
        else:
            self.entries = [QueueEntry(c.folder, c.key, self._reviewed(c.key), c)
                            for c in self.choices]
            self.entries.sort(key=lambda e: (str(e.path), e.choice.side or "")
                              if e.choice is not None else (str(e.path), ""))
        folders = [e.path for e in self.entries]
        current = self.review.model.study
        for entry in self.entries:
            if entry.path is None:
                label = f"study …{(entry.key or '')[-12:]} (folder not found)"
            elif self.root is not None and entry.path != self.root \
                    and entry.path.is_relative_to(self.root):
                label = str(entry.path.relative_to(self.root))
            else:
                label = entry.path.name
            if folders.count(entry.path) > 1 and entry.choice is not None:
                label += f" ({entry.choice.side or entry.choice.description})"
            item = QListWidgetItem(("✓ " if entry.reviewed else "• ") + label)
            item.setData(Qt.ItemDataRole.UserRole,
                         None if entry.path is None else str(entry.path))
            if entry.reviewed or entry.path is None:
                item.setForeground(QColor(120, 120, 120))
            if current is not None and entry.key == current.key:
                item.setSelected(True)
            self.list.addItem(item)
        done = sum(e.reviewed for e in self.entries)
        self.summary.setText(f"{done} of {len(self.entries)} studies reviewed"
                             + (f" by {self.review.model.reader}"
                                if self.review.model.reader else " (enter your name)"))

    def _open_item(self, item: QListWidgetItem) -> None:
        row = self.list.row(item)
        choice = self.entries[row].choice if 0 <= row < len(self.entries) else None
        if choice is not None:
            self.review.open_study_in_background(choice, opened=self.refresh)

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
            if (not entry.reviewed and entry.choice is not None
                    and (current is None or entry.key != current.key)):
                return entry
        return None

    def open_next_unreviewed(self) -> bool:
        """Start opening the next unreviewed study (in the background: the list is
        refreshed once it is open); False if none is left or the reader cancelled."""
        self.refresh()
        entry = self.next_unreviewed()
        if entry is None:
            self.summary.setText("Every study in the queue is reviewed")
            return False
        assert entry.choice is not None
        return self.review.open_study_in_background(entry.choice,
                                                    opened=self.refresh) is not None

"""Saving the review and not losing it: save, SEG export, autosave, the close guard.

:class:`ReviewSession` is given the review model, the dock's background jobs, the
reader field and status lines, and the prompts as callables; the review dock
(:class:`~bmes_imaging_napari._qt._review_widget.ReviewWidget`) holds one and listens
to its :attr:`~ReviewSession.closing` signal.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QEvent, QObject, QTimer, Signal
from qtpy.QtWidgets import QApplication, QFileDialog, QWidget

from bmes_imaging.errors import BmesError, StoreError

from ._prompts import notify_error, notify_info

if TYPE_CHECKING:
    from qtpy.QtWidgets import QLabel, QLineEdit

    from .._review_model import ReviewModel
    from ._background import BackgroundJobs

__all__ = ["AUTOSAVE_MS", "ReviewSession"]

log = logging.getLogger("bmes_imaging.napari")

#: Default interval of the recovery autosave, in ms.
AUTOSAVE_MS = 60_000


class ReviewSession(QObject):
    """Saving the review of one dock and not losing it.

    Given the review model, the dock's background jobs and the controls it reads and
    writes; knows nothing else of the dock. Prompts and the pending paint stroke are
    reached through the callables it is given.

    Parameters
    ----------
    model
        The :class:`~bmes_imaging_napari._review_model.ReviewModel` to save.
    jobs
        The dock's :class:`~._background.BackgroundJobs` (save and export run there).
    reader_edit
        The reader's name field (read before every save).
    status, state
        The dock's status line and its saved / unsaved line.
    dock
        The review dock: parent of the dialogs; its top-level window is guarded.
    ask_unsaved
        ``() -> "save" | "discard" | "cancel"``, asked before unsaved work is lost.
    ask_save_failed
        ``(reason) -> "retry" | "elsewhere" | "cancel"`` after a failed save.
    flush_edits
        Recompute now a paint stroke that waits for its debounce timer.
    autosave_ms
        Interval of the recovery autosave, in ms (0 disables it).
    """

    #: the window the dock is in closes, or the application quits: stop everything
    closing = Signal()

    def __init__(self, model: ReviewModel, jobs: BackgroundJobs, reader_edit: QLineEdit,
                 status: QLabel, state: QLabel, *, dock: QWidget,
                 ask_unsaved: Callable[[], str], ask_save_failed: Callable[[str], str],
                 flush_edits: Callable[[], None], autosave_ms: int = AUTOSAVE_MS) -> None:
        super().__init__(dock)
        self.model = model
        self.jobs = jobs
        self.reader_edit = reader_edit
        self.status = status
        self.state = state
        self.dock = dock
        self.ask_unsaved = ask_unsaved
        self.ask_save_failed = ask_save_failed
        self.flush_edits = flush_edits
        self._guarded: Any = None
        self.autosave_timer = QTimer(self)
        if autosave_ms > 0:
            self.autosave_timer.setInterval(autosave_ms)
            self.autosave_timer.timeout.connect(self.autosave)
            self.autosave_timer.start()
        QTimer.singleShot(0, self.guard_window)  # docked by then
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_quit)

    # -------------------------------------------------------------- window
    def guard_window(self) -> None:
        """Filter the Close events of the window the dock is in (once docked)."""
        window = self.dock.window()
        if window is not None and window is not self.dock and window is not self._guarded:
            window.installEventFilter(self)
            self._guarded = window

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        """Ask before the viewer window closes over unsaved review work; when it does
        close, emit :attr:`closing`."""
        if event is not None and event.type() == QEvent.Type.Close \
                and obj is self._guarded:
            if not self.maybe_close_study():
                event.ignore()
                return True
            self.closing.emit()
        return False

    def _on_quit(self) -> None:
        self.autosave()  # Ctrl+C / SIGTERM: unsaved work goes to the recovery file
        self.closing.emit()

    def stop(self) -> None:
        """Stop the autosave and let go of the application (idempotent)."""
        self.autosave_timer.stop()
        app = QApplication.instance()
        if app is not None:
            try:  # the application must not keep a closed viewer alive
                app.aboutToQuit.disconnect(self._on_quit)
            except (TypeError, RuntimeError):  # already disconnected
                pass

    def maybe_close_study(self) -> bool:
        """Ask about unsaved work; True if it is fine to close (saved or discarded)."""
        if not self.model.dirty or self.model.study is None:
            return True
        answer = self.ask_unsaved()
        if answer == "save":
            return self.save()
        if answer == "discard":
            self.model.dirty = False
            self.model.discard_recovery()
            return True
        return False

    def update_state(self) -> None:
        """Show whether the review is saved (and its version) or has unsaved changes."""
        if self.model.study is None:
            self.state.setText("")
            return
        version = self.model.last_saved_version
        saved = f"saved version {getattr(version, 'version', '')}".strip() if version else ""
        self.state.setText("Unsaved changes" if self.model.dirty
                           else (saved.capitalize() or "No changes"))

    # ---------------------------------------------------------------- save
    def _take_reader(self) -> bool:
        self.flush_edits()
        self.model.reader = self.reader_edit.text().strip() or self.model.reader
        if not self.model.reader:
            notify_error("Enter your name in 'Reader' before saving.")
            self.reader_edit.setFocus()
            return False
        return True

    def save(self) -> bool:
        """Save through the store; True on success (errors shown as notifications).

        When the store or its disk fails (full, read-only, held, server gone), the
        review stays in memory (still unsaved, also written to the recovery file where
        possible), the reason is shown in one line and the reader chooses: retry, save
        a copy elsewhere (label map NIfTI + findings JSON), or cancel.
        """
        if not self._take_reader():
            return False
        while True:
            try:
                self.model.save()
            except (StoreError, OSError) as exc:
                line = _failure_line(exc)
                self.autosave()  # protect the work in progress where the cache allows
                answer = self.ask_save_failed(line)
                if answer == "retry":
                    continue
                if answer == "elsewhere":
                    self.save_copy_dialog()
                else:
                    notify_error(f"Not saved (the review is kept, unsaved): {line}")
                self.update_state()
                return False
            except (BmesError, ValueError, RuntimeError) as exc:
                notify_error(f"Not saved: {exc}")
                return False
            break
        self.update_state()
        return True

    def save_in_background(self) -> Any:
        """Save without blocking the GUI: the review is copied now, written through the
        store in a worker (busy retries included); a failure asks retry / save a copy
        elsewhere / cancel, as :meth:`save` does. Returns the worker (None: not saved)."""
        if not self._take_reader():
            return None
        try:
            snapshot = self.model.save_snapshot()
        except (BmesError, ValueError, RuntimeError) as exc:
            notify_error(f"Not saved: {exc}")
            return None
        return self.jobs.start(
            "save", self.model.write_snapshot, snapshot, text="Saving…",
            returned=functools.partial(self._saved, snapshot), errored=self._save_failed)

    def _saved(self, snapshot: Any, version: Any) -> None:
        self.model.mark_saved(snapshot, version)
        self.status.setText(f"Saved (version {getattr(version, 'version', '')})")
        self.update_state()

    def _save_failed(self, exc: BaseException) -> None:
        self.status.setText("Not saved")
        if not isinstance(exc, (StoreError, OSError)):
            notify_error(f"Not saved: {exc}")
            return
        line = _failure_line(exc)
        self.autosave()  # protect the work in progress where the cache allows
        answer = self.ask_save_failed(line)
        if answer == "retry":
            QTimer.singleShot(0, self.save_in_background)
        elif answer == "elsewhere":
            self.save_copy_dialog()
        else:
            notify_error(f"Not saved (the review is kept, unsaved): {line}")
        self.update_state()

    def save_copy_dialog(self) -> Path | None:
        """Ask for a folder and write a copy of the unsaved review there."""
        folder = QFileDialog.getExistingDirectory(self.dock, "Save a copy of the review in")
        return self.save_copy(folder) if folder else None

    def save_copy(self, folder: str | os.PathLike[str]) -> Path | None:
        """Write the unsaved review to ``folder``: label map NIfTI + findings JSON.

        The review stays unsaved in the store (save again once it is writable); returns
        the folder, or None if that write failed too (shown as a notification).
        """
        import json

        from bmes_imaging._atomic import write_text_atomic

        from .._review_model import finding_to_dict

        if self.model.edema is None:
            return None
        out = Path(folder)
        stem = f"review_{_file_safe(self.model.reader)}"
        try:
            self.model.edema.to_nifti(out / f"{stem}_edema.nii.gz")
            write_text_atomic(out / f"{stem}_findings.json", json.dumps(
                {"reader": self.model.reader,
                 "findings": [finding_to_dict(f) for f in self.model.findings]}, indent=1))
        except OSError as exc:
            notify_error(f"Copy not written either: {_failure_line(exc)}")
            return None
        notify_info(f"A copy of the review is in {out} ({stem}_edema.nii.gz, "
                    f"{stem}_findings.json); it is still unsaved in the store")
        return out

    # -------------------------------------------------------------- export
    def export_seg_dialog(self) -> None:
        """Ask for a file name and export the SEG in the background."""
        path, _ = QFileDialog.getSaveFileName(self.dock, "Export DICOM SEG",
                                              "edema_seg.dcm", "DICOM (*.dcm)")
        if path:
            self.export_seg_in_background(path)

    def export_seg_in_background(self, path: str | os.PathLike[str]) -> Any:
        """Export the SEG in a worker (the GUI stays responsive); returns the worker."""
        self.flush_edits()
        self.model.reader = self.reader_edit.text().strip() or self.model.reader
        return self.jobs.start(
            "export", self.model.export_seg, path, text="Writing DICOM SEG…",
            returned=functools.partial(self._exported, Path(path)),
            errored=self._export_failed)

    def _exported(self, path: Path, result: Any) -> None:
        self.status.setText("DICOM SEG written")
        notify_info(f"DICOM SEG written: {path.name}")

    def _export_failed(self, exc: BaseException) -> None:
        self.status.setText("SEG not written")
        notify_error(f"SEG not written: {exc}")

    def export_seg(self, path: str | os.PathLike[str]) -> Any:
        """Export the confirmed edema as DICOM SEG; the ``SegExport`` or None (error
        shown as a notification)."""
        self.flush_edits()
        self.model.reader = self.reader_edit.text().strip() or self.model.reader
        try:
            result = self.model.export_seg(path)
        except BmesError as exc:
            notify_error(f"SEG not written: {exc}")
            return None
        notify_info(f"DICOM SEG written: {Path(path).name}")
        return result

    def autosave(self) -> None:
        """Write work in progress to the recovery file (timer slot)."""
        try:
            path = self.model.write_recovery()
        except OSError as exc:
            log.warning("autosave failed: %s", exc)
            return
        if path is not None:
            log.info("autosaved review to the recovery file")


def _failure_line(exc: BaseException) -> str:
    """One line for a failed save: the store's message, or path + reason + what to do."""
    from bmes_imaging._faults import os_error_line

    text = os_error_line(exc) if isinstance(exc, OSError) else str(exc)
    return " ".join(text.split())


def _file_safe(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:40] or "reader"

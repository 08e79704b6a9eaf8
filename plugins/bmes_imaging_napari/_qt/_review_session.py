"""Saving the review and not losing it: save, SEG export, autosave, the close guard.

A mixin of :class:`~bmes_imaging_napari._qt._review_widget.ReviewWidget` (it uses the
widget's ``model``, ``viewer``, ``reader_edit``, timers and prompts); kept apart so the
widget module holds only what the reader sees and does.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QApplication, QFileDialog, QWidget

from bmes_imaging.errors import BmesError, StoreError

from ._prompts import ask_save_failed_dialog, notify_error, notify_info

if TYPE_CHECKING:
    from qtpy.QtWidgets import QLabel, QLineEdit

    from .._review_model import ReviewModel
    from ._background import BackgroundJobs
    from ._keys import ReviewKeys

__all__ = ["AUTOSAVE_MS", "ReviewSessionMixin"]

log = logging.getLogger("bmes_imaging.napari")

#: Default interval of the recovery autosave, in ms.
AUTOSAVE_MS = 60_000


class ReviewSessionMixin:
    """Save / export / autosave / close handling of the review widget (mixed into a
    ``QWidget``: the close guard filters the main window's events)."""

    if TYPE_CHECKING:
        viewer: Any
        model: ReviewModel
        reader_edit: QLineEdit
        progress_label: QLabel
        ask_unsaved: Callable[[], str]
        _autosave_timer: QTimer
        _recompute_timer: QTimer
        _shortcuts: ReviewKeys
        _caption: Any
        view_tools: Any
        jobs: BackgroundJobs
        _guarded: Any

        def flush_edits(self) -> None: ...
        def cancel_detection(self) -> None: ...
        def _update_state_label(self) -> None: ...
        def _restore_saved_or_recovered(self) -> None: ...

    # -------------------------------------------------------------- window
    def _main_window(self) -> Any:
        """The top-level window the dock sits in (Qt's ``QWidget.window()``), or None
        while the widget is not docked yet."""
        window = cast(QWidget, self).window()
        return window if window is not self else None

    def _install_close_guard(self) -> None:
        """Filter the main window's Close events (once docked) and, on quitting the
        application, keep unsaved work in the recovery file and stop the helper process."""
        self._guarded = None
        QTimer.singleShot(0, self._guard_window)  # docked by then
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_quit)

    def _guard_window(self) -> None:
        window = self._main_window()
        if window is not None and window is not self._guarded:
            window.installEventFilter(cast(QObject, self))
            self._guarded = window

    def showEvent(self, event: Any) -> None:
        """Docked and shown: guard the window it is in."""
        super().showEvent(event)  # type: ignore[misc]
        self._guard_window()

    def eventFilter(self, obj: QObject | None, event: QEvent | None) -> bool:
        """Ask before the viewer window closes over unsaved review work; when it does
        close, release the keys and stop the bone-mask process."""
        if event is not None and event.type() == QEvent.Type.Close \
                and obj is self._guarded:
            if not self.maybe_close_study():
                event.ignore()
                return True
            self._shut_down()
        return False

    def _on_quit(self) -> None:
        self.autosave()  # Ctrl+C / SIGTERM: unsaved work goes to the recovery file
        self._shut_down()

    def _shut_down(self) -> None:
        """Stop timers and the bone-mask process, unbind the keys (idempotent)."""
        from .._bone_process import shutdown

        self._autosave_timer.stop()
        self._recompute_timer.stop()
        self._shortcuts.release()
        self._caption.disconnect()
        self.view_tools.close_linked_views()
        self.cancel_detection()
        app = QApplication.instance()
        if app is not None:
            try:  # the application must not keep a closed viewer alive
                app.aboutToQuit.disconnect(self._on_quit)
            except (TypeError, RuntimeError):  # already disconnected
                pass
        shutdown()

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

    # ---------------------------------------------------------------- save
    def _on_reader_changed(self) -> None:
        name = self.reader_edit.text().strip()
        if name == self.model.reader:
            return
        self.model.reader = name
        if self.model.study is not None and not self.model.dirty and name:
            self._restore_saved_or_recovered()

    def save(self) -> bool:
        """Save through the store; True on success (errors shown as notifications).

        When the store or its disk fails (full, read-only, held, server gone), the
        review stays in memory (still unsaved, also written to the recovery file where
        possible), the reason is shown in one line and the reader chooses: retry, save
        a copy elsewhere (label map NIfTI + findings JSON), or cancel.
        """
        self.flush_edits()
        self.model.reader = self.reader_edit.text().strip() or self.model.reader
        if not self.model.reader:
            notify_error("Enter your name in 'Reader' before saving.")
            self.reader_edit.setFocus()
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
                    self._save_copy_dialog()
                else:
                    notify_error(f"Not saved (the review is kept, unsaved): {line}")
                self._update_state_label()
                return False
            except (BmesError, ValueError, RuntimeError) as exc:
                notify_error(f"Not saved: {exc}")
                return False
            break
        self._update_state_label()
        return True

    def save_in_background(self) -> Any:
        """Save without blocking the GUI: the review is copied now, written through the
        store in a worker (busy retries included); a failure asks retry / save a copy
        elsewhere / cancel, as :meth:`save` does. Returns the worker (None: not saved)."""
        self.flush_edits()
        self.model.reader = self.reader_edit.text().strip() or self.model.reader
        if not self.model.reader:
            notify_error("Enter your name in 'Reader' before saving.")
            self.reader_edit.setFocus()
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
        self.progress_label.setText(f"Saved (version {getattr(version, 'version', '')})")
        self._update_state_label()

    def _save_failed(self, exc: BaseException) -> None:
        self.progress_label.setText("Not saved")
        if not isinstance(exc, (StoreError, OSError)):
            notify_error(f"Not saved: {exc}")
            return
        line = _failure_line(exc)
        self.autosave()  # protect the work in progress where the cache allows
        answer = self.ask_save_failed(line)
        if answer == "retry":
            QTimer.singleShot(0, self.save_in_background)
        elif answer == "elsewhere":
            self._save_copy_dialog()
        else:
            notify_error(f"Not saved (the review is kept, unsaved): {line}")
        self._update_state_label()

    def ask_save_failed(self, reason: str) -> str:
        """``"retry"``, ``"elsewhere"`` or ``"cancel"`` after a failed save (replaceable)."""
        return ask_save_failed_dialog(cast(QWidget, self), reason)

    def _save_copy_dialog(self) -> Path | None:
        folder = QFileDialog.getExistingDirectory(cast(QWidget, self),
                                                  "Save a copy of the review in")
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

    def _export_seg_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(cast(QWidget, self), "Export DICOM SEG",
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
        self.progress_label.setText("DICOM SEG written")
        notify_info(f"DICOM SEG written: {path.name}")

    def _export_failed(self, exc: BaseException) -> None:
        self.progress_label.setText("SEG not written")
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

    def closeEvent(self, event: Any) -> None:
        """Stop timers, unbind the keys and stop the bone-mask process."""
        self._shut_down()
        super().closeEvent(event)  # type: ignore[misc]


def _failure_line(exc: BaseException) -> str:
    """One line for a failed save: the store's message, or path + reason + what to do."""
    from bmes_imaging._faults import os_error_line

    text = os_error_line(exc) if isinstance(exc, OSError) else str(exc)
    return " ".join(text.split())


def _file_safe(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:40] or "reader"

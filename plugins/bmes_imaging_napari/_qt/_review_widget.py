"""The review dock widget: run detection, confirm / reject / relabel findings, save.

All state lives in :class:`~bmes_imaging_napari._review_model.ReviewModel`; this module
only shows it and turns clicks, keys and paint strokes into model operations. The
controls are built in :mod:`._review_layout`; the dock holds parts that are given the
model (as napari-animation composes its widget): the study's layers and painting
(:mod:`._review_layers`), detection runs (:mod:`._detection_run`), saving / export /
autosave / the close guard (:mod:`._review_session`) and Next / undo
(:mod:`._navigation`). They report back through Qt signals.

Keyboard shortcuts (anywhere in the viewer window, except while typing in a text
field): **C** confirm, **R** reject, **N** / **Shift+N** next / previous finding,
**Shift+P** toggle primary bone (plain P stays napari's paint mode), **T** flip between
T1 and the fluid series, **Ctrl+Shift+S** save the review (napari keeps its own Ctrl+S),
**Ctrl+Z** / **Ctrl+Shift+Z** undo / redo a decision or an edit of the edema.
Bound with ``viewer.bind_key`` and on the dock itself (:mod:`._keys`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import QFileDialog, QWidget

from bmes_imaging.bones import Bone
from bmes_imaging.errors import BmesError

from .._review_model import ReviewModel
from .._study import Study, StudyChoice
from ._background import BackgroundJobs
from ._detection_run import DetectionController
from ._findings_table import COLUMNS
from ._keys import ReviewKeys
from ._navigation import FindingNavigator
from ._prompts import (
    ask_save_failed_dialog,
    ask_unsaved_dialog,
    ask_yes_no_dialog,
    notify_error,
    notify_info,
)
from ._review_layers import ReviewLayers
from ._review_layout import build_review_ui
from ._review_session import AUTOSAVE_MS, ReviewSession
from ._study_opener import StudyOpener
from ._study_picker import pick_study_dialog
from ._turns import Turns
from ._viewer_layers import camera_of
from ._warm_up import warm_up

if TYPE_CHECKING:
    import napari
    from qtpy.QtWidgets import QComboBox, QLabel, QLineEdit, QProgressBar, QPushButton

    from ._findings_table import FindingsTable
    from ._view_tools import ViewTools

__all__ = ["COLUMNS", "ReviewWidget", "camera_of"]


class ReviewWidget(QWidget):
    """Review the edema findings of one study in napari.

    Composed of parts that are given the review model: :class:`StudyOpener` (opening
    a study, restoring its review), :class:`ReviewLayers` (the study's layers,
    painting), :class:`DetectionController` (running detection),
    :class:`ReviewSession` (save, export, autosave, the close guard),
    :class:`FindingNavigator` (Next / Previous, undo / redo) and :class:`ViewTools`.
    The dock shows the model in its controls and turns clicks and keys into calls on
    the model and these parts; they tell it what happened through Qt signals.

    Parameters
    ----------
    napari_viewer
        The viewer (injected by napari).
    store
        A store object, or None to open the default one (``$BMES_DB``) on first use.
    cache
        Folder for detector output and recovery files (default: the user cache).
    autosave_ms
        Interval of the recovery autosave, in ms (0 disables it).

    Attributes
    ----------
    model : ReviewModel
        The review's state.
    opener : StudyOpener
        Opens studies (in the background, the picker, restore).
    layers : ReviewLayers
        The study's layers in the viewer.
    detection : DetectionController
        Detection runs.
    session : ReviewSession
        Saving, export, autosave and the close guard.
    ask_unsaved : callable
        ``() -> "save" | "discard" | "cancel"``; asked before unsaved work would be lost.
        A message box by default; tests replace it.
    ask_yes_no : callable
        ``(question) -> bool``; asked before restoring a recovery file or replacing the
        reader's edema with new detector output.
    pick_study : callable
        ``(choices, folder) -> StudyChoice | None``; asked when a folder holds several
        studies or feet (the study picker; None: cancelled).
    """

    # the controls, created by build_review_ui (_review_layout)
    reader_edit: QLineEdit
    study_label: QLabel
    state_label: QLabel
    progress: QProgressBar
    progress_label: QLabel
    table: FindingsTable
    bone_combo: QComboBox
    open_button: QPushButton
    detect_button: QPushButton
    cancel_button: QPushButton
    confirm_button: QPushButton
    reject_button: QPushButton
    primary_button: QPushButton
    next_button: QPushButton
    move_button: QPushButton
    paint_button: QPushButton
    save_button: QPushButton
    undo_button: QPushButton
    view_tools: ViewTools
    redo_button: QPushButton
    seg_button: QPushButton
    #: the finished detection's worker while its result is being shown
    _showing_result: Any = None

    def __init__(self, napari_viewer: napari.viewer.Viewer, *, store: Any = None,
                 cache: str | os.PathLike[str] | None = None,
                 autosave_ms: int = AUTOSAVE_MS) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.model = ReviewModel(reader=os.environ.get("BMES_READER", ""), store=store,
                                 cache=cache)
        self.ask_unsaved: Callable[[], str] = lambda: ask_unsaved_dialog(self)
        self.ask_yes_no: Callable[[str], bool] = lambda q: ask_yes_no_dialog(self, q)
        self.pick_study: Callable[[list[StudyChoice], str], StudyChoice | None] = \
            lambda choices, folder: pick_study_dialog(self, choices, folder)
        build_review_ui(self)
        self.jobs = BackgroundJobs(self.progress, self.progress_label, self._update_enabled)
        self.layers = ReviewLayers(self.viewer, self.model, self.view_tools, parent=self)
        self.layers.edited.connect(self._update_state_label)
        self.detection = DetectionController(
            self.viewer, self.model, self.jobs, self.progress, self.progress_label,
            ask_yes_no=lambda q: self.ask_yes_no(q), parent=self)
        self._result_turns = Turns(self)
        self.detection.detected.connect(self._on_detected)
        self.detection.running_changed.connect(self._update_enabled)
        self.session = ReviewSession(
            self.model, self.jobs, self.reader_edit, self.progress_label,
            self.state_label, dock=self, ask_unsaved=lambda: self.ask_unsaved(),
            ask_save_failed=lambda reason: self.ask_save_failed(reason),
            flush_edits=self.layers.flush_edits, autosave_ms=autosave_ms)
        self.session.closing.connect(self._shut_down)
        self.opener = StudyOpener(
            self.viewer, self.model, self.jobs, self.layers, self.progress_label,
            may_close=self.maybe_close_study,
            pick_study=lambda choices, folder: self.pick_study(choices, folder),
            ask_yes_no=lambda q: self.ask_yes_no(q), parent=self)
        self.opener.restored.connect(self._on_restored)
        self.opener.shown.connect(self.detection.run_pending)
        self.navigator = FindingNavigator(self.model, self.table, self.progress_label,
                                          self._after_history_step)
        self._update_enabled()

        self.model.changed.connect(self._on_model_changed)
        self._shortcuts = ReviewKeys(self.viewer, self, [
            ("C", self.confirm_selected), ("R", self.reject_selected),
            ("N", self.select_next), ("Shift+N", self.select_previous),
            ("Shift+P", self.toggle_primary_selected), ("T", self.toggle_sequence),
            ("Ctrl+Shift+S", self.save_in_background), ("Ctrl+Z", self.undo),
            ("Ctrl+Shift+Z", self.redo),
        ])
        self.adopt_layers()
        warm_up(self.viewer)

    # ------------------------------------------------------------ the parts
    @property
    def worker(self) -> Any:
        """The running detection's worker (None when none runs), kept until its result
        is shown (labels layers and the first candidate, over several event-loop turns)."""
        running = self.detection.worker
        return running if running is not None else self._showing_result

    @property
    def _prepare_worker(self) -> Any:  # benchmarks wait for it
        return self.detection.prepare_worker

    @property
    def edema_layer(self) -> Any:
        """The labels layer the reader paints edema into (None before detection)."""
        return self.layers.edema_layer

    def _study_layers(self) -> dict[str, Any]:
        return self.layers.study_layers()

    def run_detection(self) -> Any:
        """Start detection in a worker thread; returns the worker (or None)."""
        return self.detection.run()

    def cancel_detection(self) -> None:
        """Ask the running detection to stop at its next progress step."""
        self.detection.cancel()

    def _on_detected(self) -> None:
        # shown over several event-loop turns: each labels layer redraws the canvas
        self._showing_result = self.detection.worker
        self._result_turns.run(self._detected_steps(), done=self._result_shown,
                               failed=self._result_failed)

    def _detected_steps(self) -> Iterator[None]:
        yield from self.layers.sync_steps()
        self._refresh_table()
        yield None
        self.select_first_candidate()

    def _result_shown(self) -> None:
        self._showing_result = None
        self.detection.store_candidates()
        self._update_enabled()

    def _result_failed(self, exc: BaseException) -> None:
        self._result_shown()
        notify_error(f"Cannot show the detector candidates: {exc}")

    def maybe_close_study(self) -> bool:
        """Ask about unsaved work; True if it is fine to close (saved or discarded)."""
        return self.session.maybe_close_study()

    def save(self) -> bool:
        """Save through the store (see :meth:`ReviewSession.save`); True on success."""
        return self.session.save()

    def save_in_background(self) -> Any:
        """Save in a worker (see :meth:`ReviewSession.save_in_background`)."""
        return self.session.save_in_background()

    def save_copy(self, folder: str | os.PathLike[str]) -> Any:
        """Write the unsaved review to ``folder`` (label map NIfTI + findings JSON)."""
        return self.session.save_copy(folder)

    def ask_save_failed(self, reason: str) -> str:
        """``"retry"``, ``"elsewhere"`` or ``"cancel"`` after a failed save (replaceable)."""
        return ask_save_failed_dialog(self, reason)

    def export_seg(self, path: str | os.PathLike[str]) -> Any:
        """Export the confirmed edema as DICOM SEG (the ``SegExport`` or None)."""
        return self.session.export_seg(path)

    def export_seg_in_background(self, path: str | os.PathLike[str]) -> Any:
        """Export the SEG in a worker; returns the worker."""
        return self.session.export_seg_in_background(path)

    def _export_seg_dialog(self) -> None:
        self.session.export_seg_dialog()

    def autosave(self) -> None:
        """Write work in progress to the recovery file."""
        self.session.autosave()

    def flush_edits(self) -> None:
        """Recompute now if a paint stroke is waiting for the debounce timer."""
        self.layers.flush_edits()

    def start_painting(self) -> None:
        """Select the edema layer in paint mode, painting the selected finding's bone."""
        self.layers.start_painting(self.selected_bone())

    def toggle_sequence(self) -> None:
        """Flip between the T1 and the fluid series (shows one, hides the other)."""
        self.layers.toggle_sequence()

    def jump_to(self, bone: Bone | int) -> None:
        """Centre the view on the bone's edema (or the bone) and slice through it."""
        self.layers.jump_to(bone)

    # -------------------------------------------------------------- window
    def showEvent(self, event: Any) -> None:
        """Docked and shown: guard the window it is in."""
        super().showEvent(event)
        self.session.guard_window()

    def closeEvent(self, event: Any) -> None:
        """Stop timers, unbind the keys and stop the bone-mask process."""
        self._shut_down()
        super().closeEvent(event)

    def _shut_down(self) -> None:
        """Stop timers and the bone-mask process, unbind the keys (idempotent)."""
        from .._bone_process import shutdown

        self.session.stop()
        self.layers.recompute_timer.stop()
        self._shortcuts.release()
        self.opener.close()
        self.layers.close()
        self._result_turns.cancel()
        self._showing_result = None
        self.view_tools.close_linked_views()
        self.detection.cancel()
        shutdown()

    # ------------------------------------------------------------ studies
    def _open_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open study folder")
        if folder:
            self.open_study_in_background(folder)

    def open_study_in_background(self, source: StudyChoice | str | os.PathLike[str],
                                 opened: Callable[[], Any] | None = None) -> Any:
        """Open a study without blocking the GUI: index and load the series and prepare
        the layers in a worker thread (progress shown), then show them; the picker when
        the folder holds several studies; then ``opened()``. Returns the worker (None:
        cancelled or busy).
        """
        return self.opener.open_in_background(source, opened)

    def open_study(self, study: Study | StudyChoice | str | os.PathLike[str]) -> bool:
        """Open a study (a :class:`Study`, a :class:`StudyChoice` or a folder): layers,
        saved state, recovery. A folder holding several studies or feet asks which one
        (:attr:`pick_study`), never opening the first one silently.

        Returns False if the reader cancelled (unsaved work, the picker) or loading
        failed (the error is shown as a notification).
        """
        return self.opener.open(study)

    def adopt_layers(self) -> None:
        """Review a study opened through napari (File > Open, the sample data)."""
        self.opener.adopt_layers()

    def _on_restored(self) -> None:
        self._refresh_table()
        self.detection.prepare_painting()

    def _on_reader_changed(self) -> None:
        name = self.reader_edit.text().strip()
        if name == self.model.reader:
            return
        self.model.reader = name
        if self.model.study is not None and not self.model.dirty and name:
            self.opener.restore()

    # -------------------------------------------------------------- table
    def _on_model_changed(self, what: str) -> None:
        if what == "bones":
            self.layers.update_bones()
            return
        if what in ("findings", "detection", "restored", "saved", "study", "labels"):
            if what == "labels":
                self.layers.refresh_edema()
            if what == "study":
                self.study_label.setText(self._study_text())
            self._refresh_table()

    def _study_text(self) -> str:
        study = self.model.study
        if study is None:
            return "No study open"
        parts = [study.source.name if study.source else "study"]
        if study.side:
            parts.append({"L": "left foot", "R": "right foot"}.get(study.side, study.side))
        if study.fluid is not None:
            from .._layers import display_name_for_sequence

            parts.append(f"T1 + {display_name_for_sequence(study.fluid.info.sequence)}")
        return ", ".join(parts)

    def _refresh_table(self) -> None:
        self.table.show_findings(self.model.findings)
        self._update_state_label()
        self._update_enabled()

    def refresh_row(self, bone: Bone) -> None:
        """Update one finding's row (fast path for confirm / reject)."""
        self.table.update_bone(self.model.findings, bone)
        self._update_state_label()
        self.undo_button.setEnabled(self.model.history.can_undo)
        self.redo_button.setEnabled(self.model.history.can_redo)

    def _update_state_label(self) -> None:
        self.session.update_state()

    def _update_enabled(self) -> None:
        has_study = self.model.study is not None
        running = self.detection.running
        opening = self.jobs.busy("open")
        self.open_button.setEnabled(not opening)
        running = running or opening
        has_findings = bool(self.model.findings)
        self.detect_button.setEnabled(has_study and not running)
        self.cancel_button.setEnabled(running)
        for b in (self.confirm_button, self.reject_button, self.primary_button,
                  self.next_button, self.move_button):
            b.setEnabled(has_findings and not running)
        self.paint_button.setEnabled(self.model.edema is not None and not running)
        self.undo_button.setEnabled(self.model.history.can_undo and not running)
        self.redo_button.setEnabled(self.model.history.can_redo and not running)
        self.save_button.setEnabled(self.model.edema is not None and not running)
        self.seg_button.setEnabled(self.model.edema is not None and not running)

    def selected_bone(self) -> Bone | None:
        """The bone of the selected row, or None."""
        return self.table.selected_bone()

    def _select_bone(self, bone: Bone, *, jump: bool = True) -> None:
        self.table.select_bone(self.model.findings, bone, quiet=not jump)

    def select_bone(self, bone: Bone | int) -> None:
        """Select the finding of ``bone`` and jump the view to it."""
        self._select_bone(Bone(int(bone)))

    def _on_selection(self) -> None:
        bone = self.selected_bone()
        if bone is None:
            return
        self.bone_combo.setCurrentIndex(self.bone_combo.findData(int(bone)))
        self.jump_to(bone)

    def select_next(self) -> None:
        """Select the next undecided candidate (wraps around; see :mod:`._navigation`)."""
        self.navigator.step(+1)

    def select_previous(self) -> None:
        """Select the previous undecided candidate (wraps around)."""
        self.navigator.step(-1)

    def select_first_candidate(self) -> None:
        """Select the first bone with candidate edema (none: nothing selected)."""
        self.navigator.first()

    def undo(self) -> None:
        """Undo the last confirm, reject, primary, relabel or paint stroke."""
        self.layers.recompute_timer.stop()  # the stroke's recompute is part of the step
        self.navigator.undo()

    def redo(self) -> None:
        """Redo the last undone step."""
        self.layers.recompute_timer.stop()
        self.navigator.redo()

    def _after_history_step(self, bone: Bone | None) -> None:
        self.layers.refresh_edema()
        self._refresh_table()
        if bone is not None:
            self._select_bone(bone, jump=False)

    # ---------------------------------------------------------- decisions
    def _with_selected(self, op: Callable[[Bone], Any]) -> None:
        bone = self.selected_bone()
        if bone is None:
            return
        self.model.changed.disconnect(self._on_model_changed)
        try:
            op(bone)
        finally:
            self.model.changed.connect(self._on_model_changed)
        self.refresh_row(bone)

    def confirm_selected(self) -> None:
        """Confirm the selected finding (not a bone without edema: paint it first)."""
        bone = self.selected_bone()
        if bone is not None and self.model.finding(bone).edema_volume_ml <= 0:
            notify_info(f"{bone.display_name}: no edema to confirm (paint it first).")
            return
        self._with_selected(self.model.confirm)

    def reject_selected(self) -> None:
        """Reject the selected finding."""
        self._with_selected(self.model.reject)

    def toggle_primary_selected(self) -> None:
        """Toggle 'primary bone' on the selected finding."""
        self._with_selected(lambda b: self.model.set_primary(
            b, not self.model.finding(b).primary))

    def _change_bone_clicked(self) -> None:
        self.change_selected_bone(Bone(int(self.bone_combo.currentData())))

    def change_selected_bone(self, new_bone: Bone | int) -> None:
        """Move the selected finding's edema to ``new_bone`` (relabel)."""
        bone = self.selected_bone()
        if bone is None:
            return
        try:
            self.model.change_bone(bone, new_bone)
        except (RuntimeError, BmesError) as exc:
            notify_error(str(exc))
            return
        self.layers.refresh_edema()
        self._select_bone(Bone(int(new_bone)), jump=False)

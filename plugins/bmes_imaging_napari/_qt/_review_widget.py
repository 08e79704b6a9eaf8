"""The review dock widget: run detection, confirm / reject / relabel findings, save.

All state lives in :class:`~bmes_imaging_napari._review_model.ReviewModel`; this module
only shows it and turns clicks, keys and paint strokes into model operations. The
controls are built in :mod:`._review_layout`, running detection is wired in
:mod:`._detection_run` and saving / autosave / the close guard live in
:mod:`._review_session` (mixins of :class:`ReviewWidget`).

Keyboard shortcuts (anywhere in the viewer window, except while typing in a text
field): **C** confirm, **R** reject, **N** / **Shift+N** next / previous finding,
**Shift+P** toggle primary bone (plain P stays napari's paint mode), **T** flip between
T1 and the fluid series, **Ctrl+Shift+S** save the review (napari keeps its own Ctrl+S),
**Ctrl+Z** / **Ctrl+Shift+Z** undo / redo a decision or an edit of the edema.
Bound with ``viewer.bind_key`` and on the dock itself (:mod:`._keys`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog, QWidget

from bmes_imaging.bones import Bone
from bmes_imaging.errors import BmesError

from .._layers import (
    META_KEY,
    display_frame,
    layer_view,
    study_layer_data,
    volume_from_layer,
)
from .._review_model import ReviewModel
from .._study import SeveralStudiesError, Study, StudyChoice, load_study
from ._background import BackgroundJobs
from ._canvas import CaptionFollower, link_fov_to_fluid
from ._detection_run import DetectionRun, DetectionWiringMixin
from ._findings_table import COLUMNS
from ._keys import ReviewKeys
from ._navigation import FindingNavigator
from ._prompts import ask_unsaved_dialog, ask_yes_no_dialog, notify_error, notify_info
from ._review_layout import build_review_ui
from ._review_session import AUTOSAVE_MS, ReviewSessionMixin
from ._study_picker import pick_study_dialog
from ._viewer_layers import (
    camera_of,
    orient_view,
    plugin_meta,
    show_labels,
    show_study_layers,
    study_layers,
)
from ._warm_up import warm_up

if TYPE_CHECKING:
    import napari
    from qtpy.QtWidgets import QComboBox, QLabel, QLineEdit, QProgressBar, QPushButton

    from ._findings_table import FindingsTable
    from ._view_tools import ViewTools

__all__ = ["COLUMNS", "ReviewWidget", "camera_of"]

RECOMPUTE_DELAY_MS = 250


def _prepare_study(source: StudyChoice | str | os.PathLike[str], model: ReviewModel
                   ) -> Any:
    """Worker thread: load a study, its layer data and what the review shows of it
    (:meth:`ReviewModel.prefetch`); the SeveralStudiesError (not raised: the GUI thread
    shows the picker) when the folder holds several."""
    try:
        study = load_study(source)
    except SeveralStudiesError as several:
        return several
    tuples = study_layer_data(study.t1, study.fluid, study_key=study.key)
    model.prefetch(study)
    return study, tuples


class ReviewWidget(DetectionWiringMixin, ReviewSessionMixin, QWidget):
    """Review the edema findings of one study in napari.

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
        self._fov_link: Any = None
        self._caption = CaptionFollower(self.viewer)
        self.worker: Any = None
        self._run: DetectionRun | None = None
        self._prepare_worker: Any = None
        self._syncing = False
        self._edema_layer: Any = None
        self._detect_after_open = False
        self._on_opened: Callable[[], Any] | None = None
        build_review_ui(self)
        self.jobs = BackgroundJobs(self.progress, self.progress_label, self._update_enabled)
        self.navigator = FindingNavigator(self.model, self.table, self.progress_label,
                                          self._after_history_step)

        self._recompute_timer = QTimer(self)
        self._recompute_timer.setSingleShot(True)
        self._recompute_timer.setInterval(RECOMPUTE_DELAY_MS)
        self._recompute_timer.timeout.connect(self._recompute_now)
        self._autosave_timer = QTimer(self)
        if autosave_ms > 0:
            self._autosave_timer.setInterval(autosave_ms)
            self._autosave_timer.timeout.connect(self.autosave)
            self._autosave_timer.start()

        self.model.changed.connect(self._on_model_changed)
        self.viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self._install_shortcuts()
        self._install_close_guard()
        self.adopt_layers()
        warm_up()

    # ------------------------------------------------------------ keyboard
    def _install_shortcuts(self) -> None:
        self._shortcuts = ReviewKeys(self.viewer, self, [
            ("C", self.confirm_selected), ("R", self.reject_selected),
            ("N", self.select_next), ("Shift+N", self.select_previous),
            ("Shift+P", self.toggle_primary_selected), ("T", self.toggle_sequence),
            ("Ctrl+Shift+S", self.save_in_background), ("Ctrl+Z", self.undo),
            ("Ctrl+Shift+Z", self.redo),
        ])

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
        self._on_opened = opened
        if self.jobs.busy("open") or not self.maybe_close_study():
            return None
        return self.jobs.start("open", _prepare_study, source, self.model,
                               text="Opening study…",
                               returned=self._on_prepared,
                               errored=self._open_failed)

    def _open_failed(self, exc: BaseException) -> None:
        self.progress_label.setText("Study not opened")
        notify_error(f"Cannot open study: {exc}")

    def _on_prepared(self, prepared: Any) -> None:
        if isinstance(prepared, SeveralStudiesError):
            choice = self.pick_study(prepared.choices, str(prepared.args[0]).split(":")[0])
            if choice is not None:
                opened = self._on_opened
                QTimer.singleShot(0, lambda: self.open_study_in_background(choice, opened))
            else:
                self.progress_label.setText("No study chosen")
            return
        study, tuples = prepared
        if not self.maybe_close_study():  # edited the open study meanwhile: ask again
            self.progress_label.setText("Study not opened")
            return
        self.progress_label.setText("")
        self._show(study, tuples)  # may say where the candidates come from
        if self._on_opened is not None:
            self._on_opened()
        if self._detect_after_open:
            self._detect_after_open = False
            QTimer.singleShot(0, self.run_detection)

    def open_study(self, study: Study | StudyChoice | str | os.PathLike[str]) -> bool:
        """Open a study (a :class:`Study`, a :class:`StudyChoice` or a folder): layers,
        saved state, recovery. A folder holding several studies or feet asks which one
        (:attr:`pick_study`), never opening the first one silently.

        Returns False if the reader cancelled (unsaved work, the picker) or loading
        failed (the error is shown as a notification).
        """
        if not self.maybe_close_study():
            return False
        if not isinstance(study, Study):
            try:
                loaded = self._load(study)
            except BmesError as exc:
                notify_error(f"Cannot open study: {exc}")
                return False
            if loaded is None:
                return False
            study = loaded
        self._show(study, None)
        return True

    def _show(self, study: Study, tuples: list[Any] | None) -> None:
        """Show a loaded study (its layer data prepared already, or now)."""
        self.model.compute_bones_ahead(study)  # while the layers are drawn
        self._disconnect_edema_layer()
        self._syncing = True
        try:
            show_study_layers(self.viewer, study, tuples)
        finally:
            self._syncing = False
        self._start(study)

    def _load(self, source: StudyChoice | str | os.PathLike[str]) -> Study | None:
        """Load a study; the picker when the folder holds several (None: cancelled)."""
        try:
            return load_study(source)
        except SeveralStudiesError as several:
            choice = self.pick_study(several.choices, str(source))
            return load_study(choice) if choice is not None else None

    def _start(self, study: Study) -> None:
        self.model.open(study)
        orient_view(self.viewer, study)
        self._caption.show(study)
        self._fov_link = link_fov_to_fluid(self.viewer, study.key, self._fov_link)
        self._restore_saved_or_recovered()

    def _restore_saved_or_recovered(self) -> None:
        if self.model.study is None:
            return
        restored = False
        if self.model.reader:
            try:
                restored = self.model.restore()
            except BmesError as exc:
                notify_error(f"Cannot read the saved review: {exc}")
        if self.model.has_recovery():
            if self.ask_yes_no("Unsaved work from an earlier session was recovered for "
                               "this study. Restore it?"):
                restored = self.model.load_recovery() or restored
            else:
                self.model.discard_recovery()
        if not restored:  # candidates stored by an earlier detection run
            try:
                restored = self.model.load_candidates()
            except BmesError as exc:
                notify_error(f"Cannot read the stored candidates: {exc}")
            if restored:
                self.progress_label.setText("Detector candidates (stored or screened)")
        if restored:
            self._sync_layers()
            self._prepare_painting()

    def _study_layers(self) -> dict[str, Any]:
        return study_layers(self.viewer, self.model.study.key if self.model.study else None)

    def _on_layer_inserted(self, event: Any) -> None:
        if self._syncing:
            return
        meta = plugin_meta(event.value)
        if meta and meta.get("role") in ("t1", "fluid"):
            # a reader or the sample data opened a study: adopt it once both are in
            QTimer.singleShot(0, self.adopt_layers)

    def adopt_layers(self) -> None:
        """Review a study opened through napari (File > Open, the sample data)."""
        layers: dict[str, Any] = {}
        for layer in self.viewer.layers:
            meta = plugin_meta(layer)
            if meta and meta.get("role") in ("t1", "fluid"):
                layers.setdefault(meta["role"], layer)
        t1_layer = layers.get("t1")
        if t1_layer is None:
            return
        meta = t1_layer.metadata[META_KEY]
        key = meta.get("study_key")
        if self.model.study is not None and self.model.study.key == key:
            return
        if self.model.dirty and not self.maybe_close_study():
            return
        t1 = volume_from_layer(t1_layer)
        fluid = volume_from_layer(layers["fluid"]) if "fluid" in layers else None
        source = meta.get("source")
        study = Study(t1=t1, fluid=fluid, key=key or t1.info.study_instance_uid or "",
                      side=t1.info.laterality, patient_id=t1.info.patient_id,
                      source=Path(source) if source else None,
                      study_date=meta.get("study_date"))
        self._start(study)

    # -------------------------------------------------------------- layers
    def _sync_layers(self) -> None:
        """Show the model's bone and edema labels (adding or updating layers)."""
        key = self.model.study_key
        assert self.model.study is not None
        frame = display_frame(self.model.study.t1)
        self._syncing = True
        try:
            if self.model.bones is not None:
                bones_layer = show_labels(self.viewer, self.model.bones, role="bones",
                                          key=key, frame=frame)
                bones_layer.contour = 1  # outlines: the marrow signal stays readable
            if self.model.edema is not None:
                self._disconnect_edema_layer()
                layer = show_labels(self.viewer, self.model.edema, role="edema", key=key,
                                    frame=frame, name="Edema")
                self._connect_edema_layer(layer)
                self.view_tools.set_edema_outline(self.view_tools.outline_check.isChecked())
                # painting must edit the model's array: share it with the layer
                self.model.edema.array = volume_from_layer(layer).array
                self.model._voxel_counts = self.model._count_voxels()
        finally:
            self._syncing = False
        self._refresh_table()

    def _connect_edema_layer(self, layer: Any) -> None:
        self._edema_layer = layer
        layer.events.paint.connect(self._on_labels_edited)
        layer.events.data.connect(self._on_labels_edited)

    def _disconnect_edema_layer(self) -> None:
        layer = self._edema_layer
        if layer is not None:
            layer.events.paint.disconnect(self._on_labels_edited)
            layer.events.data.disconnect(self._on_labels_edited)
        self._edema_layer = None

    @property
    def edema_layer(self) -> Any:
        """The labels layer the reader paints edema into (None before detection)."""
        return self._edema_layer

    def _on_labels_edited(self, event: Any = None) -> None:
        if self._syncing:
            return
        layer = self._edema_layer
        if layer is not None and self.model.edema is not None \
                and not np.shares_memory(layer.data, self.model.edema.array):
            self.model.edema.array = volume_from_layer(layer).array
        self.model.dirty = True
        history = self.model.history
        history.record_paint(self.model)  # the stroke can be undone
        QTimer.singleShot(0, lambda: history.resolve(self.model))
        self._recompute_timer.start()
        self._update_state_label()

    def _recompute_now(self) -> None:
        if not self.model.can_recompute():
            notify_info("Run detection to update volumes after painting (bone labels "
                         "are needed).")
            return
        try:
            self.model.recompute()
        except BmesError as exc:
            notify_error(f"Cannot recompute findings: {exc}")

    def flush_edits(self) -> None:
        """Recompute now if a paint stroke is waiting for the debounce timer."""
        if self._recompute_timer.isActive():
            self._recompute_timer.stop()
            self._recompute_now()

    def start_painting(self) -> None:
        """Select the edema layer in paint mode, painting the selected finding's bone."""
        layer = self._edema_layer
        if layer is None:
            notify_info("Run detection first: there is no edema layer to paint.")
            return
        bone = self.selected_bone()
        if bone is not None:
            layer.selected_label = int(bone)
        self.viewer.layers.selection.active = layer
        layer.mode = "paint"

    # -------------------------------------------------------------- table
    def _on_model_changed(self, what: str) -> None:
        if what == "bones" and self.model.bones is not None:
            layer = self._study_layers().get("bones")
            if layer is not None:
                self._syncing = True
                try:
                    layer.data = layer_view(self.model.bones)
                finally:
                    self._syncing = False
            return
        if what in ("findings", "detection", "restored", "saved", "study", "labels"):
            if what == "labels" and self._edema_layer is not None:
                self._edema_layer.refresh()
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
        if self.model.study is None:
            self.state_label.setText("")
            return
        version = self.model.last_saved_version
        saved = f"saved version {getattr(version, 'version', '')}".strip() if version else ""
        self.state_label.setText("Unsaved changes" if self.model.dirty
                                 else (saved.capitalize() or "No changes"))

    def _update_enabled(self) -> None:
        has_study = self.model.study is not None
        running = self.worker is not None
        jobs = getattr(self, "jobs", None)
        opening = jobs is not None and jobs.busy("open")
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

    def jump_to(self, bone: Bone | int) -> None:
        """Centre the view on the bone's edema (or the bone) and slice through it."""
        centre = self.model.centroid_world(bone)
        if centre is None:
            return
        dims = self.viewer.dims
        if dims.ndim < 3 or self.model.study is None:
            return
        frame = display_frame(self.model.study.t1)
        shown = frame[:3, :3] @ np.asarray(centre, dtype=float) + frame[:3, 3]
        world = shown[-dims.ndim:]
        for axis in dims.not_displayed:
            dims.set_point(axis, float(world[axis]))
        displayed = [float(world[a]) for a in dims.displayed]
        camera_of(self.viewer).center = tuple(displayed)

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
        self._recompute_timer.stop()  # the stroke's recompute is part of the step
        self.navigator.undo()

    def redo(self) -> None:
        """Redo the last undone step."""
        self._recompute_timer.stop()
        self.navigator.redo()

    def _after_history_step(self, bone: Bone | None) -> None:
        if self._edema_layer is not None:
            self._edema_layer.refresh()
        self._refresh_table()
        if bone is not None:
            self._select_bone(bone, jump=False)

    def toggle_sequence(self) -> None:
        """Flip between the T1 and the fluid series (shows one, hides the other)."""
        layers = self._study_layers()
        t1, fluid = layers.get("t1"), layers.get("fluid")
        if t1 is None or fluid is None:
            return
        show_t1 = fluid.visible
        fluid.visible = not show_t1
        t1.visible = True

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
        if self._edema_layer is not None:
            self._edema_layer.refresh()
        self._select_bone(Bone(int(new_bone)), jump=False)

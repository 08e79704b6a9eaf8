"""Opening a study for review: through the core's loader, off the GUI thread, never the
first of several silently; then what was saved, recovered or screened for it.

:class:`StudyOpener` is given the review model, the viewer, the dock's background jobs,
its layers (:class:`~._review_layers.ReviewLayers`) and status line, and the prompts as
callables; the review dock holds one and listens to its signals.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, QTimer, Signal

from bmes_imaging.errors import BmesError

from .._layers import META_KEY, study_layer_data, volume_from_layer
from .._study import SeveralStudiesError, Study, StudyChoice, load_study
from ._canvas import CaptionFollower, link_fov_to_fluid
from ._prompts import notify_error
from ._turns import Turns, run_now
from ._viewer_layers import orient_view, plugin_meta
from ._warm_layers import is_warm

if TYPE_CHECKING:
    from qtpy.QtWidgets import QLabel

    from .._review_model import ReviewModel
    from ._background import BackgroundJobs
    from ._review_layers import ReviewLayers

__all__ = ["StudyOpener", "prepare_study"]

log = logging.getLogger(__name__)

PickStudy = Callable[[list[StudyChoice], str], StudyChoice | None]


def prepare_study(source: StudyChoice | str | os.PathLike[str], model: ReviewModel) -> Any:
    """Worker thread: load a study through the core (:func:`load_study`), prepare its
    layer data and what the review shows of it (:meth:`ReviewModel.prefetch`), start
    its automatic bone masks ahead (:meth:`ReviewModel.compute_bones_ahead`); the
    SeveralStudiesError (returned, not raised: the GUI thread shows the picker) when
    the folder holds several studies or feet."""
    try:
        study = load_study(source)
    except SeveralStudiesError as several:
        return several
    # the automatic bone masks (the slow part of a first detection, T1 only) start in
    # the bone-mask process now, before the layer data and the store reads, when the
    # process runs already (the warm-up started it: this thread imports nothing for
    # it); else last, when this thread imports nothing more (napari's Ctrl+C handler
    # waits for it: it must not wait for a module the GUI thread is importing)
    if _bone_process_running():
        _bones_ahead(model, study)
    tuples = study_layer_data(study.t1, study.fluid, study_key=study.key)
    model.prefetch(study)
    _bones_ahead(model, study)  # (nothing when started above)
    return study, tuples


def _bone_process_running() -> bool:
    import sys

    module = sys.modules.get("bmes_imaging_napari._bone_process")
    return module is not None and bool(module.is_running())


def _bones_ahead(model: ReviewModel, study: Study) -> None:
    try:
        model.compute_bones_ahead(study)
    except Exception:  # only a head start: detection computes (and reports) them
        log.debug("bone masks not started ahead", exc_info=True)


class StudyOpener(QObject):
    """Opens studies into a review model and the viewer.

    Parameters
    ----------
    viewer
        The napari viewer (studies opened through napari's File > Open are adopted).
    model
        The :class:`~bmes_imaging_napari._review_model.ReviewModel` studies open in.
    jobs
        The dock's background jobs (opening runs as the ``"open"`` job).
    layers
        The dock's :class:`~._review_layers.ReviewLayers`.
    status
        The dock's status line.
    may_close
        ``() -> bool``: True if the open study may be closed (asks about unsaved work).
    pick_study
        ``(choices, folder) -> StudyChoice | None``: the study picker.
    ask_yes_no
        ``(question) -> bool``: asked before a recovery file is restored.
    parent
        Owner of this object (the dock).
    """

    #: labels and findings were restored (saved review, recovery or candidates)
    restored = Signal()
    #: a study opened in the background is shown (after :attr:`restored`, if any)
    shown = Signal()

    def __init__(self, viewer: Any, model: ReviewModel, jobs: BackgroundJobs,
                 layers: ReviewLayers, status: QLabel, *, may_close: Callable[[], bool],
                 pick_study: PickStudy, ask_yes_no: Callable[[str], bool],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.model = model
        self.jobs = jobs
        self.layers = layers
        self.status = status
        self.may_close = may_close
        self.pick_study = pick_study
        self.ask_yes_no = ask_yes_no
        self.caption = CaptionFollower(viewer)
        self._fov_link: Any = None
        self._on_opened: Callable[[], Any] | None = None
        self.turns = Turns(self)
        viewer.layers.events.inserted.connect(self._on_layer_inserted)

    def open_in_background(self, source: StudyChoice | str | os.PathLike[str],
                           opened: Callable[[], Any] | None = None) -> Any:
        """Load in a worker thread, then show (the picker first when the folder holds
        several studies) over several event-loop turns, then ``opened()``; the worker
        (None: cancelled or busy). A study still being shown is finished first."""
        if self.turns.running:  # the previous study is still being drawn: finish it
            self.turns.finish()
        self._on_opened = opened
        if self.jobs.busy("open") or not self.may_close():
            return None
        return self.jobs.start("open", prepare_study, source, self.model,
                               text="Opening study…", returned=self._on_prepared,
                               errored=self._open_failed)

    def _open_failed(self, exc: BaseException) -> None:
        self.status.setText("Study not opened")
        notify_error(f"Cannot open study: {exc}")

    def _on_prepared(self, prepared: Any) -> None:
        if isinstance(prepared, SeveralStudiesError):
            choice = self.pick_study(prepared.choices, str(prepared.args[0]).split(":")[0])
            if choice is not None:
                opened = self._on_opened
                QTimer.singleShot(0, lambda: self.open_in_background(choice, opened))
            else:
                self.status.setText("No study chosen")
            return
        study, tuples = prepared
        if not self.may_close():  # edited the open study meanwhile: ask again
            self.status.setText("Study not opened")
            return
        self.status.setText("")
        # shown over several event-loop turns (no frozen window); the "open" job stays
        # busy until the study is shown
        self.jobs.hold("open")
        self.turns.run(self._show_steps(study, tuples), done=self._shown,
                       failed=self._show_failed)

    def _show_steps(self, study: Study, tuples: list[Any] | None) -> Iterator[None]:
        self.model.compute_bones_ahead(study)  # (started in prepare_study, if it ran)
        yield from self.layers.show_study_steps(study, tuples)
        yield from self._start_steps(study)  # may say where the candidates come from
        # the labels layers detection fills (added now, while the bone masks run)
        yield from self.layers.empty_labels_steps()

    def _shown(self) -> None:
        self.jobs.release("open")
        if self._on_opened is not None:
            self._on_opened()
        self.shown.emit()

    def _show_failed(self, exc: BaseException) -> None:
        self.jobs.release("open")
        self._open_failed(exc)

    def open(self, study: Study | StudyChoice | str | os.PathLike[str]) -> bool:
        """Open a study now (on this thread); False if cancelled or it failed (shown)."""
        if not self.may_close():
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
        self.show(study, None)
        return True

    def _load(self, source: StudyChoice | str | os.PathLike[str]) -> Study | None:
        """Load a study; the picker when the folder holds several (None: cancelled)."""
        try:
            return load_study(source)
        except SeveralStudiesError as several:
            choice = self.pick_study(several.choices, str(source))
            return load_study(choice) if choice is not None else None

    def show(self, study: Study, tuples: list[Any] | None) -> None:
        """Show a loaded study (its layer data prepared already, or now) and restore."""
        self._drop_turns()
        run_now(self._show_steps(study, tuples))

    def _drop_turns(self) -> None:
        """Stop showing a study opened in the background (its "open" job ends)."""
        if self.turns.running:
            self.turns.cancel()
            self.jobs.release("open")

    def start(self, study: Study) -> None:
        """Make ``study`` the model's, orient the view, caption it, then restore."""
        run_now(self._start_steps(study))

    def _start_steps(self, study: Study) -> Iterator[None]:
        self.model.open(study)
        yield None
        orient_view(self.viewer, study)
        yield None
        self.caption.show(study)
        self._fov_link = link_fov_to_fluid(self.viewer, study.key, self._fov_link)
        yield None
        yield from self._restore_steps()

    def restore(self) -> None:
        """The reader's saved review, else a recovered one (asked), else the stored or
        screened detector candidates; then :attr:`restored`."""
        run_now(self._restore_steps())

    def _restore_steps(self) -> Iterator[None]:
        model = self.model
        if model.study is None:
            return
        restored = False
        if model.reader:
            try:
                restored = model.restore()
            except BmesError as exc:
                notify_error(f"Cannot read the saved review: {exc}")
        if model.has_recovery():
            if self.ask_yes_no("Unsaved work from an earlier session was recovered for "
                               "this study. Restore it?"):
                restored = model.load_recovery() or restored
            else:
                model.discard_recovery()
        if not restored:  # candidates stored by an earlier detection run
            try:
                restored = model.load_candidates()
            except BmesError as exc:
                notify_error(f"Cannot read the stored candidates: {exc}")
            if restored:
                self.status.setText("Detector candidates (stored or screened)")
        if restored:
            yield None
            yield from self.layers.sync_steps()
            self.restored.emit()

    def _on_layer_inserted(self, event: Any) -> None:
        if self.layers.syncing or is_warm(event.value):
            return
        meta = plugin_meta(event.value)
        if meta and meta.get("role") in ("t1", "fluid"):
            # a reader or the sample data opened a study: adopt it once both are in
            QTimer.singleShot(0, self.adopt_layers)

    def adopt_layers(self) -> None:
        """Review a study opened through napari (File > Open, the sample data)."""
        found: dict[str, Any] = {}
        for layer in self.viewer.layers:
            meta = plugin_meta(layer)
            if meta and meta.get("role") in ("t1", "fluid") and not meta.get("warm_up"):
                found.setdefault(meta["role"], layer)
        t1_layer = found.get("t1")
        if t1_layer is None:
            return
        meta = t1_layer.metadata[META_KEY]
        key = meta.get("study_key")
        if self.model.study is not None and self.model.study.key == key:
            return
        if self.model.dirty and not self.may_close():
            return
        t1 = volume_from_layer(t1_layer)
        fluid = volume_from_layer(found["fluid"]) if "fluid" in found else None
        source = meta.get("source")
        self.start(Study(t1=t1, fluid=fluid, key=key or t1.info.study_instance_uid or "",
                         side=t1.info.laterality, patient_id=t1.info.patient_id,
                         source=Path(source) if source else None,
                         study_date=meta.get("study_date")))

    def close(self) -> None:
        """Stop following the viewer (the dock closes)."""
        self._drop_turns()
        self.caption.disconnect()
        try:
            self.viewer.layers.events.inserted.disconnect(self._on_layer_inserted)
        except (TypeError, ValueError, RuntimeError):  # the viewer is gone already
            pass

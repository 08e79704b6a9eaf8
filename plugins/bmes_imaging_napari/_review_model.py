"""Review state without Qt: one study, its findings per bone, the reader's decisions.

The :class:`ReviewModel` holds what a reader is doing to one foot's study: the T1 and
fluid volumes, the bone labels and the edema labels (T1 grid; the edema array is shared
with the napari labels layer, so painting edits it in place), the findings per bone
with their statuses, and whether anything is unsaved. All work goes to the core:
:func:`bmes_imaging.detection.detect_edema`, :func:`~bmes_imaging.detection.findings_from_masks`
and the store (:func:`bmes_imaging.store.open_store`). Each operation emits
:attr:`ReviewModel.changed`; decisions, relabels and paint strokes can be undone and
redone (:mod:`._history`).

Work in progress is protected by a recovery file (:meth:`ReviewModel.write_recovery`),
written atomically and removed by a successful save.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from psygnal import Signal

from bmes_imaging.bones import Bone, bone_from_label
from bmes_imaging.findings import (  # the (de)serialisation is re-exported for _qt
    FINDING_STATUSES,
    finding_from_dict,
    finding_to_dict,
    parse_status,
)
from bmes_imaging.volume import Volume

from . import _ahead, _recovery, _remote_detection, _review_export
from ._history import History
from ._store_access import LazyStore
from ._study import Study

__all__ = ["STATUSES", "ReviewModel", "SaveSnapshot", "finding_from_dict", "finding_to_dict"]

#: Statuses of a finding: the core's one list (:data:`bmes_imaging.findings.FINDING_STATUSES`).
STATUSES: tuple[str, ...] = FINDING_STATUSES
DETECTOR = _ahead.DETECTOR


def _site_settings() -> Any:
    """The site settings file named by ``$BMES_CONFIG`` (``None`` when unset)."""
    from bmes_imaging.validation import load_site_config, site_config_path

    path = site_config_path()
    return load_site_config(path) if path is not None else None


@dataclasses.dataclass(frozen=True)
class SaveSnapshot:
    """A review as it is saved: study key, reader, findings and edema labels (copies)."""

    key: str
    reader: str
    findings: list[Any]
    labels: Volume


class ReviewModel:
    """State of one reader's review of one study.

    Parameters
    ----------
    reader
        The reader's name (recorded as the source of their findings and in the audit).
    store
        A store (:func:`bmes_imaging.store.open_store`) or None to open the default one
        on first save / restore.
    cache
        Folder for per-study detector output (bones, aligned fluid) and recovery files;
        default :func:`bmes_imaging_napari._sample_data.cache_dir`.
    """

    #: Emitted with what changed: ``"study"``, ``"detection"``, ``"findings"``,
    #: ``"labels"``, ``"saved"``, ``"restored"``.
    changed = Signal(str)
    #: The store (opened on first use; assign to replace it).
    store = LazyStore()

    def __init__(self, reader: str = "", store: Any = None,
                 cache: str | os.PathLike[str] | None = None) -> None:
        self.reader = reader
        self._store = store
        if cache is None:
            from ._sample_data import cache_dir

            cache = cache_dir()
        self.cache = Path(cache)
        self.study: Study | None = None
        self.bones: Volume | None = None
        self.edema: Volume | None = None
        self.fluid_aligned: Volume | None = None
        self.findings: list[Any] = []
        self.dirty = False
        self.last_saved_version: Any = None
        #: The site settings of ``$BMES_CONFIG`` (``bmes view --config``), if any:
        #: their detector thresholds, and their decision/calibration applied to every
        #: detection (as ``bmes detect --config`` does).
        self.site: Any = _site_settings()
        self.config: Any = self.site.detection_config() if self.site is not None else None
        self._voxel_counts: dict[int, int] = {}
        self._ratios: Any = None  # detector's signal ratios, reused while painting
        #: (worker's detection request, its bones): the ratios are computed there
        self._ratios_request: tuple[int, Volume] | None = None
        #: Extra keyword arguments of ``detect_edema`` (e.g. ``refine_alignment=False``).
        self.detect_options: dict[str, Any] = {}
        #: Seconds per detector stage of the last detection (from ``EdemaResult``).
        self.last_timings: dict[str, float] = {}
        #: What :meth:`prefetch` read for the next study: (key, reader, {what: value}).
        self._prefetched: tuple[str, str, dict[str, Any]] | None = None
        #: Undo / redo of decisions, relabels and paint strokes.
        self.history = History()
        #: Automatic bone masks being computed ahead of detection: (study key, future).
        self._bones_ahead: tuple[str, Future[Volume]] | None = None

    # ------------------------------------------------------------------ study
    def open(self, study: Study) -> None:
        """Start reviewing ``study`` (detector output from the cache is reused)."""
        self.study = study
        self.bones = self.edema = self.fluid_aligned = None
        self._ratios = None
        self.findings = []
        self.dirty = False
        self.last_saved_version = None
        self._load_cached_detection()
        self.history.reset(self)
        self.compute_bones_ahead(study)
        self.changed.emit("study")

    @property
    def study_key(self) -> str:
        """The study's key (StudyInstanceUID) in the store."""
        if self.study is None:
            raise RuntimeError("no study is open")
        return self.study.key

    def _study_cache(self) -> Path:
        return self._cache_for(self.study_key)

    def _cache_for(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return self.cache / "studies" / digest

    def _load_cached_detection(self) -> None:
        study = self.study
        cached = (self._fetched("cached", lambda: _ahead.read_cached(self, study))
                  if study else None)
        if cached is not None:
            self.bones, self.fluid_aligned = cached

    def prefetch(self, study: Study) -> None:
        """Read, in a worker thread, what opening ``study`` shows (the reader's saved
        review, stored or screened candidates, cached detector output): the GUI thread
        then only applies it (:func:`._ahead.prefetch`)."""
        _ahead.prefetch(self, study)

    def _fetched(self, what: str, read: Callable[[], Any]) -> Any:
        pre, study = self._prefetched, self.study
        if pre is not None and study is not None and pre[0] == study.key \
                and pre[1] == self.reader and what in pre[2]:
            return pre[2].pop(what)
        return read()

    def _cache_detection(self) -> None:
        _ahead.write_cached(self._study_cache(), self.bones, self.fluid_aligned)

    # -------------------------------------------------------------- detection
    def compute_bones_ahead(self, study: Study) -> None:
        """Start the automatic bone masks of ``study`` in the bone-mask process, while
        the layers are drawn (:func:`._ahead.compute_bones_ahead`)."""
        _ahead.compute_bones_ahead(self, study)

    def run_detection(self, progress: Callable[[str, float], None] | None = None, *,
                      cancelled: Callable[[], bool] | None = None, **kwargs: Any) -> Any:
        """Run :func:`bmes_imaging.detection.detect_edema` on the open study, in the
        bone-mask process when it runs (:func:`._ahead.run_detection`).

        Blocking (the widget calls it in a worker thread); returns the ``EdemaResult``
        without changing the model; pass it to :meth:`set_detection`. ``cancelled()``
        True stops it (:class:`._remote_detection.DetectionCancelled`).
        """
        from bmes_imaging.errors import DetectionError

        if self.study is None:
            raise DetectionError("open a study before running detection")
        if self.study.fluid is None:
            raise DetectionError("this study has no fluid-sensitive series (STIR, T2-FS or "
                                 "PD-FS): open the study folder, not a single series")
        kwargs.setdefault("config", self.config)
        for key, value in self.detect_options.items():
            kwargs.setdefault(key, value)
        return _ahead.run_detection(self, progress, cancelled, kwargs)

    def set_detection(self, result: Any, *, cache: bool = True) -> None:
        """Take the detector's bones, edema candidates and findings (all candidates);
        ``cache``: write the bones and aligned fluid to the study cache now (the review
        dock does it in a worker: :meth:`cache_detection`)."""
        request = getattr(result, "worker_request", None)  # detected in the worker
        if self.site is not None:
            result = self.site.apply_to_result(result)
        self.bones = result.bones
        self.fluid_aligned = result.fluid_aligned
        self._ratios = None
        self._ratios_request = (request, result.bones) if request is not None else None
        self.edema = result.edema.with_array(np.ascontiguousarray(result.edema.array,
                                                                   dtype=np.uint8))
        self.findings = sorted(result.findings, key=lambda f: int(f.bone))
        self.last_timings = dict(getattr(result, "timings", {}) or {})
        self._voxel_counts = self._count_voxels()
        self.dirty = True
        if cache:
            self._cache_detection()
        self.history.reset(self)
        self.changed.emit("detection")

    def cache_detection(self) -> None:
        """Write the bones and aligned fluid to the study cache (any thread)."""
        self._cache_detection()

    # ---------------------------------------------------------------- findings
    def finding(self, bone: Bone | int) -> Any:
        """The finding of ``bone``; KeyError if there is none."""
        b = bone_from_label(int(bone))
        for f in self.findings:
            if f.bone == b:
                return f
        raise KeyError(f"no finding for {b.display_name}")

    def _replace(self, bone: Bone | int, step: str, **changes: Any) -> Any:
        b = bone_from_label(int(bone))
        for i, f in enumerate(self.findings):
            if f.bone == b:
                self.history.record(self, step)
                self.findings[i] = dataclasses.replace(f, **changes)
                self.dirty = True
                self.changed.emit("findings")
                return self.findings[i]
        raise KeyError(f"no finding for {b.display_name}")

    def set_status(self, bone: Bone | int, status: str) -> Any:
        """Set a finding's status (``candidate`` / ``confirmed`` / ``rejected``)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, found {status!r}")
        return self._replace(bone, status, status=parse_status(status))

    def confirm(self, bone: Bone | int) -> Any:
        """Confirm the finding of ``bone``."""
        return self.set_status(bone, "confirmed")

    def reject(self, bone: Bone | int) -> Any:
        """Reject the finding of ``bone``."""
        return self.set_status(bone, "rejected")

    def set_primary(self, bone: Bone | int, primary: bool = True) -> Any:
        """Mark (or unmark) ``bone`` as a primary affected bone."""
        return self._replace(bone, "primary", primary=bool(primary))

    def change_bone(self, bone: Bone | int, new_bone: Bone | int) -> None:
        """Move the edema labelled ``bone`` to ``new_bone`` (the detector named the wrong
        bone); the findings are recomputed and the moved finding keeps its decisions.

        The bone labels under the moved edema become ``new_bone`` too: an edema voxel
        only counts for the bone whose mask holds it.
        """
        old, new = bone_from_label(int(bone)), bone_from_label(int(new_bone))
        if old == new:
            return
        if self.edema is None:
            raise RuntimeError("no edema labels: run detection or restore an annotation")
        self.history.record(self, "relabel", labels=True, bones=True)
        decisions = self._decisions()
        arr = self.edema.array
        region = arr == int(old)
        arr[region] = int(new)
        if self.bones is not None:
            # an edema voxel counts for its bone only inside that bone's mask: the bone
            # labels under the moved edema follow (the automatic masks named it wrongly)
            bones = self.bones.array
            if not bones.flags.writeable:
                bones = bones.copy()
            bones[region & (bones != 0)] = int(new)
            self.bones = self.bones.with_array(bones)
            self._ratios = None
            self._cache_detection()
        if old in decisions:
            decisions[new] = {**decisions.pop(old), "source": self.reader or DETECTOR}
        self.recompute(decisions=decisions, edited={new})
        self.history.labels_changed(self)
        self.changed.emit("labels")
        self.changed.emit("bones")

    def _decisions(self) -> dict[Bone, dict[str, Any]]:
        return {f.bone: {"status": f.status, "primary": f.primary, "source": f.source}
                for f in self.findings}

    def _count_voxels(self) -> dict[int, int]:
        if self.edema is None:
            return {}
        counts = np.bincount(self.edema.array.ravel(), minlength=len(Bone) + 1)
        return {int(b): int(counts[int(b)]) for b in Bone if int(b) < counts.size}

    def can_recompute(self) -> bool:
        """True if bones, fluid and edema are known (painting can update the table)."""
        return (self.bones is not None and self.fluid_aligned is not None
                and self.edema is not None and self.study is not None)

    def recompute(self, *, decisions: dict[Bone, dict[str, Any]] | None = None,
                  edited: set[Bone] | None = None) -> list[Any]:
        """Recompute the findings from the edema labels after the reader edited them.

        Decisions (status, primary, source) are kept per bone. A bone whose edema the
        reader changed gets the reader as its source; a bone that had no finding and now
        has painted edema is a finding the reader made: ``confirmed``.
        """
        if not self.can_recompute():
            raise RuntimeError("run detection first: recomputing needs the bone labels")
        assert self.bones is not None and self.edema is not None
        assert self.study is not None and self.fluid_aligned is not None
        decisions = self._decisions() if decisions is None else decisions
        counts = self._count_voxels()
        if edited is None:
            edited = {bone_from_label(k) for k, n in counts.items()
                      if n != self._voxel_counts.get(k, 0)}
        fresh = self._findings_from_masks()
        merged = []
        for f in sorted(fresh, key=lambda f: int(f.bone)):
            changes: dict[str, Any] = {}
            if f.bone in decisions:
                changes.update(decisions[f.bone])
            newly_painted = (self._voxel_counts.get(int(f.bone), 0) == 0
                             and counts.get(int(f.bone), 0) > 0)
            if newly_painted and changes.get("status", "candidate") == "candidate":
                changes.update(status="confirmed", source=self.reader or DETECTOR)
            if f.bone in edited and self.reader:
                changes["source"] = self.reader
            merged.append(dataclasses.replace(f, **changes) if changes else f)
        self.findings = merged
        self._voxel_counts = counts
        self.dirty = True
        self.changed.emit("findings")
        return merged

    def _findings_from_masks(self) -> list[Any]:
        """``detection.findings_from_masks`` of the current labels, fast while painting.

        The signal ratios depend on the T1, the aligned fluid image and the bone labels
        only, not on the edema: they are computed once per study (and again after the
        bone labels change) and reused for every paint stroke; only the per-bone sums
        are redone. This is what ``findings_from_masks`` does in one go (a test checks
        that both agree).
        """
        from bmes_imaging.detection import DetectionConfig, findings_from_ratios

        assert self.bones is not None and self.edema is not None
        assert self.study is not None and self.fluid_aligned is not None
        cfg = self.config or DetectionConfig()
        t1, bones = self.study.t1, self.bones
        if self._ratios is None:
            self.prepare_recompute()
        edema = np.asarray(self.edema.array)
        ed = np.where(edema == np.asarray(bones.array), edema, 0)
        findings, _ = findings_from_ratios(self._ratios, ed, t1.voxel_volume_ml, cfg)
        return list(findings)

    def prepare_recompute(self) -> None:
        """Compute the signal ratios painting needs (slow part), if not done yet.

        Safe to call from a worker thread right after detection, so the first paint
        stroke updates the table quickly.
        """
        if self._ratios is not None or not self.can_recompute():
            return
        assert self.bones is not None and self.study is not None
        assert self.fluid_aligned is not None
        bones, t1, ratios = self.bones, self.study.t1, None
        request = self._ratios_request
        if request is not None and request[1] is bones:  # the worker's, for these bones
            ratios = _remote_detection.fetch_painting_ratios(request[0])
        if ratios is None:  # here: what the worker would have computed
            ratios = _remote_detection.painting_ratios(t1, bones, self.fluid_aligned,
                                                       self.config)
        if self.bones is bones:  # still the same bone labels
            self._ratios = ratios

    def centroid_world(self, bone: Bone | int) -> NDArray[np.float64] | None:
        """RAS+ mm centre of the bone's edema (else of the bone), or None if absent."""
        b = int(bone_from_label(int(bone)))
        for vol in (self.edema, self.bones):
            if vol is None:
                continue
            idx = np.argwhere(vol.array == b)
            if idx.size:
                return vol.world(idx.mean(axis=0))[0]
        return None

    # ----------------------------------------------------------- save/restore
    def save(self, **kwargs: Any) -> Any:
        """Save the reader's findings and edema labels through the store.

        Returns the store's ``AnnotationVersion``. Removes the recovery file.

        Raises
        ------
        ValueError
            If no reader name is set.
        """
        snapshot = self.save_snapshot()
        return self.mark_saved(snapshot, self.write_snapshot(snapshot, **kwargs))

    def save_snapshot(self) -> SaveSnapshot:
        """What a save writes, copied now (GUI thread); :meth:`write_snapshot` may then
        run in a worker thread while the reader goes on.

        Raises ValueError without a reader name, RuntimeError without edema labels.
        """
        if not self.reader.strip():
            raise ValueError("enter the reader's name before saving")
        if self.edema is None:
            raise RuntimeError("nothing to save: run detection or paint edema first")
        return SaveSnapshot(self.study_key, self.reader, list(self.findings),
                            self.edema.with_array(self.edema.array.copy()))

    def write_snapshot(self, snapshot: SaveSnapshot, **kwargs: Any) -> Any:
        """Write a :meth:`save_snapshot` through the store (any thread); the version."""
        return self.store.save_annotation(snapshot.key, snapshot.reader,
                                          list(snapshot.findings), snapshot.labels,
                                          **kwargs)

    def mark_saved(self, snapshot: SaveSnapshot, version: Any) -> Any:
        """The snapshot is saved as ``version``: unsaved only if the reader changed
        something since it was taken; the recovery file is removed."""
        self.last_saved_version = version
        if self.study is not None and self.study_key == snapshot.key \
                and self.reader == snapshot.reader:
            self.dirty = not (self.edema is not None
                              and self.findings == snapshot.findings
                              and np.array_equal(self.edema.array, snapshot.labels.array))
            if not self.dirty:
                self.recovery_path().unlink(missing_ok=True)
        self.changed.emit("saved")
        return version

    def export_seg(self, path: str | os.PathLike[str], **kwargs: Any) -> Any:
        """Write the confirmed edema (and the bones) as a DICOM SEG referencing the T1,
        with the TID 1500 SR beside it when edema is confirmed; the ``SegExport``
        (:func:`._review_export.export_seg`).

        Raises
        ------
        ExportError
            If the T1 was not read from DICOM, nothing is confirmed, or no reader name.
        """
        return _review_export.export_seg(self, path, **kwargs)

    def restore(self) -> bool:
        """Load the reader's last saved annotation of this study; False if none."""
        loaded = self._fetched("saved", lambda: self.store.latest_annotation(
            self.study_key, reader=self.reader or None,
            series_instance_uid=self._t1_series()))
        if loaded is None:
            return False
        if loaded.labels is None:
            return False
        self._apply(loaded.labels.array, list(loaded.findings))
        self.last_saved_version = loaded.version
        self.dirty = False
        self.changed.emit("restored")
        return True

    def _t1_series(self) -> str | None:
        """The open study's T1 series: with both feet in one study, it tells the two
        feet's reviews apart (annotations record the series of their grid)."""
        if self.study is None:
            return None
        return self.study.t1.info.series_instance_uid or None

    def candidates_snapshot(self) -> tuple[list[Any], Volume] | None:
        """The current findings and a copy of the edema labels (right after detection:
        the detector's candidates), for :meth:`save_candidates`."""
        if self.edema is None:
            return None
        return list(self.findings), self.edema.with_array(self.edema.array.copy())

    def save_candidates(self, snapshot: tuple[list[Any], Volume]) -> Any:
        """Store the detector's candidates under the source ``"detector"``.

        Reopening the study (by any reader who has not saved a review yet) then shows
        the candidates at once instead of running detection again; readers' reviews
        are compared against them for agreement.
        """
        findings, labels = snapshot
        return self.store.save_annotation(self.study_key, DETECTOR, findings, labels,
                                          note="automatic candidates (napari review)")

    def load_candidates(self) -> bool:
        """Show the detector's candidates of this study: stored by an earlier detection,
        else those of the screening run the study folder belongs to; False if none."""
        loaded = self._fetched("detector", lambda: self.store.latest_annotation(
            self.study_key, reader=DETECTOR, series_instance_uid=self._t1_series()))
        if loaded is None or loaded.labels is None:
            from ._screen_candidates import read_screening_candidates

            study = self.study
            screened = self._fetched("screened", lambda: read_screening_candidates(study)
                                     if study else None)
            if screened is None:
                return False
            self.bones = screened.bones if screened.bones is not None else self.bones
            self._apply(screened.edema.array, screened.findings)
        else:
            self._apply(loaded.labels.array, list(loaded.findings))
        self.last_saved_version = None
        self.dirty = False
        self.changed.emit("restored")
        return True

    def _apply(self, labels: NDArray[Any], findings: Sequence[Any]) -> None:
        assert self.study is not None
        arr = np.ascontiguousarray(labels, dtype=np.uint8)
        if arr.shape != self.study.t1.shape:
            raise ValueError(f"saved labels have shape {arr.shape}, the T1 grid is "
                             f"{self.study.t1.shape}")
        self.edema = self.study.t1.with_array(arr)
        self.findings = sorted(findings, key=lambda f: int(f.bone))
        self._voxel_counts = self._count_voxels()
        self.history.reset(self)

    # ----------------------------------------------------------- undo / redo
    def undo(self) -> str | None:
        """Undo the last confirm, reject, primary, relabel or paint stroke; its name
        (None if there was nothing to undo)."""
        return self.history.undo(self)

    def redo(self) -> str | None:
        """Redo the last undone step; its name (None if there was none)."""
        return self.history.redo(self)

    def forget_ratios(self) -> None:
        """The bone labels changed: the signal ratios painting uses are recomputed."""
        self._ratios = None

    def after_restore(self, *, labels: bool, bones: bool) -> None:
        """Called by :class:`History` after it put back a step's state."""
        self._voxel_counts = self._count_voxels()
        self.dirty = True
        if bones:
            self._cache_detection()
            self.changed.emit("bones")
        if labels:
            self.changed.emit("labels")
        self.changed.emit("findings")

    # ---------------------------------------------------------------- recovery
    def recovery_path(self) -> Path:
        """The recovery file of this study and reader."""
        return _recovery.recovery_path(self)

    def write_recovery(self) -> Path | None:
        """Write work in progress to the recovery file (atomic); None if nothing to keep."""
        return _recovery.write_recovery(self)

    def has_recovery(self) -> bool:
        """True if a recovery file exists for this study and reader."""
        return self.study is not None and self.recovery_path().is_file()

    def load_recovery(self) -> bool:
        """Restore work in progress from the recovery file; False if there is none."""
        return _recovery.load_recovery(self)

    def discard_recovery(self) -> None:
        """Delete the recovery file (the reader chose not to restore it)."""
        if self.study is not None:
            self.recovery_path().unlink(missing_ok=True)

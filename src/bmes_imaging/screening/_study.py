"""Screening one study: load the pair, detect, write masks and a done-marker.

:func:`run_study` is what a Dask worker executes for each study. It catches the
project's errors (:class:`~bmes_imaging.errors.BmesError`) and returns a failed
:class:`StudyOutcome` with the reason; anything else is a bug and propagates.

The done-marker ``OUT/studies/<key>/screen_done.json`` is written last (atomically), so
a study killed halfway has no marker and is redone by the next run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import make_private_dirs, write_text_atomic
from ..errors import BmesError, NotAFootError
from ._plan import StudyTask

__all__ = ["MARKER_NAME", "StudyFunction", "StudyOutcome", "detect_pair", "load_only",
           "read_marker",
           "run_study"]

MARKER_NAME = "screen_done.json"

def involvement_columns() -> tuple[str, ...]:
    """Columns of involvement tables (detection's ``INVOLVEMENT_COLUMNS``)."""
    from ..detection import INVOLVEMENT_COLUMNS

    return tuple(INVOLVEMENT_COLUMNS)


@dataclass
class StudyOutcome:
    """What happened to one study (a row of ``studies.csv`` plus its involvement rows)."""

    key: str
    status: str  # "done" | "failed" | "skipped" (not a foot)
    reason: str = ""
    fingerprint: str = ""
    started: str = ""
    finished: str = ""
    seconds: float = 0.0
    worker: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    involvement: list[dict[str, Any]] = field(default_factory=list)
    from_earlier_run: bool = False

    def to_json(self) -> str:
        """JSON text of the outcome (the done-marker's content)."""
        return json.dumps(asdict(self), indent=1, sort_keys=True, default=_json_default)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def read_marker(study_dir: Path) -> StudyOutcome | None:
    """The done-marker of a study folder, or None when missing or unreadable."""
    path = Path(study_dir) / MARKER_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return StudyOutcome(**data)
    except (OSError, ValueError, TypeError):
        return None


#: A per-study function: ``(task, study_out_dir, config) -> (involvement rows, timings)``.
StudyFunction = Callable[[StudyTask, Path, Any], tuple[list[dict[str, Any]], dict[str, float]]]


def load_task_series(files: tuple[str, ...], frames: tuple[int, ...] | None) -> Any:
    """Load one series of a task: its files, or, for one stack of a multi-frame file
    holding several (multi-echo, Dixon...), the stack of the index with those frames.

    Raises
    ------
    DicomSeriesError
        The files no longer hold a stack with those frames (changed since planning).
    """
    from ..dicom import index_files, load_series
    from ..errors import DicomSeriesError

    paths = [Path(f) for f in files]
    if not frames:
        return load_series(paths)
    for stack in index_files(paths).stacks:
        if tuple(stack.frame_numbers) == tuple(frames):
            return load_series(stack)
    raise DicomSeriesError(f"{paths[0]}: no stack with frames {frames[0]}-{frames[-1]} "
                           "(the file changed since the run was planned)")


def detect_pair(task: StudyTask, out_dir: Path, config: Any
                ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Default study function: load T1 and fluid, run edema detection, write results.

    Writes detection's ``involvement.csv``, ``edema.nii.gz``, ``bones.nii.gz`` and
    ``overlay.png`` in ``out_dir`` (:func:`bmes_imaging.detection.write_results`).
    """
    import csv

    from ..detection import detect_edema, write_results

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    t1 = load_task_series(task.t1_files, task.t1_frames)
    fluid = load_task_series(task.fluid_files, task.fluid_frames)
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    from ..detection._body_part import check_atlas_fit, check_foot

    check_foot(t1, f"T1 series {task.key}")  # not a foot: skipped (run_study)
    result = detect_edema(t1, fluid, config=config)
    check_atlas_fit(result.bones, f"T1 series {task.key}")
    timings["detect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_results(result, out_dir, t1=t1, study_instance_uid=task.study_instance_uid,
                  patient_id=task.patient_id or "", side=task.side or "")
    with (out_dir / "involvement.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    timings["write"] = time.perf_counter() - t0
    for k, v in getattr(result, "timings", {}).items():
        timings[f"detect.{k}"] = float(v)
    return rows, timings


def warm_up() -> None:
    """Import the modules a study needs (run once per worker before the first study)."""
    import importlib

    for name in ("bmes_imaging.dicom", "bmes_imaging.detection", "scipy.ndimage"):
        importlib.import_module(name)


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def run_study(task: StudyTask, out_root: str | Path, config: Any = None,
              study_function: StudyFunction | None = None) -> StudyOutcome:
    """Screen one study and write its done-marker (runs on a Dask worker).

    Parameters
    ----------
    task
        The study.
    out_root
        The run's output folder; results go to ``out_root/studies/<key>/``.
    config
        Detection configuration.
    study_function
        Replaces :func:`detect_pair` (tests, benchmarks, other detectors).

    Returns
    -------
    StudyOutcome
        ``status="failed"`` with the reason when a :class:`BmesError` was raised.
    """
    fn = study_function or detect_pair
    study_dir = Path(out_root) / "studies" / task.key
    make_private_dirs(study_dir)  # 0700 whatever the umask
    started, t0 = _now(), time.perf_counter()
    outcome = StudyOutcome(task.key, "done", fingerprint=task.fingerprint, started=started,
                           worker=f"{socket.gethostname()}:{os.getpid()}")
    try:
        rows, timings = fn(task, study_dir, config)
        outcome.involvement = list(rows)
        outcome.timings = {k: round(float(v), 4) for k, v in timings.items()}
    except NotAFootError as exc:  # a knee or a head in the archive: skipped, not failed
        outcome.status = "skipped"
        outcome.reason = f"not a foot or ankle: {exc}"
    except BmesError as exc:
        outcome.status = "failed"
        outcome.reason = f"{type(exc).__name__}: {exc}"
    outcome.finished = _now()
    outcome.seconds = round(time.perf_counter() - t0, 4)
    write_text_atomic(study_dir / MARKER_NAME, outcome.to_json())
    return outcome


def load_only(task: StudyTask, out_dir: Path, config: Any
              ) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Study function that only loads both series (checks an archive, no detection).

    Returns no involvement rows; raises the loader's errors for unloadable series.
    """
    del out_dir, config
    t0 = time.perf_counter()
    t1 = load_task_series(task.t1_files, task.t1_frames)
    fluid = load_task_series(task.fluid_files, task.fluid_frames)
    del t1, fluid
    return [], {"load": time.perf_counter() - t0}

"""The screening engine: every study of an archive through detection, with Dask.

One code path for local and cluster runs: per-study tasks go to a
``distributed.Client`` (a ``LocalCluster`` of single-threaded worker processes, or a
running scheduler given by address) and are collected with ``as_completed``. Studies
whose done-marker matches their input fingerprint are not resubmitted.

Examples
--------
::

    from bmes_imaging.screening import screen
    result = screen("archive/", "screen_out/", workers=2)
    print(result.n_done, result.n_failed)
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .._atomic import PrivateLogFile, make_private_dirs, sweep_temp_files, write_csv_atomic
from .._outbound import terminal_text
from ..errors import BmesError
from ._plan import ScreenPlan, StudyTask, UnpairedStudy, plan_screening
from ._study import (
    StudyFunction,
    StudyOutcome,
    involvement_columns,
    read_marker,
    run_study,
    warm_up,
)

__all__ = ["STUDIES_COLUMNS", "ScreenResult", "screen"]

log = logging.getLogger("bmes_imaging.screening")

#: Columns of ``OUT/studies.csv``.
STUDIES_COLUMNS: tuple[str, ...] = (
    "study_key", "study_instance_uid", "patient_id", "side", "status", "reason",
    "t1_series", "fluid_series", "fluid_sequence", "bones_with_edema", "started",
    "finished", "seconds", "worker", "from_earlier_run",
)


@dataclass
class ScreenResult:
    """What a screening run did.

    Attributes
    ----------
    out
        Output folder.
    outcomes
        One per screenable study (this run's and earlier runs' results).
    unpaired
        Studies that could not be screened (no T1 / no fluid series).
    rejected
        Files the index did not use, with the reason (path relative to the root).
    elapsed
        Wall time of this run in seconds.
    n_submitted
        Studies screened by this run (the others were done before or cannot be paired).
    workers
        Dask workers used (0 for an in-process run or when nothing was submitted).
    extra
        Timings of the Dask path: ``cluster_start_s`` (start or connect, workers
        warmed up), ``cluster_close_s``.
    """

    out: Path
    outcomes: list[StudyOutcome]
    unpaired: list[UnpairedStudy]
    rejected: list[tuple[str, str]]
    elapsed: float = 0.0
    n_submitted: int = 0
    workers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_done(self) -> int:
        """Studies with results (this run or earlier)."""
        return sum(o.status == "done" for o in self.outcomes)

    @property
    def n_failed(self) -> int:
        """Studies that failed, including those that could not be paired."""
        return sum(o.status == "failed" for o in self.outcomes) + len(self.unpaired)

    @property
    def n_resumed(self) -> int:
        """Studies skipped because an earlier run finished them with the same inputs."""
        return sum(o.from_earlier_run for o in self.outcomes)


class ProgressLine:
    """A one-line progress display on stderr: done / failed / remaining, rate, ETA.

    On a terminal the line is redrawn in place (at most every ``min_interval`` s); in a
    log file or pipe a new line is written at most every ``log_interval`` s, and the
    final state is always written.
    """

    def __init__(self, total: int, resumed: int = 0, stream: TextIO | None = None,
                 min_interval: float = 0.5, log_interval: float = 10.0) -> None:
        self.total, self.resumed = total, resumed
        self.done = self.failed = 0
        stream = stream if stream is not None else sys.stderr
        # the line is the toolkit's own text: drawn on the terminal itself (\r, ESC[2K)
        self.stream = getattr(stream, "unfiltered", stream)
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.interval = min_interval if self.tty else log_interval
        self._last = -float("inf")
        self._shown: tuple[int, int] | None = None

    def text(self) -> str:
        """The progress line."""
        n = self.done + self.failed
        remaining = self.total - n
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = n / elapsed * 60.0
        if n and remaining:
            eta_s = remaining * elapsed / n
            eta = f"ETA {int(eta_s // 60)}m{int(eta_s % 60):02d}s"
        else:
            eta = "ETA --" if remaining else f"in {elapsed:.1f} s"
        resumed = f", {self.resumed} already done" if self.resumed else ""
        return (f"screen: {n}/{self.total} studies ({self.done} done, {self.failed} failed, "
                f"{remaining} remaining{resumed}) {rate:.1f} studies/min {eta}")

    def update(self, *, done: int = 0, failed: int = 0, final: bool = False) -> None:
        """Count finished studies and redraw (rate-limited unless ``final``)."""
        self.done += done
        self.failed += failed
        now = time.perf_counter()
        state = (self.done, self.failed)
        if final:
            if not self.tty and self._shown == state:
                return  # this state is already in the log
        elif now - self._last < self.interval:
            return
        self._last, self._shown = now, state
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.text() + ("\n" if final else ""))
        else:
            self.stream.write(self.text() + "\n")
        self.stream.flush()


#: A path under the archive in a message: up to ": ", a quote, ", ", ")" or the end.
_ARCHIVE_PATH = re.compile(r"ROOT(?:[/\\].*?)?(?=: |['\"]|, |; |\)|\s\(|$|\s(?:holds|has|is|are|"
                           r"and|with|of|in|not|from|to|missing|cannot)\b)")
#: File names that carry nothing but a number (``IM00017.dcm``, ``1.3.12.2...``, ``000123``).
_PLAIN_FILE = re.compile(r"(?i)[a-z]{0,4}[0-9][0-9._-]*(?:\.dcm|\.ima)?")


def _hide_path(match: re.Match[str]) -> str:
    name = re.split(r"[/\\]", match.group())[-1]
    return f"<path>/{name}" if name != "ROOT" and _PLAIN_FILE.fullmatch(name) else "<path>"


def _scrub(text: str, identifiers: Iterable[str], root: Path) -> str:
    """A message for the run log: no archive path, no identifier, no control character.

    The log names studies by their hashed key only. Every path under the archive
    becomes ``<path>`` (folder names such as ``SURNAME_GIVEN`` are identifiers; a file
    name that is only a number is kept); identifiers of 3+ characters are replaced
    wherever they stand between non-alphanumerics (``_`` separates too), shorter ones
    (e.g. PatientID "7") only where they form a whole path component.

    Examples
    --------
    >>> _scrub("/a/DOE_JOHN/7/IM00017.dcm: slice 7 of DOE^JOHN missing", ["DOE^JOHN",
    ...        "DOE", "JOHN", "7"], Path("/a"))
    '<path>/IM00017.dcm: slice 7 of <patient> missing'
    """
    text = text.replace(str(root.resolve()), "ROOT").replace(str(root), "ROOT")
    text = _ARCHIVE_PATH.sub(_hide_path, text)
    for ident in sorted({i for i in identifiers if i}, key=len, reverse=True):
        if len(ident) >= 3:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(ident)}(?![A-Za-z0-9])", "<patient>",
                          text, flags=re.IGNORECASE)
        else:
            text = re.sub(rf"(?<=[/\\]){re.escape(ident)}(?=[/\\])", "<patient>", text)
    return terminal_text(text)


def _studies_rows(plan: ScreenPlan, outcomes: dict[str, StudyOutcome]) -> list[dict[str, Any]]:
    rows = []
    for task in plan.tasks:
        o = outcomes.get(task.key)
        row: dict[str, Any] = {
            "study_key": task.key, "study_instance_uid": task.study_instance_uid,
            "patient_id": task.patient_id or "", "side": task.side or "",
            "t1_series": task.t1_series, "fluid_series": task.fluid_series,
            "fluid_sequence": task.fluid_sequence,
        }
        if o is None:
            row.update(status="pending", reason="not finished (run interrupted?)")
        else:
            positive = [r["bone"] for r in o.involvement if int(r.get("grade") or 0) > 0]
            row.update(status=o.status, reason=o.reason, started=o.started,
                       finished=o.finished, seconds=o.seconds, worker=o.worker,
                       bones_with_edema="+".join(positive),
                       from_earlier_run="yes" if o.from_earlier_run else "no")
        rows.append(row)
    for u in plan.unpaired:
        rows.append({"study_key": u.key, "study_instance_uid": u.study_instance_uid,
                     "patient_id": u.patient_id or "", "side": u.side or "",
                     "status": "failed", "reason": u.reason})
    return rows


def _write_tables(out: Path, plan: ScreenPlan, outcomes: dict[str, StudyOutcome]) -> None:
    write_csv_atomic(out / "studies.csv", STUDIES_COLUMNS, _studies_rows(plan, outcomes))
    inv = []
    for task in plan.tasks:
        o = outcomes.get(task.key)
        if o is not None and o.status == "done":
            inv.extend(o.involvement)
    write_csv_atomic(out / "involvement.csv", involvement_columns(), inv)
    write_csv_atomic(out / "rejected_files.csv", ("path", "reason"), plan.rejected)


class _ToParentAtItsLevel(logging.Handler):
    """Pass records on to the ``bmes_imaging`` logger only at the level it is set to.

    The run log (``screen.log``) records INFO; the console shows what ``bmes -v`` asks for.
    """

    def emit(self, record: logging.LogRecord) -> None:
        parent = logging.getLogger("bmes_imaging")
        if record.levelno >= parent.getEffectiveLevel():
            parent.handle(record)


def _open_log(out: Path) -> tuple[list[logging.Handler], tuple[int, bool]]:
    """Attach the run log; return the handlers and the logger state to restore after."""
    handler = PrivateLogFile(out / "screen.log")  # 0600; a full disk: no traceback
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    handlers = [handler, _ToParentAtItsLevel()]
    before = (log.level, log.propagate)
    for h in handlers:
        log.addHandler(h)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handlers, before


def _close_log(handlers: list[logging.Handler], before: tuple[int, bool]) -> None:
    """Detach the run log and give the caller's logger settings back unchanged."""
    for h in handlers:
        log.removeHandler(h)
        h.close()
    log.setLevel(before[0])
    log.propagate = before[1]


def _resume(plan: ScreenPlan, out: Path,
            retry_failed: bool) -> tuple[dict[str, StudyOutcome], list[StudyTask]]:
    """Outcomes of an earlier run with unchanged inputs, and the studies left to do."""
    outcomes: dict[str, StudyOutcome] = {}
    todo: list[StudyTask] = []
    for task in plan.tasks:
        marker = read_marker(out / "studies" / task.key)
        if (marker is not None and marker.fingerprint == task.fingerprint
                and (marker.status == "done" or not retry_failed)):
            marker.from_earlier_run = True
            outcomes[task.key] = marker
        else:
            todo.append(task)
    if outcomes:
        log.info("%d studies already screened with unchanged inputs: skipped", len(outcomes))
    return outcomes, todo


class _Collector:
    """Records each finished study: log line, progress, callback, tables every 5 s."""

    def __init__(self, plan: ScreenPlan, out: Path, root: Path,
                 outcomes: dict[str, StudyOutcome], bar: ProgressLine | None,
                 on_outcome: Callable[[StudyOutcome], None] | None) -> None:
        self.plan, self.out, self.root = plan, out, root
        self.outcomes, self.bar, self.on_outcome = outcomes, bar, on_outcome
        self.by_key = {t.key: t for t in plan.tasks}
        self.last_write = time.perf_counter()

    def __call__(self, outcome: StudyOutcome) -> None:
        self.outcomes[outcome.key] = outcome
        task = self.by_key[outcome.key]
        if outcome.status == "done":
            log.info("%s done in %.1f s (%d bones assessed)", outcome.key, outcome.seconds,
                     len(outcome.involvement))
        else:
            log.warning("%s failed: %s", outcome.key,
                        _scrub(outcome.reason, task.identifiers, self.root))
        if self.bar is not None:
            self.bar.update(done=outcome.status == "done", failed=outcome.status != "done")
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        if time.perf_counter() - self.last_write > 5.0:
            _write_tables(self.out, self.plan, self.outcomes)
            self.last_write = time.perf_counter()


def screen(
    root: str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    config: Any = None,
    study_function: StudyFunction | None = None,
    retry_failed: bool = False,
    progress: bool | TextIO = True,
    inline: bool = False,
    on_outcome: Callable[[StudyOutcome], None] | None = None,
) -> ScreenResult:
    """Screen every study of ``root`` for bone marrow edema.

    Parameters
    ----------
    root
        Archive folder (DICOM files at any depth; other files are reported and skipped).
    out
        Output folder: ``studies.csv``, ``involvement.csv``, ``rejected_files.csv``,
        ``screen.log`` and ``studies/<key>/`` (masks, per-study table, done-marker).
    workers
        Local worker processes (default: the number of CPUs). Ignored with ``scheduler``.
    scheduler
        Address of a running Dask scheduler (``tcp://host:port``).
    config
        Detection configuration (``DetectionConfig``); part of each study's fingerprint.
    study_function
        Replaces the default per-study function (load, detect, write); must be a
        module-level function so workers can import it.
    retry_failed
        Redo studies that failed in an earlier run with the same inputs.
    progress
        Show the progress line on stderr (or on the given stream).
    inline
        Run the studies one after another in this process without Dask (a reference
        for benchmarks and debugging).
    on_outcome
        Called in this process after each study finishes.

    Returns
    -------
    ScreenResult

    Raises
    ------
    BmesError
        If ``root`` is not a folder.
    """
    t_start = time.perf_counter()
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise BmesError(f"{root}: archive folder not found; give the folder to screen")
    make_private_dirs(out)
    swept = sweep_temp_files(out)  # temporary files of a run that was killed
    handlers, before = _open_log(out)
    try:
        fn_name = "" if study_function is None else (
            f"{study_function.__module__}.{study_function.__qualname__}")
        if swept:
            log.info("removed %d temporary file(s) of an interrupted run", len(swept))
        plan = plan_screening(root, config=config, extra=fn_name)
        log.info("screening %d studies (%d cannot be paired, %d files not used)",
                 len(plan.tasks), len(plan.unpaired), len(plan.rejected))
        for u in plan.unpaired:
            log.warning("%s cannot be screened: %s", u.key, _scrub(u.reason, u.identifiers, root))
        outcomes, todo = _resume(plan, out, retry_failed)
        inline = inline or _without_dask(scheduler)
        stream = None if progress is True or progress is False else progress
        bar = (ProgressLine(len(todo), len(outcomes), stream) if progress is not False
               else None)
        finished = _Collector(plan, out, root, outcomes, bar, on_outcome)
        n_workers = 0
        timing: dict[str, float] = {}
        try:
            if todo and inline:
                for task in todo:
                    finished(run_study(task, out, config, study_function))
            elif todo:
                n_workers = _run_dask(todo, out, config, study_function, workers, scheduler,
                                      finished, timing)
        except BaseException:
            # interrupted (Ctrl-C) or a bug: keep the tables in step with the done-markers
            _write_tables(out, plan, outcomes)
            log.warning("run stopped: %d of %d studies finished; rerun to complete the rest",
                        sum(k in outcomes for k in finished.by_key), len(finished.by_key))
            raise
        if bar is not None and todo:
            bar.update(final=True)
        _write_tables(out, plan, outcomes)
        ordered = [outcomes[t.key] for t in plan.tasks if t.key in outcomes]
        result = ScreenResult(out, ordered, plan.unpaired, plan.rejected,
                              time.perf_counter() - t_start, len(todo), n_workers,
                              extra=timing)
        log.info("finished: %d done, %d failed, %d skipped as already done, in %.1f s",
                 result.n_done, result.n_failed, result.n_resumed, result.elapsed)
        return result
    finally:
        _close_log(handlers, before)


def _without_dask(scheduler: str | None) -> bool:
    """True when Dask is not installed: the studies then run one after another here.

    Dask is an optional extra (``pip install 'bmes-imaging[dask]'``); a run that names a
    scheduler cannot do without it and stops with that line.
    """
    try:
        import distributed  # noqa: F401 - only whether it is there
    except ImportError:
        pass
    else:
        return False
    if scheduler:
        raise BmesError("a Dask scheduler was given but Dask is not installed: "
                        "pip install 'bmes-imaging[dask]'")
    log.warning("Dask is not installed: studies run one after another in this process "
                "(pip install 'bmes-imaging[dask]' for parallel workers)")
    return True


def _local_worker_config() -> dict[str, Any]:
    """Dask settings for our local workers: one study is long, numpy-heavy work.

    Dask's statistical profiler samples the running thread every 10 ms (taking the GIL)
    and its nanny sets ``MALLOC_TRIM_THRESHOLD_`` = 64 KiB (memory handed back to the
    OS at once); together they made detection 30-40 % slower in a worker than in a
    plain loop here. Off for the local cluster; the single-threaded numerical
    libraries (OMP / MKL / OpenBLAS = 1 thread per worker process) are kept, and the
    detector runs in one thread too (``BMES_DETECTION_THREADS=1``): the workers share
    the cores, one each.
    """
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    environ["BMES_DETECTION_THREADS"] = "1"
    return {"distributed.worker.profile.enabled": False,
            "distributed.nanny.pre-spawn-environ": environ}


def _run_dask(todo: list[StudyTask], out: Path, config: Any,
              study_function: StudyFunction | None, workers: int | None,
              scheduler: str | None, finished: Callable[[StudyOutcome], None],
              timing: dict[str, float]) -> int:
    import dask
    from distributed import Client, KilledWorker, LocalCluster, as_completed

    t0 = time.perf_counter()
    quiet = logging.getLogger("distributed")
    quiet_level = quiet.level
    if logging.getLogger("bmes_imaging").getEffectiveLevel() > logging.DEBUG:
        quiet.setLevel(logging.WARNING)  # the scheduler runs in this process
    cluster = None
    if scheduler:
        client = Client(scheduler, set_as_default=False, timeout="20s")
    else:
        n = workers or os.cpu_count() or 1
        # loopback only; no dashboard, and the scheduler's small HTTP server (health,
        # metrics) on a free port rather than 8787, which another scheduler may hold
        with dask.config.set(_local_worker_config()):
            cluster = LocalCluster(n_workers=n, processes=True, threads_per_worker=1,
                                   host="127.0.0.1", dashboard_address=None,
                                   scheduler_kwargs={"dashboard": False,
                                                     "dashboard_address": "127.0.0.1:0"},
                                   silence_logs=logging.CRITICAL)  # their errors reach us
        client = Client(cluster, set_as_default=False)
    try:
        client.run(warm_up)  # imports on every worker, before the clock of the first study
        n_workers = len(client.scheduler_info().get("workers", {}))
        timing["cluster_start_s"] = time.perf_counter() - t0
        log.info("dask: %s with %d workers", "scheduler" if scheduler else "local cluster",
                 n_workers)
        futures = [client.submit(run_study, task, str(out), config, study_function,
                                 key=f"screen-{task.key}-{task.fingerprint[:12]}", pure=False)
                   for task in todo]
        key_of = {f.key: t.key for f, t in zip(futures, todo, strict=True)}
        try:
            for fut in as_completed(futures, loop=client.loop):
                try:
                    outcome = fut.result()
                except KilledWorker:
                    outcome = StudyOutcome(key_of[fut.key], "failed",
                                           reason="the worker screening this study died "
                                                  "(out of memory or crashed); rerun to retry")
                finished(outcome)
        except BaseException:
            client.cancel(futures)
            raise
        return n_workers
    finally:
        t_close = time.perf_counter()
        client.close()
        if cluster is not None:
            cluster.close()
        timing["cluster_close_s"] = time.perf_counter() - t_close
        quiet.setLevel(quiet_level)

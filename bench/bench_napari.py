"""Responsiveness of the napari review plugin on the sample study.

Measures, after napari has started (viewer shown with the review dock, and the dock's
warm-up done: imports, napari's first layers and the bone-mask process with its atlas,
about a second while a reader would be choosing a study; ``--open-at-once`` opens as
soon as the window shows, as ``bmes view STUDY`` does, which also starts the bone-mask
process before importing napari):

* **open + candidates**: open the study (index, pair, load T1 and STIR, add layers) and
  run detection until the findings table and the edema layer are shown (cold: first
  time in the process; warm: again), and open the study when its detector candidates
  are already in the store (a study screened or detected before). Budget 3 s.
* **confirm / reject**: one decision on the selected finding, table row updated and
  events processed. Budget 100 ms (median and worst of 40).
* **longest event-loop stall** while opening (in the background), detecting, saving
  and exporting the SEG: a 5 ms ``QTimer`` heartbeat records the largest gap between
  its ticks in each phase (what a reader feels as a frozen window). Budget 100 ms.

Reference measured in the same run: ``dcm2niix`` converting the same DICOM folder (the
time a reader would wait for a plain conversion), when the study is DICOM.

Run (needs a display)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python bench/bench_napari.py
    ... bench/bench_napari.py --study STUDY_DIR [--bones LABELS.nii.gz]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

OPEN_BUDGET_S = 3.0
DECISION_BUDGET_MS = 100.0
STALL_BUDGET_MS = 100.0


class Heartbeat:
    """A 5 ms QTimer; :attr:`max_gap_ms` is the longest gap between ticks since
    :meth:`reset` (the longest time the event loop could not run)."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.last_cpu = time.thread_time()
        self.max_gap_ms = 0.0
        #: GUI-thread CPU (ms) in the longest gap, and the most in any gap: the part of
        #: a stall the GUI thread itself computed (the rest: waiting for a CPU, the GIL
        #: or the OpenGL rasterizer's threads), a figure less moved by the machine's load
        self.max_gap_cpu_ms = 0.0
        self.max_cpu_ms = 0.0
        #: per phase, (longest gap's CPU, most CPU in a gap) of the last :meth:`take`
        self.cpu_of_take = (0.0, 0.0)
        #: the phase being measured (named for the stall sampler)
        self.phase = ""
        self.timer.start()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        gap, gap_cpu = (now - self.last) * 1000.0, (cpu - self.last_cpu) * 1000.0
        if gap > self.max_gap_ms:
            self.max_gap_ms, self.max_gap_cpu_ms = gap, gap_cpu
        self.max_cpu_ms = max(self.max_cpu_ms, gap_cpu)
        self.last, self.last_cpu = now, cpu

    def late_ms(self) -> float:
        """How late the next tick is now (ms; any thread may ask)."""
        return (time.perf_counter() - self.last) * 1000.0

    def reset(self) -> None:
        from qtpy.QtWidgets import QApplication

        QApplication.processEvents()
        self.last, self.last_cpu = time.perf_counter(), time.thread_time()
        self.max_gap_ms = self.max_gap_cpu_ms = self.max_cpu_ms = 0.0

    def take(self) -> float:
        """The longest gap of this phase (ms), then reset."""
        self._tick()
        gap = self.max_gap_ms
        self.cpu_of_take = (self.max_gap_cpu_ms, self.max_cpu_ms)
        self.reset()
        return gap


class StallSampler:
    """Samples the GUI thread's stack whenever the heartbeat is over ``late_ms`` late
    (a daemon thread, every 10 ms): what runs on the GUI thread during the stalls.
    :meth:`report` prints the most frequent innermost frames of the plugin, napari and
    vispy per phase."""

    def __init__(self, beat: Heartbeat, late_ms: float = 80.0) -> None:
        import threading

        self.beat, self.late_ms = beat, late_ms
        self.main = threading.main_thread().ident
        self.samples: dict[str, list[tuple[str, str]]] = {}
        threading.Thread(target=self._run, name="bench-stall-sampler", daemon=True).start()

    def _run(self) -> None:
        import traceback

        while True:
            time.sleep(0.01)
            if self.beat.late_ms() < self.late_ms:
                continue
            frame = sys._current_frames().get(self.main or 0)  # sampling only
            if frame is None:
                continue
            frames = [fs for fs in traceback.extract_stack(frame)
                      if any(k in fs.filename for k in ("bmes_imaging", "napari", "vispy"))
                      and "bench_napari" not in fs.filename]
            mine = [fs for fs in frames if "bmes_imaging" in fs.filename]
            at = (f"{Path(mine[-1].filename).name}:{mine[-1].lineno} {mine[-1].name}"
                  if mine else "(event loop)")
            inner = " <- ".join(f"{Path(fs.filename).name}:{fs.lineno} {fs.name}"
                                for fs in reversed(frames[-3:]))
            self.samples.setdefault(self.beat.phase, []).append((at, inner))

    def report(self, top: int = 4) -> None:
        from collections import Counter

        for phase, stacks in self.samples.items():
            print(f"  stall samples ({phase}): {len(stacks)} x 10 ms; plugin step:")
            for at, n in Counter(at for at, _ in stacks).most_common(top):
                print(f"    {n:3d} x {at}")
            print("    innermost:")
            for inner, n in Counter(inner for _, inner in stacks).most_common(top):
                print(f"    {n:3d} x {inner}")


class StepTimes:
    """Each step of the plugin's event-loop turns (``_qt/_turns.Turns``) timed alone:
    wall and GUI-thread CPU ms, and where the step ended (the innermost generator's
    line), per phase. :meth:`report` prints the slowest (``--profile-steps``)."""

    def __init__(self) -> None:
        from bmes_imaging_napari._qt import _turns

        #: set when the heartbeat starts (steps before it: "start-up")
        self.beat: Heartbeat | None = None
        self.steps: list[tuple[float, float, str, str]] = []
        turns, times = _turns.Turns, self

        def timed_next(this: Any, budget_ms: float = _turns.TURN_BUDGET_MS) -> None:
            steps = this._steps
            if steps is None:
                return
            start = time.perf_counter()
            try:
                while (time.perf_counter() - start) * 1000.0 < budget_ms:
                    t, c = time.perf_counter(), time.thread_time()
                    next(steps)
                    times.add(steps, t, c)
            except StopIteration:
                this._end(this._done)
                return
            except Exception as exc:  # noqa: BLE001  as Turns._next does
                failed, this._steps = this._failed, None
                if failed is not None:
                    failed(exc)
                return
            if budget_ms != float("inf"):
                this._timer.start()

        turns._next = timed_next  # bench only: the same loop, each step timed

    def add(self, steps: Any, t: float, c: float) -> None:
        wall, cpu = (time.perf_counter() - t) * 1000.0, (time.thread_time() - c) * 1000.0
        frame, gen = None, steps
        while gen is not None and getattr(gen, "gi_frame", None) is not None:
            frame, gen = gen.gi_frame, getattr(gen, "gi_yieldfrom", None)
        where = (f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} "
                 f"{frame.f_code.co_name}" if frame is not None else "(last step)")
        self.steps.append((wall, cpu, where, self.beat.phase if self.beat else "start-up"))

    def report(self, top: int = 12) -> None:
        print(f"  slowest steps of the plugin's turns (of {len(self.steps)}): "
              "wall / GUI-thread CPU ms, phase, the step that ended there")
        for wall, cpu, where, phase in sorted(self.steps, reverse=True)[:top]:
            print(f"    {wall:6.1f} / {cpu:6.1f} ms  {phase:26s} {where}")


def _process_until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + timeout
    while not condition():
        QApplication.processEvents()
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.001)


def _dcm2niix_seconds(study_dir: Path) -> float | None:
    exe = shutil.which("dcm2niix")
    dicom = study_dir / "dicom" if (study_dir / "dicom").is_dir() else study_dir
    if exe is None or not any(dicom.rglob("*.dcm")):
        return None
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        subprocess.run([exe, "-z", "n", "-o", out, str(dicom)], capture_output=True,
                       check=True)
        return time.perf_counter() - t


#: seconds from the start of an open until the bone masks computed ahead were ready
bones_ready: dict[str, float] = {}
#: per phase: GUI-thread CPU (ms) in its longest stall, and the most in any one stall
stall_cpu: dict[str, tuple[float, float]] = {}


def _take(beat: Heartbeat, stalls: dict[str, float], phase: str) -> None:
    """The phase's longest stall (max over calls) and its GUI-thread CPU."""
    gap = beat.take()
    if gap >= stalls.get(phase, -1.0):
        stalls[phase] = gap
        stall_cpu[phase] = (beat.cpu_of_take[0],
                            max(beat.cpu_of_take[1], stall_cpu.get(phase, (0, 0))[1]))


def _open_and_detect(review: Any, study_dir: Path, bones: Path | None, beat: Heartbeat,
                     stalls: dict[str, float], label: str) -> tuple[float, float]:
    """Open the study (in the background, as the Open button, the queue and ``bmes
    view`` do) and detect until candidates are shown: (open s, detect s). The longest
    stall of each phase goes into ``stalls`` (max over calls)."""
    viewer = review.viewer
    review.model.dirty = False
    beat.reset()
    beat.phase = f"open ({label})"
    t0 = time.perf_counter()
    if review.open_study_in_background(study_dir) is None:
        raise SystemExit(f"could not open {study_dir}")
    _process_until(lambda: not review.jobs.busy("open"))
    if review.model.study is None:
        raise SystemExit(f"could not open {study_dir}")
    if bones:
        viewer.open(str(bones), plugin="bmes-imaging")
    _process_until(lambda: True)
    t_open = time.perf_counter() - t0
    _take(beat, stalls, f"open ({label})")
    ahead = getattr(review.model, "_bones_ahead", None)  # bench only: when masks came
    if ahead is not None:
        ahead[1].add_done_callback(lambda _: bones_ready.setdefault(label, time.perf_counter()
                                                                    - t0))
    beat.phase = f"detect ({label})"
    t1 = time.perf_counter()
    if review.run_detection() is not None:
        _process_until(lambda: review.worker is None)
    _process_until(lambda: review.table.rowCount() > 0 and review.edema_layer is not None)
    t_detect = time.perf_counter() - t1
    _take(beat, stalls, f"detect ({label})")
    return t_open, t_detect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="napari review responsiveness")
    parser.add_argument("--study", type=Path, help="study folder (default: sample study)")
    parser.add_argument("--bones", type=Path, help="bone label map (default: automatic)")
    parser.add_argument("--repeat", type=int, default=40, help="decisions to time")
    parser.add_argument("--sample-stalls", action="store_true",
                        help="print what the GUI thread runs while the heartbeat is late")
    parser.add_argument("--profile-steps", action="store_true",
                        help="time each step of the plugin's event-loop turns alone")
    parser.add_argument("--open-at-once", action="store_true",
                        help="open the study as soon as the window shows, without "
                             "waiting for the review dock's warm-up")
    args = parser.parse_args(argv)

    from bmes_imaging_napari._sample_data import sample_study_dir

    study_dir = args.study or sample_study_dir()  # generate the sample before timing
    reference = _dcm2niix_seconds(study_dir)

    t_import = time.perf_counter()
    if args.open_at_once and not args.bones:  # as `bmes view STUDY` does
        from bmes_imaging_napari._bone_process import start

        start()
    import napari
    from qtpy.QtWidgets import QApplication

    from bmes_imaging.store import open_store
    from bmes_imaging_napari._qt._review_widget import ReviewWidget
    from bmes_imaging_napari._qt._warm_up import warm_up_done

    # (patched before the review dock connects its turns' timers)
    step_times = StepTimes() if args.profile_steps else None
    tmp = Path(tempfile.mkdtemp(prefix="bmes-bench-"))
    store = open_store(tmp / "bmes.sqlite")
    viewer = napari.Viewer(show=True)
    review = ReviewWidget(viewer, store=store, cache=tmp / "cache", autosave_ms=0)
    review.ask_unsaved = lambda: "discard"
    review.ask_yes_no = lambda question: True
    viewer.window.add_dock_widget(review, name="Review", area="right")
    for _ in range(10):
        QApplication.processEvents()
    startup = time.perf_counter() - t_import
    ready = None
    if not args.open_at_once:
        _process_until(warm_up_done.is_set)
        ready = time.perf_counter() - t_import

    beat = Heartbeat()
    sampler = StallSampler(beat) if args.sample_stalls else None
    if step_times is not None:
        step_times.beat = beat
    stalls: dict[str, float] = {}
    # ---- 1. first open: load, detect, show candidates (pays napari's one-time lazy
    # imports and unit registry set-up too); the candidates are stored
    cold = _open_and_detect(review, study_dir, args.bones, beat, stalls, "cold")
    cold_timings = dict(review.model.last_timings)
    _process_until(lambda: bool(store.annotations(review.model.study_key, "detector")))
    # ---- 2. detection again, warm
    warm = _open_and_detect(review, study_dir, args.bones, beat, stalls, "warm")
    # ---- 3. open with the stored candidates (a study screened earlier): no detection
    review.model.dirty = False
    beat.reset()
    beat.phase = "open (stored candidates)"
    t0 = time.perf_counter()
    review.open_study_in_background(study_dir)
    _process_until(lambda: not review.jobs.busy("open") and review.table.rowCount() > 0
                   and review.edema_layer is not None)
    QApplication.processEvents()
    stored = time.perf_counter() - t0
    _take(beat, stalls, "open (stored candidates)")
    beat.phase = "decisions and paint"
    t_open, t_detect = warm
    total = t_open + t_detect

    # ---- decisions
    review.table.selectRow(0)
    QApplication.processEvents()
    times, cpu = [], []
    for i in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        (review.confirm_selected if i % 2 == 0 else review.reject_selected)()
        QApplication.processEvents()
        times.append((time.perf_counter() - t) * 1000.0)
        cpu.append((time.process_time() - c) * 1000.0)
    median_ms, worst_ms = statistics.median(times), max(times)

    # ---- a paint stroke: findings recomputed (after the 250 ms debounce)
    layer = review.edema_layer
    study, bones = review.model.study, review.model.bones
    assert study is not None and bones is not None
    bone = max(review.model.findings, key=lambda f: (f.edema_volume_ml == 0,
                                                      f.bone_volume_ml)).bone
    ijk = np.argwhere(bones.array == int(bone)).mean(axis=0)
    order = layer.metadata["bmes_imaging"]["order"]
    layer.brush_size = 4
    layer.n_edit_dimensions = 2
    before = review.model.finding(bone).edema_volume_ml
    _process_until(lambda: review._prepare_worker is None)  # ratios precomputed
    strokes, recompute = [], []
    for step in range(5):
        t = time.perf_counter()
        layer.paint(np.round(ijk[list(order)]) + [0, 3 * step, 0], int(bone))
        t_r = time.perf_counter()
        review.flush_edits()  # recompute now instead of after the debounce
        recompute.append((time.perf_counter() - t_r) * 1000.0)
        QApplication.processEvents()
        strokes.append((time.perf_counter() - t) * 1000.0)
    t_paint = statistics.median(strokes)
    painted = review.model.finding(bone).edema_volume_ml != before

    # ---- save and SEG export in the background, stalls measured
    review.reader_edit.setText("bench reader")
    beat.phase = "save"
    beat.reset()
    t0 = time.perf_counter()
    review.save_in_background()
    _process_until(lambda: not review.jobs.busy())
    t_save = time.perf_counter() - t0
    _take(beat, stalls, "save")
    t_export = None
    if study.t1.info.source_files:
        review.select_first_candidate()
        review.confirm_selected()
        beat.phase = "export"
        beat.reset()
        t0 = time.perf_counter()
        review.export_seg_in_background(tmp / "edema_seg.dcm")
        _process_until(lambda: not review.jobs.busy())
        t_export = time.perf_counter() - t0
        _take(beat, stalls, "export")

    n_pos = sum(1 for f in review.model.findings if f.edema_volume_ml > 0)
    print(f"study: {study_dir} (T1 {study.t1.shape}, "
          f"{len(review.model.findings)} bones, {n_pos} with candidates)")
    print(f"napari start (import + viewer shown): {startup:6.2f} s")
    if ready is not None:
        print(f"  review dock ready (warm-up done):   {ready:6.2f} s")
    else:
        print("  study opened at once (no wait for the review dock's warm-up)")
    print(f"first open + detection (cold):        {sum(cold):6.2f} s  "
          f"(open {cold[0]:.2f} s, detection {cold[1]:.2f} s; budget {OPEN_BUDGET_S:.1f} s: "
          f"{sum(cold) / OPEN_BUDGET_S:.0%}) "
          f"{'OK' if sum(cold) < OPEN_BUDGET_S else 'OVER BUDGET'}")
    print(f"open + detection (warm):              {total:6.2f} s  "
          f"(open {t_open:.2f} s, detection {t_detect:.2f} s; budget {OPEN_BUDGET_S:.1f} s: "
          f"{total / OPEN_BUDGET_S:.0%}) {'OK' if total < OPEN_BUDGET_S else 'OVER BUDGET'}")
    print(f"open with stored candidates:          {stored:6.2f} s  "
          f"(budget {OPEN_BUDGET_S:.1f} s: {stored / OPEN_BUDGET_S:.0%}) "
          f"{'OK' if stored < OPEN_BUDGET_S else 'OVER BUDGET'}")
    if reference is not None:
        print(f"reference dcm2niix on the same DICOM: {reference:6.2f} s  "
              f"(warm open + detection = {total / reference:.1f}x, stored candidates = "
              f"{stored / reference:.1f}x dcm2niix)")
    print(f"confirm/reject median {median_ms:6.2f} ms, worst {worst_ms:6.2f} ms wall; "
          f"CPU median {statistics.median(cpu):.2f} ms, worst {max(cpu):.2f} ms  "
          f"(budget {DECISION_BUDGET_MS:.0f} ms: worst = {worst_ms / DECISION_BUDGET_MS:.0%}) "
          f"{'OK' if worst_ms < DECISION_BUDGET_MS else 'OVER BUDGET'}")
    print(f"paint stroke -> findings table updated: median {t_paint:6.1f} ms, worst "
          f"{max(strokes):.1f} ms of 5 ({' '.join(f'{x:.0f}' for x in strokes)}; of which "
          f"recompute {' '.join(f'{x:.0f}' for x in recompute)}) (plus the 250 ms "
          f"debounce while painting; table changed: {painted})")
    print(f"save (background): {t_save:.2f} s" + (f", SEG export (background): "
                                                   f"{t_export:.2f} s" if t_export else ""))
    worst = max(stalls.values())
    print("longest event-loop stall: " + ", ".join(f"{k} {v:.0f} ms"
                                                    for k, v in stalls.items())
          + f"  (budget {STALL_BUDGET_MS:.0f} ms: worst = {worst / STALL_BUDGET_MS:.0%}) "
          + ("OK" if worst < STALL_BUDGET_MS else "OVER BUDGET"))
    print("  GUI-thread CPU in it / most in one stall: " + ", ".join(
        f"{k} {stall_cpu[k][0]:.0f} / {stall_cpu[k][1]:.0f} ms" for k in stalls
        if k in stall_cpu))
    try:
        load = os.getloadavg()[0]
        print(f"machine load average {load:.1f} on {os.cpu_count()} CPUs "
              "(figures above are wall-clock under that load)")
    except OSError:
        pass
    for label, at in bones_ready.items():
        print(f"bone masks ({label}) ready {at:.2f} s after the open started")
    if sampler is not None:
        sampler.report()
    if step_times is not None:
        step_times.report()
    for label, timings in (("cold", cold_timings), ("warm", review.model.last_timings)):
        if timings:
            print(f"detector stages ({label}): "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    review.model.dirty = False
    viewer.close()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The review's detection runs in the bone-mask process (issue 15): the T1 / fluid
alignment, the signal comparison and the findings never hold the napari process's GIL.
Without that process (one CPU, or it died mid-detection) the same detection runs
in-process, with the same findings, labels and painting ratios, byte for byte.

Run in a fresh interpreter (a script marked as the GUI process), so that the worker
path, the path after the worker died and the in-process path are each what a review
session runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parents[2] / "sample_data" / "study_p02_R"

pytestmark = [
    pytest.mark.slow,  # three detections of the sample study with automatic bone masks
    pytest.mark.skipif(not (SAMPLE / "dicom").is_dir(), reason="no committed sample study"),
    pytest.mark.skipif((os.cpu_count() or 1) < 2,
                       reason="one CPU: the bone-mask process is not used"),
]

SCRIPT = """
import hashlib, json, os, signal, sys, threading, time
from pathlib import Path
import numpy as np
import bmes_imaging_napari._qt  # the GUI process (the detection's kernels off here)
from bmes_imaging_napari import _bone_process, _remote_detection
from bmes_imaging_napari._review_model import ReviewModel
from bmes_imaging_napari._study import load_study

sample, tmp = Path(sys.argv[1]), Path(sys.argv[2])
study = load_study(sample)
stages = []

def digest(result, model):
    h = hashlib.sha1()
    for arr in (result.bones.array, result.edema.array, result.fluid_aligned.array):
        h.update(np.ascontiguousarray(arr).tobytes())
    model.set_detection(result, cache=False)
    model.prepare_recompute()  # the painting ratios: asked of the worker when it detected
    r = model._ratios
    for name in sorted(vars(r)):
        value = getattr(r, name)
        h.update(name.encode())
        h.update(np.ascontiguousarray(value).tobytes() if isinstance(value, np.ndarray)
                 else repr(value).encode())
    h.update(repr(result.findings).encode())
    h.update(repr(result.coverage_notes).encode())
    return h.hexdigest()

def detect(model):
    t = time.process_time()  # every thread of this process
    result = model.run_detection(progress=lambda s, f: stages.append(s))
    return result, time.process_time() - t

def ratios_cpu(model, result):
    t = time.process_time()
    digest_of = digest(result, model)
    return digest_of, time.process_time() - t

# 1. in the worker, with the masks started ahead when the study was opened
model = ReviewModel(cache=tmp / "cache")
model.open(study)
ahead = model._bones_ahead
worker, worker_cpu = detect(model)
worker_digest, ratios_cpu_s = ratios_cpu(model, worker)
worker_pid = _bone_process.pid()
cache = tmp / "cache" / "studies"
for _ in range(100):  # written by the worker after its answer
    if len(list(cache.rglob("*.nii"))) == 2:
        break
    time.sleep(0.05)
cached = sorted(p.name for p in cache.rglob("*.nii"))
quality = {int(f.bone): f.bone_mask_quality for f in worker.findings}

# 2. the worker killed during the detection: the same detection, here
model2 = ReviewModel(cache=tmp / "cache2")
model2.open(study)
threading.Timer(0.5, lambda: os.kill(_bone_process.pid(), signal.SIGKILL)).start()
after_death, _ = detect(model2)
_bone_process.shutdown()

# 3. no worker at all (one CPU): in-process from the start
_bone_process._disabled = True
model3 = ReviewModel(cache=tmp / "cache3")
model3.open(study)
alone, _ = detect(model3)
print(json.dumps({"worker": worker_digest, "after_death": digest(after_death, model2),
                  "alone": digest(alone, model3), "pid": worker_pid,
                  "ahead": ahead is not None, "ratios_cpu_s": ratios_cpu_s,
                  "cache_written": getattr(worker, "cache_written", False),
                  "cached": cached, "worker_cpu_s": worker_cpu,
                  "quality": sum(q == q for q in quality.values()),
                  "sources": [worker.bone_source, alone.bone_source],
                  "stages": sorted(set(stages)), "n": len(worker.findings)}))
"""


def test_detection_in_the_worker_and_in_process_give_the_same_result(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(SAMPLE), str(tmp_path)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["pid"] is not None and out["ahead"]  # masks started ahead, in the worker
    assert out["cache_written"] and out["cached"] == ["bones.nii", "fluid_aligned.nii"]
    # the GUI process only waited: far less CPU than the detection (seconds)
    assert out["worker_cpu_s"] < 0.5, out
    assert out["ratios_cpu_s"] < 0.3, out  # the painting ratios: computed there too
    assert out["n"] > 0 and out["quality"] > 0  # automatic masks' quality kept
    assert out["sources"] == ["automatic", "automatic"]
    assert {"align", "compare", "done"} <= set(out["stages"])  # progress came through
    assert out["worker"] == out["alone"]
    assert out["after_death"] == out["alone"]


CANCEL_SCRIPT = """
import json, sys, threading, time
from pathlib import Path
import bmes_imaging_napari._qt  # the GUI process
from bmes_imaging_napari import _bone_process
from bmes_imaging_napari._remote_detection import DetectionCancelled
from bmes_imaging_napari._review_model import ReviewModel
from bmes_imaging_napari._study import load_study

sample, tmp = Path(sys.argv[1]), Path(sys.argv[2])
model = ReviewModel(cache=tmp / "cache")
model.open(load_study(sample))

def run(after, action, cancelled=None):
    out = {}
    def target():
        t = time.perf_counter()
        try:
            model.run_detection(cancelled=cancelled)
            out["ended"] = "result"
        except DetectionCancelled:
            out["ended"] = "cancelled"
        out["s"] = time.perf_counter() - t
    thread = threading.Thread(target=target)
    thread.start()
    time.sleep(after)
    t = time.perf_counter()
    action()
    thread.join(timeout=120)
    out["after_action_s"] = time.perf_counter() - t
    return out

flag = threading.Event()
cancel = run(0.5, flag.set, cancelled=flag.is_set)
first_pid = _bone_process.pid()
again = run(0.0, lambda: None)  # the worker still serves
same_pid = _bone_process.pid() == first_pid
stop = run(0.5, _bone_process.shutdown)
print(json.dumps({"cancel": cancel, "again": again, "stop": stop, "same_pid": same_pid}))
"""


def test_cancel_and_shutdown_end_a_worker_detection(tmp_path: Path) -> None:
    """Cancel reaches the worker's detection (the worker then serves the next one); a
    session ending (the worker stopped) ends the detection waiting for it, without
    running it again in this process."""
    run = subprocess.run([sys.executable, "-c", CANCEL_SCRIPT, str(SAMPLE), str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["cancel"]["ended"] == "cancelled" and out["cancel"]["after_action_s"] < 1.0
    assert out["again"]["ended"] == "result" and out["same_pid"]
    assert out["stop"]["ended"] == "cancelled" and out["stop"]["after_action_s"] < 5.0

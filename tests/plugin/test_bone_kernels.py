"""The detection's compiled kernels run in the bone-mask process, not in the GUI's.

The review's GUI process marks itself (importing the plugin's Qt code) so that it never
imports or compiles numba (a stall); the bone-mask process registers the atlas with the
compiled kernels. Both give the same automatic bone masks, byte for byte (the kernels
compute what the numpy code computes, bit for bit).

Run in a fresh interpreter (a script), so that "numba was never imported here" says
where the kernels ran.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parents[2] / "sample_data" / "study_p02_R"

pytestmark = [
    pytest.mark.slow,  # two atlas registrations
    pytest.mark.skipif(not (SAMPLE / "dicom").is_dir(), reason="no committed sample study"),
    pytest.mark.skipif((os.cpu_count() or 1) < 2,
                       reason="one CPU: the bone-mask process is not used"),
]

SCRIPT = """
import hashlib, json, os, sys
from pathlib import Path
import bmes_imaging_napari._qt  # the GUI process: kernels off here
from bmes_imaging.detection import _kernels, automatic_bones, DetectionConfig
from bmes_imaging.study import load_study
from bmes_imaging_napari import _bone_process

t1 = load_study(Path(sys.argv[1])).t1
in_gui = automatic_bones(t1, DetectionConfig(threads=1))
future = _bone_process.submit_automatic_bones(t1, DetectionConfig(threads=1))
in_worker = future.result(timeout=600)
pid = _bone_process.pid()
env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\\0") if Path("/proc").is_dir() else []
_bone_process.shutdown()
digest = lambda v: hashlib.sha1(v.array.tobytes()).hexdigest()
print(json.dumps({"here": _kernels.AVAILABLE, "numba_here": "numba" in sys.modules,
                  "same": digest(in_gui) == digest(in_worker),
                  "quality": in_gui.info.extra["bone_mask_quality"]
                  == in_worker.info.extra["bone_mask_quality"],
                  "worker_off": b"BMES_NO_NUMBA=1" in env, "proc": bool(env)}))
"""


def test_gui_process_without_kernels_worker_with_them_same_masks(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BMES_NO_NUMBA"}
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(SAMPLE)], env=env,
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["here"] is False and out["numba_here"] is False
    assert out["same"] and out["quality"]
    if out["proc"] and importlib.util.find_spec("numba") is not None:
        assert out["worker_off"] is False  # the worker keeps the compiled kernels

"""The review's DICOM SEG / SR export runs in the bone-mask worker process (issue 15):
highdicom's pure-Python encoding never holds the napari process's GIL, the file is the
same SEG, and the worker ends with the session.

Run in a fresh interpreter (a script), so that "highdicom was never imported here"
says where the encoding ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SAMPLE = Path(__file__).parents[2] / "sample_data" / "study_p02_R"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SAMPLE / "dicom").is_dir(), reason="no committed sample study"),
    pytest.mark.skipif((os.cpu_count() or 1) < 2,
                       reason="one CPU: the bone-mask process is not used"),
]

SCRIPT = """
import json, sys
import numpy as np
from pathlib import Path
from bmes_imaging.store import open_store
from bmes_imaging_napari import _bone_process
from bmes_imaging_napari._review_model import ReviewModel
from bmes_imaging_napari._study import load_study

sample, tmp = Path(sys.argv[1]), Path(sys.argv[2])
model = ReviewModel(reader="Reader^Anna", store=open_store(tmp / "s.sqlite"),
                    cache=tmp / "cache")
model.open(load_study(sample))
model.set_detection(model.run_detection())
bone = max(model.findings, key=lambda f: f.edema_volume_ml).bone
model.confirm(bone)
np.save(tmp / "edema.npy", model.edema.array)
out = model.export_seg(tmp / "edema_seg.dcm")
print(json.dumps({"highdicom_here": "highdicom" in sys.modules,
                  "edema_segments": [int(b) for b in out.edema_segments],
                  "confirmed": int(bone), "worker": _bone_process.pid()}))
_bone_process.shutdown()
"""


def test_seg_export_is_encoded_in_the_worker_process(tmp_path: Path) -> None:
    from bmes_imaging.export import read_edema_seg
    from bmes_imaging.study import load_study

    run = subprocess.run([sys.executable, "-c", SCRIPT, str(SAMPLE), str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["worker"] is not None
    assert not answer["highdicom_here"]  # encoded in the worker, not in this process
    assert answer["edema_segments"] == [answer["confirmed"]]
    assert not Path(f"/proc/{answer['worker']}").exists()  # ended with the session
    out = tmp_path / "edema_seg.dcm"
    assert out.is_file() and (tmp_path / "edema_seg_sr.dcm").is_file()
    back = read_edema_seg(out, load_study(SAMPLE).t1)
    edema = np.load(tmp_path / "edema.npy")
    expected = np.where(edema == answer["confirmed"], answer["confirmed"], 0)
    np.testing.assert_array_equal(back.edema.array, expected)
    assert back.reader == "Reader^Anna"


def test_export_falls_back_in_process_without_the_worker(tmp_path: Path) -> None:
    """With the process disabled (one CPU, or it broke), the SEG is written here."""
    script = SCRIPT.replace("from bmes_imaging_napari._study import load_study",
                            "from bmes_imaging_napari._study import load_study\n"
                            "_bone_process._disabled = True")
    run = subprocess.run([sys.executable, "-c", script, str(SAMPLE), str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["worker"] is None and answer["highdicom_here"]
    assert answer["edema_segments"] == [answer["confirmed"]]
    assert (tmp_path / "edema_seg.dcm").is_file()

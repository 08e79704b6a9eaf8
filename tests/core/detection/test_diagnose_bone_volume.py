"""bench/diagnose_bone_volume.py: evaluation material refused; the per-bone measures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

_BENCH = Path(__file__).resolve().parents[3] / "bench"
_SCRIPT = _BENCH / "diagnose_bone_volume.py"


@pytest.mark.parametrize("args", [["--split", "reserve"],
                                  ["--split", "vault", "--split", "reserve"],
                                  ["--split", "vault", "--seed-offset", "13000"]])
def test_evaluation_material_refused(args: list[str], tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(_SCRIPT), *args, "--cache", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "refused" in out.stderr
    assert not any(tmp_path.iterdir())  # nothing registered nor cached


def test_bone_stats_of_a_doubled_shifted_box() -> None:
    sys.path.insert(0, str(_BENCH))
    try:
        from diagnose_bone_volume import bone_stats
    finally:
        sys.path.remove(str(_BENCH))
    affine = np.diag([1.0, 1.0, 2.0, 1.0])  # anisotropic voxels: 2 mm slices
    truth = np.zeros((40, 40, 20), np.uint8)
    auto = np.zeros_like(truth)
    truth[10:20, 10:20, 5:10] = 3  # 500 voxels
    auto[10:30, 13:23, 5:10] = 3  # 1000: twice as long along i, 3 voxels over along j
    s = bone_stats(truth, auto, affine, 3)
    assert s is not None
    assert s["vol"] == pytest.approx(2.0)
    assert s["off"] == pytest.approx(np.hypot(5.0, 3.0))  # centres 5 and 3 mm apart
    assert s["ax0"] == pytest.approx(2.0, rel=0.01)  # the longest axis twice as long
    assert s["ax1"] == pytest.approx(1.0, rel=0.01)
    assert s["ax2"] == pytest.approx(1.0, rel=0.01)
    assert s["dice"] == pytest.approx(2 * 350 / (500 + 1000))
    assert s["outside"] == pytest.approx(650 / 1000)
    assert s["other"] == 0.0
    assert bone_stats(truth, auto, affine, 4) is None  # a bone not in the truth

"""A tarsal far off its bone moves as a whole onto the T1 edges (issue 12, third pass):
``_bone_shift`` on a small synthetic sagittal T1 (fast)."""

from __future__ import annotations

import numpy as np
import pytest

from bmes_imaging.detection._bone_shift import shift_bones, shift_poorly_fitting
from bmes_imaging.detection._refine import edge_quality

#: in-plane 0.5 mm, 3 mm slices along the last axis (a sagittal T1)
VS = np.array([0.5, 0.5, 3.0])


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(int(a.sum() + b.sum()), 1))


def _foot(seed: int = 0, edema: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """T1 and true bone: fat and muscle in air, one ellipsoidal bone (bright marrow,
    1 mm dark cortex), a dark tendon; optional dark (edematous) marrow."""
    shape = (140, 120, 12)
    x, y, z = (np.indices(shape) * VS[:, None, None, None]).astype(np.float32)
    img = np.zeros(shape, dtype=np.float32)
    body = ((x - 35) / 32) ** 2 + ((y - 30) / 27) ** 2 < 1
    img[body] = 1.0
    img[body & (y > 44)] = 0.4
    r = ((x - 33) / 13) ** 2 + ((y - 30) / 9) ** 2 + ((z - 18) / 12) ** 2
    marrow = ((x - 33) / 12) ** 2 + ((y - 30) / 8) ** 2 + ((z - 18) / 12) ** 2 < 1
    bone = r < 1
    img[bone] = 0.1
    img[marrow] = 0.95
    if edema:
        img[marrow & (x < 31)] = 0.45
    img[body & (np.abs(x - 58) < 1.5) & (np.abs(y - 30) < 4)] = 0.08
    rng = np.random.default_rng(seed)
    img += rng.normal(0, 0.02, shape).astype(np.float32)
    return np.clip(img, 0, None) * 500, bone.astype(np.uint8)


@pytest.mark.parametrize("edema", [False, True])
def test_a_bone_several_millimetres_off_moves_back_onto_it(edema: bool) -> None:
    img, bone = _foot(edema=edema)
    off = np.roll(np.roll(bone, 10, axis=0), -6, axis=1)  # 5 mm and 3 mm off in plane
    before = _dice(off == 1, bone == 1)
    out, shifts = shift_bones(img, VS, off, {1})
    after = _dice(out == 1, bone == 1)
    assert 1 in shifts
    assert after > 0.9 > before + 0.2, (before, after)


def test_poor_fit_is_shifted_and_confirmed_a_good_fit_stays() -> None:
    img, bone = _foot(seed=2)
    fit = edge_quality(img, VS, bone)
    out, new_fit = shift_poorly_fitting(img, VS, bone, fit)
    assert (out == bone).all() and new_fit == fit  # fits well: not a candidate
    off = np.roll(bone, 12, axis=0)
    fit_off = edge_quality(img, VS, off)
    out, new_fit = shift_poorly_fitting(img, VS, off, fit_off)
    assert _dice(out == 1, bone == 1) > 0.9
    assert new_fit[1] > fit_off[1]


def test_a_bone_not_in_the_shifted_set_never_moves() -> None:
    img, bone = _foot(seed=3)
    off = np.roll(bone, 10, axis=0) * 9  # a metatarsal label: never shifted
    out, new_fit = shift_poorly_fitting(img, VS, off, {9: 0.0})
    assert (out == off).all() and new_fit == {9: 0.0}

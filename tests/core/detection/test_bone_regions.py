"""Bone regions decided by the image where the atlas' shape is wrong (issue 12, fifth
pass): ``_bone_regions.compete`` on a small synthetic sagittal T1 (fast)."""

from __future__ import annotations

import numpy as np

from bmes_imaging.detection._bone_regions import compete, dark_lines
from bmes_imaging.metrics import dice

#: in-plane 0.5 mm, 3 mm slices along the last axis (a sagittal T1)
VS = np.array([0.5, 0.5, 3.0])



def _foot(edema: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """T1 and true bones: a body of fat and muscle in air, two ellipsoidal bones side by
    side (bright marrow, 1 mm dark cortex, a dark joint space between them); optional
    dark (edematous) marrow in bone 1."""
    shape = (160, 120, 12)
    x, y, z = (np.indices(shape) * VS[:, None, None, None]).astype(np.float32)
    img = np.zeros(shape, dtype=np.float32)
    body = ((x - 40) / 36) ** 2 + ((y - 30) / 26) ** 2 < 1
    img[body] = 1.0  # fat
    img[body & (y > 44)] = 0.4  # muscle
    truth = np.zeros(shape, dtype=np.uint8)
    for b, cx, ax in ((1, 27.0, 13.0), (2, 55.0, 14.0)):
        r = ((x - cx) / ax) ** 2 + ((y - 30) / 9) ** 2 + ((z - 18) / 12) ** 2
        marrow = (((x - cx) / (ax - 1)) ** 2 + ((y - 30) / 8) ** 2
                  + ((z - 18) / 12) ** 2 < 1)
        truth[r < 1] = b
        img[r < 1] = 0.1  # cortex
        img[marrow] = 0.95
        if edema and b == 1:
            img[marrow & (x < 27) & (x > 18)] = 0.4
    img[(np.abs(x - 40.5) < 0.5) & body & (np.abs(y - 30) < 10)] = 0.05  # joint space
    truth[(np.abs(x - 40.5) < 0.5)] = 0
    rng = np.random.default_rng(seed)
    img += rng.normal(0, 0.02, shape).astype(np.float32)
    return np.clip(img, 0, None) * 500, truth


def _atlas_shape(truth: np.ndarray) -> np.ndarray:
    """Registered masks shaped unlike the bones: bone 1 stretched 25 % along x (over
    the joint space into bone 2), bone 2 squeezed 20 % across (y)."""
    lab = np.zeros_like(truth)
    i, j = np.indices(truth.shape[:2])
    c1 = np.argwhere(truth == 1).mean(axis=0)
    c2 = np.argwhere(truth == 2).mean(axis=0)
    src1 = (np.round((i - c1[0]) / 1.25 + c1[0]).astype(int), j)
    src2 = (i, np.round((j - c2[1]) / 0.8 + c2[1]).astype(int))
    for b, (si, sj) in ((2, src2), (1, src1)):
        ok = (si >= 0) & (si < truth.shape[0]) & (sj >= 0) & (sj < truth.shape[1])
        for k in range(truth.shape[2]):
            plane = np.zeros(truth.shape[:2], dtype=bool)
            plane[ok] = truth[si[ok], sj[ok], k] == b
            lab[plane, k] = b
    return lab


def test_dark_lines_mark_cortex_not_broad_dark_marrow() -> None:
    img, truth = _foot(edema=True)
    line = dark_lines(img.astype(np.float32), VS, 2)
    k = 6
    cortex = (truth[..., k] > 0) & ~(np.abs(np.gradient(truth[..., k].astype(float))[0])
                                     == 0)
    x = np.indices(truth.shape)[0] * VS[0]
    edema = (truth == 1) & (x > 19.5) & (x < 25.5)
    assert line[..., k][cortex].mean() > 3 * line[edema].mean()


def test_bones_shaped_unlike_the_atlas_take_their_own_shape() -> None:
    img, truth = _foot()
    lab = _atlas_shape(truth)
    out = compete(img, VS, lab)
    for b in (1, 2):
        before = dice(lab == b, truth == b)
        after = dice(out == b, truth == b)
        assert after > before + 0.03 and after > 0.85, (b, before, after)


def test_edematous_marrow_stays_bone() -> None:
    img, truth = _foot(edema=True)
    lab = _atlas_shape(truth)
    out = compete(img, VS, lab)
    x = np.indices(truth.shape)[0] * VS[0]
    edema = (truth == 1) & (x > 19.5) & (x < 25.5)
    assert (out[edema] == 1).mean() > 0.9
    assert dice(out == 1, truth == 1) > 0.85


def test_only_the_chosen_bones_change() -> None:
    img, truth = _foot()
    lab = _atlas_shape(truth)
    out = compete(img, VS, lab, {2})
    assert ((out == 1) == (lab == 1)).all()
    assert dice(out == 2, truth == 2) > dice(lab == 2, truth == 2)

"""The image decides bone boundaries near the registered masks (issue 12, build 1):
``_boundary`` on a small synthetic sagittal T1 (fast)."""

from __future__ import annotations

import numpy as np
import pytest

from bmes_imaging.detection._boundary import image_boundaries, image_decides, not_in_air
from bmes_imaging.metrics import dice
from bmes_imaging.volume import Volume

#: in-plane 0.5 mm, 3 mm slices along the last axis (a sagittal T1)
VS = np.array([0.5, 0.5, 3.0])



def _foot(seed: int = 0, edema: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """T1 and true bone: a body of fat and muscle in air, one ellipsoidal bone (bright
    marrow, 1 mm dark cortex) and a dark tendon; optional dark (edematous) marrow."""
    shape = (120, 120, 12)
    x, y, z = (np.indices(shape) * VS[:, None, None, None]).astype(np.float32)
    img = np.zeros(shape, dtype=np.float32)
    body = ((x - 30) / 26) ** 2 + ((y - 30) / 26) ** 2 < 1
    img[body] = 1.0  # fat
    img[body & (y > 42)] = 0.4  # muscle
    r = ((x - 28) / 13) ** 2 + ((y - 30) / 9) ** 2 + ((z - 18) / 12) ** 2
    bone = r < 1
    marrow = ((x - 28) / 12) ** 2 + ((y - 30) / 8) ** 2 + ((z - 18) / 12) ** 2 < 1
    img[bone] = 0.1  # cortex
    img[marrow] = 0.95
    if edema:
        img[marrow & (x < 26)] = 0.45
    img[body & (np.abs(x - 50) < 1.5) & (np.abs(y - 30) < 4)] = 0.08  # tendon
    rng = np.random.default_rng(seed)
    img += rng.normal(0, 0.02, shape).astype(np.float32)
    return np.clip(img, 0, None) * 500, bone.astype(np.uint8)


def test_air_is_never_bone_but_dark_tissue_inside_the_body_may_be() -> None:
    img, bone = _foot()
    labels = bone.copy()
    labels[2:8, 2:8, 4:8] = 2  # in the air around the foot
    labels[99:102, 58:62, 4:8] = 3  # on the dark tendon, inside the body
    out = not_in_air(img, VS, labels)
    assert not (out == 2).any()
    assert (out == 3).sum() == (labels == 3).sum()
    assert ((out == 1) == (bone == 1)).all()  # cortex and marrow kept


@pytest.mark.parametrize("edema", [False, True])
def test_a_misplaced_boundary_moves_onto_the_bone(edema: bool) -> None:
    img, bone = _foot(edema=edema)
    shifted = np.roll(bone, 5, axis=0)  # 2.5 mm off in plane
    before = dice(shifted == 1, bone == 1)
    out = image_boundaries(img, VS, shifted, {1})
    after = dice(out == 1, bone == 1)
    assert after > before + 0.03 and after > 0.9, (before, after)


def test_a_fitting_mask_is_left_as_it_is() -> None:
    img, bone = _foot(seed=1)
    t1 = Volume(img, np.diag([*VS, 1.0]))
    out, fit = image_decides(t1, bone)
    assert fit[1] >= 0.5
    assert (out == bone).all()

"""_bone_resize: each bone moved and resized onto its own marrow and cortex (eighth pass)."""

from __future__ import annotations

import numpy as np
import pytest

from bmes_imaging.detection._bone_resize import resize_bones

_VS = np.array([0.8, 0.8, 2.0])
_SHAPE = (90, 130, 32)
_OTHER = ((36.0, 78.0, 32.0), (22.0, 9.0, 9.0))  # a second, normal bone


def _ellipsoid(centre: tuple[float, float, float], axes: tuple[float, float, float]
               ) -> np.ndarray:
    mm = np.indices(_SHAPE, dtype=np.float64) * _VS[:, None, None, None]
    r = sum(((mm[k] - centre[k]) / axes[k]) ** 2 for k in range(3))
    return r <= 1.0


def _foot(marrow: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A T1 with a bone of marrow ``marrow`` (dark 1.2 mm cortex) and a normal bone
    beside it (bright marrow) in soft tissue; the first bone's mask."""
    rng = np.random.default_rng(3)
    t1 = np.full(_SHAPE, 0.5)
    first = None
    for (centre, axes), level in (((36.0, 32.0, 32.0), (22.0, 9.0, 9.0)), marrow), \
            (_OTHER, 1.0):
        bone = _ellipsoid(centre, axes)
        inner = _ellipsoid(centre, tuple(a - 1.2 for a in axes))  # type: ignore[arg-type]
        t1[bone] = 0.15
        t1[inner] = level
        first = bone if first is None else first
    t1 += rng.normal(0.0, 0.03, _SHAPE)
    assert first is not None
    return t1.astype(np.float32), first


def _labels(mask: np.ndarray, label: int = 3) -> np.ndarray:
    """``mask`` as ``label`` and the normal bone, registered right, as label 4."""
    out = np.where(mask, label, 0).astype(np.uint8)
    out[_ellipsoid(*_OTHER)] = 4
    return out


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def test_a_thick_shifted_mask_is_moved_and_slimmed_onto_its_bone() -> None:
    t1, bone = _foot()
    thick = _ellipsoid((36.0, 34.4, 32.0), (22.0, 11.0, 11.0))  # 1.22x wide, 2.4 mm off
    labels = _labels(thick)
    before = _dice(labels == 3, bone)
    out, moves = resize_bones(t1, _VS, labels)
    assert 3 in moves
    after = _dice(out == 3, bone)
    assert before < 0.8
    assert after > before + 0.1
    assert after > 0.85
    assert moves[3][4] < 0.95 and moves[3][5] < 0.95  # both widths shrink


def test_a_mask_on_its_bone_stays() -> None:
    t1, bone = _foot()
    labels = _labels(bone)
    out, moves = resize_bones(t1, _VS, labels)
    assert _dice(out == 3, bone) > 0.95
    if 3 in moves:  # at most a small correction
        assert np.all(np.abs(moves[3][:3]) <= 1.0)
        assert np.all(np.abs(moves[3][3:] - 1.0) <= 0.08)


@pytest.mark.parametrize("marrow", [0.3, 0.15])
def test_dark_marrow_is_not_moved(marrow: float) -> None:
    """Edematous marrow (dark on T1) is still bone: the mask stays where it was."""
    t1, _ = _foot(marrow)
    thick = _ellipsoid((36.0, 34.4, 32.0), (22.0, 11.0, 11.0))
    labels = _labels(thick)
    out, moves = resize_bones(t1, _VS, labels)
    assert 3 not in moves
    assert np.array_equal(out == 3, labels == 3)


def test_tibia_and_other_labels_untouched() -> None:
    t1, _ = _foot()
    thick = _ellipsoid((36.0, 34.4, 32.0), (22.0, 11.0, 11.0))
    labels = _labels(thick, 13)  # a tibia label: not resized
    out, moves = resize_bones(t1, _VS, labels)
    assert 13 not in moves
    assert np.array_equal(out == 13, labels == 13)

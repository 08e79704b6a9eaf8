"""The atlas registration's exact speed-ups compute what the plain code computes.

:func:`bmes_imaging.detection._matcher.sample_linear` stands in for
``scipy.ndimage.map_coordinates(order=1, mode="constant")`` and the matcher's NMI for
:func:`bmes_imaging.detection._align._nmi`; both must agree bit for bit (the automatic
masks depend on every bit through Powell's path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from bmes_imaging.detection import DetectionConfig, _atlas, automatic_bones
from bmes_imaging.detection._align import _intensity_bins, _nmi
from bmes_imaging.detection._matcher import Matcher, fit
from bmes_imaging.detection._sampling import (
    sample_linear,
    sample_linear_nearest,
    sample_nearest,
)
from bmes_imaging.study import load_study
from bmes_imaging.volume import Volume


def _volume(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vol = ndimage.gaussian_filter(rng.uniform(0.0, 1.0, shape), 1.5)
    return np.ascontiguousarray(vol, dtype=np.float32)


@pytest.mark.parametrize("shape", [(23, 31, 17), (2, 40, 9), (64, 12, 33)])
def test_sample_linear_is_map_coordinates_bit_for_bit(shape: tuple[int, int, int]) -> None:
    vol = _volume(shape, 1)
    rng = np.random.default_rng(2)
    n = 20000
    plain = rng.uniform(0.0, np.array(shape)[:, None] - 1.0, size=(3, n))  # no border
    assert np.array_equal(sample_linear(vol, plain, 0.0).view(np.uint32), ndimage.map_coordinates(
        vol, plain, order=1, mode="constant").view(np.uint32))
    coords = rng.uniform(-2.0, np.array(shape)[:, None] + 1.0, size=(3, n))
    # the cases at the borders: integer positions, exactly 0 and n - 1, just outside
    coords[:, ::5] = np.round(coords[:, ::5])
    for ax in range(3):
        coords[ax, ax::7] = shape[ax] - 1
        coords[ax, ax + 1::11] = 0.0
        coords[ax, ax + 2::13] = -1e-12
        coords[ax, ax + 3::17] = shape[ax] - 1 + 1e-9
    for cval in (0.0, 0.45):
        want = ndimage.map_coordinates(vol, coords, order=1, mode="constant", cval=cval)
        got = sample_linear(vol, coords, cval)
        assert got.dtype == want.dtype == np.float32
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    want = ndimage.map_coordinates(vol, coords, order=1, mode="nearest")
    got = sample_linear_nearest(vol, coords)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    inside = sample_linear(vol, np.clip(coords, 0, np.array(shape)[:, None] - 1), 0.0)
    assert np.array_equal(inside, ndimage.map_coordinates(
        vol, np.clip(coords, 0, np.array(shape)[:, None] - 1), order=1, mode="constant"))


def test_matcher_cost_is_the_plain_nmi() -> None:
    fixed = _volume((30, 28, 20), 3)
    moving = _volume((40, 36, 30), 4)
    faff = np.diag([2.0, 2.0, 3.0, 1.0])
    maff = np.diag([1.5, 1.5, 2.0, 1.0])
    maff[:3, 3] = (-3.0, 2.0, -4.0)
    m = Matcher(fixed, faff, moving, maff, fixed > 0.45, 3000, np.random.default_rng(5))
    rng = np.random.default_rng(6)
    for _ in range(20):
        a2w = np.eye(4)
        a2w[:3, :3] += rng.normal(0, 0.05, (3, 3))
        a2w[:3, 3] = rng.normal(0, 4.0, 3)
        w2v = m.minv @ np.linalg.inv(a2w)
        pv = w2v[:3, :3] @ m.world + w2v[:3, 3:4]
        vals = ndimage.map_coordinates(m.moving, pv, order=1, mode="constant",
                                       cval=m.outside)
        plain = -_nmi(m.fbin, _intensity_bins(vals, 0.0, 1.0), None)
        assert m.cost(a2w) == plain


def test_fit_finds_a_known_shift() -> None:
    """The memoised Powell fit still moves a template onto its shifted copy."""
    vol = _volume((40, 40, 40), 7)
    aff = np.eye(4)
    shifted = np.eye(4)
    shifted[:3, 3] = (2.0, -1.5, 1.0)
    m = Matcher(vol, shifted, vol, aff, np.ones(vol.shape, dtype=bool), 4000,
                np.random.default_rng(8))
    p, cost = fit(m, np.full(3, 20.0), np.eye(4), np.zeros(9), 0.05, 600, 20.0)
    assert np.allclose(p[3:6], (2.0, -1.5, 1.0), atol=0.3)
    assert cost < m.cost(np.eye(4)) - 0.05


_SAMPLE = Path(__file__).resolve().parents[3] / "sample_data" / "study_p02_R"


@pytest.fixture(scope="module")
def sample_t1() -> Volume:
    if not _SAMPLE.is_dir():
        pytest.skip(f"the sample study is not at {_SAMPLE}")
    return load_study(_SAMPLE).t1


def test_registration_is_the_same_on_one_and_two_threads(
        sample_t1: Volume, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small budgets, every stage: the screened starts, the global fits, the per-bone
    fits on two threads give the affines of one thread, bit for bit."""
    monkeypatch.setattr(_atlas, "_FIT_THREADS", 2)
    sch = _atlas._Schedule(search_points=800, screen_points=600, screen_maxfev=40,
                           global_points=1000, global_maxfev=120, fine_points=1000,
                           fine_maxfev=60, bone_points=600, bone_maxfev=30,
                           group_points=600, group_maxfev=40, body_scales=(0.9, 1.0, 1.1))
    atlas = _atlas._atlas_and_template("R")
    one = _atlas.register_atlas(sample_t1, atlas, DetectionConfig(threads=1), schedule=sch)
    two = _atlas.register_atlas(sample_t1, atlas, DetectionConfig(threads=2), schedule=sch)
    assert np.array_equal(one[0], two[0]) and one[2] == two[2]
    assert sorted(one[1]) == sorted(two[1]) and len(one[1]) >= 10
    for b in one[1]:
        assert np.array_equal(one[1][b], two[1][b]), b


@pytest.mark.slow
def test_automatic_masks_are_the_same_on_one_and_two_threads(
        sample_t1: Volume, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_atlas, "_FIT_THREADS", 2)
    one = automatic_bones(sample_t1, DetectionConfig(threads=1))
    two = automatic_bones(sample_t1, DetectionConfig(threads=2))
    assert one.array.any() and np.array_equal(one.array, two.array)
    assert one.info.extra["bone_mask_quality"] == two.info.extra["bone_mask_quality"]


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_sample_nearest_is_map_coordinates_order_0(dtype: type) -> None:
    shape = (23, 31, 17)
    rng = np.random.default_rng(9)
    vol = rng.integers(0, 15, shape).astype(dtype)
    coords = rng.uniform(-2.0, np.array(shape)[:, None] + 1.0, size=(3, 20000))
    coords[:, ::3] = np.round(coords[:, ::3] * 2) / 2  # exact halves: round half up
    for ax in range(3):
        coords[ax, ax::7] = shape[ax] - 1
        coords[ax, ax + 1::11] = shape[ax] - 0.75
        coords[ax, ax + 2::13] = -0.25
    want = ndimage.map_coordinates(vol, coords, order=0, mode="constant", cval=0)
    got = sample_nearest(vol, coords, 0)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    want = ndimage.map_coordinates(vol, coords, order=0, mode="nearest")
    assert np.array_equal(sample_nearest(vol, coords, None), want)

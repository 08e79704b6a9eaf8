"""The compiled joint histogram of the atlas registration is its numpy code, bit for bit.

:func:`bmes_imaging.detection._kernels.joint_histogram` (numba) must give exactly what
:func:`~bmes_imaging.detection._kernels.joint_histogram_numpy` gives (the automatic masks
depend on every bit through Powell's path): points inside, on the borders, on exact
voxel positions and halves, outside; both outside values of the templates.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from bmes_imaging.detection import _kernels
from bmes_imaging.detection._kernels import joint_histogram, joint_histogram_numpy

#: numba installed (whether or not this process switched the kernels off: the GUI
#: process of the review plugin does, and the tests switch them on again)
HAVE_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA,
                                 reason="numba is not installed: the numpy code runs")


def _template(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vol = ndimage.gaussian_filter(rng.uniform(0.0, 1.0, shape), 1.5)
    vol = (vol - vol.min()) / (vol.max() - vol.min())
    vol[vol < 0.15] = 0.0  # air
    vol[vol > 0.97] = 1.0  # the top bin
    return np.ascontiguousarray(vol, dtype=np.float32)


def _coords(shape: tuple[int, int, int], n: int, rng: np.random.Generator) -> np.ndarray:
    coords = rng.uniform(-2.0, np.array(shape)[:, None] + 1.0, size=(3, n))
    coords[:, ::5] = np.round(coords[:, ::5])
    coords[:, 1::9] = np.round(coords[:, 1::9] * 2) / 2
    for ax in range(3):
        coords[ax, ax::7] = shape[ax] - 1
        coords[ax, ax + 1::11] = 0.0
        coords[ax, ax + 2::13] = -1e-12
        coords[ax, ax + 3::17] = shape[ax] - 1 + 1e-9
    return coords


@needs_numba
@pytest.mark.parametrize("shape", [(23, 31, 17), (2, 40, 9), (64, 12, 33)])
def test_compiled_histogram_is_the_numpy_one_bit_for_bit(
        shape: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_kernels, "AVAILABLE", True)
    vol = _template(shape, 1)
    rng = np.random.default_rng(2)
    for trial in range(6):
        n = int(rng.integers(100, 6000))
        coords = _coords(shape, n, rng) if trial else rng.uniform(
            0.0, np.array(shape)[:, None] - 1.0, size=(3, n))  # first: all inside
        fbin = rng.integers(0, 32, n).astype(np.int64)
        start = fbin * 32
        for cval in (0.0, 0.45):
            want = joint_histogram_numpy(vol, coords, cval, start, start + 31, 32)
            got = joint_histogram(vol, coords, cval, start, start + 31, 32)
            assert got.dtype == want.dtype == np.float64
            assert np.array_equal(got.view(np.uint64), want.view(np.uint64))
            assert got.sum() == pytest.approx(n)


def test_without_numba_the_numpy_code_runs() -> None:
    """``BMES_NO_NUMBA=1`` switches the kernel off (the fallback where numba is absent)."""
    code = ("import sys; from bmes_imaging.detection import _kernels, automatic_bones; "
            "_kernels.warm_up(); print(_kernels.AVAILABLE, 'numba' in sys.modules)")
    env = {**os.environ, "BMES_NO_NUMBA": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    if HAVE_NUMBA:
        env.pop("BMES_NO_NUMBA")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.split()
        assert out == ["True", "True"]


def test_importing_detection_does_not_import_numba() -> None:
    """numba is imported on the kernels' first use only (a GUI process that leaves the
    registration to a worker, :func:`_kernels.disable`, never imports it)."""
    code = ("import sys; from bmes_imaging.detection import _kernels, automatic_bones; "
            "import bmes_imaging.detection._sampling; print('numba' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "BMES_NO_NUMBA"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False"]


@pytest.mark.parametrize("compiled", [
    pytest.param(True, marks=needs_numba), False])
@pytest.mark.parametrize("shape", [(23, 31, 17), (2, 40, 9)])
def test_samplers_are_map_coordinates_bit_for_bit(
        compiled: bool, shape: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """The samplers of :mod:`bmes_imaging.detection._sampling`, compiled or numpy, give
    scipy's ``map_coordinates`` (linear constant and nearest mode, order 0) exactly."""
    from bmes_imaging.detection import _sampling

    monkeypatch.setattr(_kernels, "AVAILABLE", compiled)
    vol = _template(shape, 3)
    coords = _coords(shape, 20000, np.random.default_rng(4))
    for cval in (0.0, 0.45):
        want = ndimage.map_coordinates(vol, coords, order=1, mode="constant", cval=cval)
        got = _sampling.sample_linear(vol, coords, cval)
        assert got.dtype == np.float32
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    # nearest mode: scipy's, except at points on exact voxel halves on the border
    # (the numpy code differs from scipy there in the last bit: the compiled code
    # must give what the numpy code gives, which the alignment has always used)
    got = _sampling.sample_linear_nearest(vol, coords)
    halves = (coords[:, 1::9] % 1 == 0.5).any(axis=0)
    keep = np.ones(coords.shape[1], dtype=bool)
    keep[1::9][halves] = False
    want = ndimage.map_coordinates(vol, coords[:, keep], order=1, mode="nearest")
    assert np.array_equal(got[keep].view(np.uint32), want.view(np.uint32))
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    plain = _sampling.sample_linear_nearest(vol, coords)
    assert np.array_equal(got.view(np.uint32), plain.view(np.uint32))
    monkeypatch.setattr(_kernels, "AVAILABLE", compiled)
    labels = np.random.default_rng(5).integers(0, 15, shape).astype(np.uint8)
    for lab in (labels, vol):
        want = ndimage.map_coordinates(lab, coords, order=0, mode="constant", cval=0)
        got = _sampling.sample_nearest(lab, coords, 0)
        assert got.dtype == lab.dtype and np.array_equal(got, want)
        want = ndimage.map_coordinates(lab, coords, order=0, mode="nearest")
        assert np.array_equal(_sampling.sample_nearest(lab, coords, None), want)


def test_a_broken_numba_falls_back_to_the_numpy_code(tmp_path: Path) -> None:
    """A numba that is found but fails to import (e.g. built for another numpy): the
    kernels switch off and the numpy code gives the results."""
    fake = tmp_path / "numba"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('numba built for another numpy')\n")
    code = ("import numpy as np; from bmes_imaging.detection import _kernels, _sampling; "
            "v = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32); "
            "c = np.random.default_rng(1).uniform(-1, 6, (3, 500)); "
            "s = np.zeros(500, dtype=np.int64); "
            "a = _kernels.joint_histogram(v, c, 0.0, s, s + 31, 32); "
            "b = _kernels.joint_histogram_numpy(v, c, 0.0, s, s + 31, 32); "
            "n = _sampling.sample_nearest(v, c, 0); "
            "print(_kernels.AVAILABLE, np.array_equal(a, b), n.shape == (500,))")
    env = {k: v for k, v in os.environ.items() if k != "BMES_NO_NUMBA"}
    env["PYTHONPATH"] = str(tmp_path) + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert res.stdout.split() == ["False", "True", "True"]

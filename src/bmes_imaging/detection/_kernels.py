"""Compiled loops of the atlas registration's cost, bit for bit its numpy code.

The registration (:mod:`._matcher`) evaluates its NMI cost 7 000-20 000 times per study;
each evaluation samples the template at a few thousand points
(:func:`._sampling.sample_linear`) and adds them into a joint histogram, about 25
numpy calls on small arrays, most of the time spent in call overhead and in
temporaries. With `numba <https://numba.pydata.org>`_ installed, :func:`joint_histogram`
does both in two compiled loops (the sampler's, then the binning): the same
floating-point operations in the same order (no fast-math, no reassociation), so the
histogram, and every registration and mask that depends on it, is the same bit for
bit (test: ``tests/core/detection/test_kernels.py``). Without numba (or with
``BMES_NO_NUMBA=1``) the numpy code runs, with the same result.

The compiled code is cached on disk by numba (``cache=True``: beside this module, or in
numba's user cache folder when that is not writable); the first call of a process
without a cache compiles it (about a second), which the review's bone-mask process does
at start-up (:func:`warm_up`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["AVAILABLE", "disable", "joint_histogram", "joint_histogram_numpy",
           "numpy_sample_linear", "sample_linear", "sample_nearest", "warm_up"]


def _numba_found() -> bool:
    """numba installed (looked up, not imported) and not switched off."""
    if os.environ.get("BMES_NO_NUMBA", "").strip() not in ("", "0"):
        return False
    return importlib.util.find_spec("numba") is not None


#: True when the compiled kernels are used (numba is imported on their first use or by
#: :func:`warm_up`, never by importing this module: a GUI process that does not use
#: them, :func:`disable`, does not pay for numba's import).
AVAILABLE = _numba_found()
log = logging.getLogger(__name__)
_JITTED: dict[str, Any] = {}
_JIT_LOCK = threading.Lock()


def disable() -> None:
    """Use the numpy code in this process from now on (the same results; e.g. a GUI
    process that leaves the registration to a worker process and must not stall on
    numba's import or compilation)."""
    global AVAILABLE
    AVAILABLE = False


def _kernel(name: str) -> Any:
    """The compiled loop ``name`` (``"bin"``, ``"linear"``, ``"nearest"``), or None
    when numba cannot be used here (then :data:`AVAILABLE` turns False and the numpy
    code runs: the same results)."""
    kernel = _JITTED.get(name)
    if kernel is None:
        with _JIT_LOCK:
            if not _JITTED and AVAILABLE:
                _JITTED.update(_compile())
        kernel = _JITTED.get(name)
    return kernel


def _compile() -> dict[str, Any]:
    """numba's dispatchers of the three loops, cached on disk where numba can write
    (else compiled in memory); empty, and the kernels disabled, when numba fails."""
    try:
        import numba

        loops = {"bin": _bin_loop, "linear": _linear_loop, "nearest": _nearest_loop}
        try:
            jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
            return {k: jit(f) for k, f in loops.items()}
        except RuntimeError:  # no writable cache location: compile in memory
            jit = numba.njit(nogil=True, fastmath=False, error_model="numpy")
            return {k: jit(f) for k, f in loops.items()}
    except Exception:  # e.g. a numba that does not support this numpy
        log.warning("numba unusable here; the atlas registration runs its numpy code",
                    exc_info=True)
        disable()
        return {}


def _run(name: str, *args: Any) -> bool:
    """Run the compiled loop ``name`` on ``args``; False (the caller runs the numpy
    code) when it cannot be compiled here."""
    kernel = _kernel(name)
    if kernel is None:
        return False
    try:
        kernel(*args)
    except Exception:  # a compilation failure on the first call
        log.warning("numba could not compile %s; the numpy code runs", name,
                    exc_info=True)
        disable()
        return False
    return True


def numpy_sample_linear(volume: NDArray[np.float32], coords: NDArray[np.float64],
                        cval: float) -> NDArray[np.float32]:
    """Linear interpolation of a 3-D float32 ``volume`` at voxel ``coords`` (3, N).

    Bit for bit ``scipy.ndimage.map_coordinates(volume, coords, order=1,
    mode="constant", cval=cval)``: a point outside ``[0, n - 1]`` on any axis gets
    ``cval``; inside, the eight corner values times their weights (``1 - x`` and
    ``1 - (1 - x)``, multiplied axis by axis) are summed in scipy's order (last axis
    fastest) in float64 and rounded to float32. The volume must be C-contiguous and
    hold finite values.
    """
    shape = volume.shape
    upper = np.array(shape, dtype=np.float64)[:, None] - 1.0
    inside = ((coords >= 0.0) & (coords <= upper)).all(axis=0)
    n = coords.shape[1]
    fl = np.floor(coords)
    weights = np.empty((3, 2, n))  # per axis: the weights of the lower and upper voxel
    np.subtract(coords, fl, out=weights[:, 1])
    np.subtract(1.0, weights[:, 1], out=weights[:, 0])
    np.subtract(1.0, weights[:, 0], out=weights[:, 1])
    all_inside = bool(inside.all())
    if not all_inside:
        np.copyto(fl, 0.0, where=~inside)  # any valid corner: the value becomes cval
    strides = (float(shape[1] * shape[2]), float(shape[2]), 1.0)
    # flat index of the lower corner (integers well below 2**53: exact in float64)
    base = (np.array(strides) @ fl).astype(np.intp)
    if bool((fl == upper).any()):
        # on the last voxel of an axis the upper one does not exist; its weight is 0
        step = (fl < upper) * np.array(strides, dtype=np.intp)[:, None]
        offsets = np.stack([a * step[0] + b * step[1] + c * step[2]
                            for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    else:
        s0, s1 = int(strides[0]), int(strides[1])
        offsets = np.array([0, 1, s1, s1 + 1, s0, s0 + 1, s0 + s1, s0 + s1 + 1],
                           dtype=np.intp)[:, None]
    idx = base + offsets
    vals = volume.reshape(-1).take(idx).astype(np.float64).reshape(2, 2, 2, n)
    vals *= weights[0].reshape(2, 1, 1, n)
    vals *= weights[1].reshape(1, 2, 1, n)
    vals *= weights[2].reshape(1, 1, 2, n)
    # the corners summed one after the other (a reduction over the outer axis)
    out = np.add.reduce(vals.reshape(8, n), axis=0).astype(np.float32)
    if not all_inside:
        out[~inside] = cval
    return out


def joint_histogram_numpy(moving: NDArray[np.float32], coords: NDArray[np.float64],
                          cval: float, row_start: NDArray[np.int64],
                          row_end: NDArray[np.int64], bins: int) -> NDArray[np.float64]:
    """Joint histogram (``bins * bins`` cells, float64) of the fixed samples' rows
    (``row_start``, ``row_end``: first and last cell of each sample's row) and the
    template ``moving`` (0-1) linearly interpolated at voxel ``coords`` (3, N), linear
    (Parzen-like) binning on the template side: the numpy reference of
    :func:`joint_histogram`, the operations of :class:`._matcher.Matcher` before."""
    vals = numpy_sample_linear(moving, coords, cval)
    n = len(vals)
    pos = np.clip(vals * np.float32(bins - 1), 0, bins - 1)
    m0 = pos.astype(np.int64)
    cells = np.empty(2 * n, dtype=np.int64)
    np.add(row_start, m0, out=cells[:n])
    np.add(cells[:n], 1, out=cells[n:])
    np.minimum(cells[n:], row_end, out=cells[n:])
    weights = np.empty(2 * n)
    np.subtract(pos, m0, out=weights[n:], dtype=np.float64)
    np.subtract(1.0, weights[n:], out=weights[:n])
    return np.asarray(np.bincount(cells, weights=weights, minlength=bins * bins),
                      dtype=np.float64)


def _bin_loop(vals: NDArray[np.float32], row_start: NDArray[np.int64],
              row_end: NDArray[np.int64], bins: int, m0: NDArray[np.int64],
              high: NDArray[np.float64],
              joint: NDArray[np.float64]) -> None:  # pragma: no cover (compiled)
    """The binning half of :func:`joint_histogram_numpy` as loops (compiled by numba):
    ``vals`` are the template's samples (:func:`_linear_loop`'s output), ``m0`` and
    ``high`` scratch arrays of N; ``joint`` (zeros) receives the histogram."""
    scale = np.float32(bins - 1)
    top = np.float32(bins - 1)
    zero = np.float32(0.0)
    n = vals.shape[0]
    for i in range(n):
        p = vals[i] * scale
        # np.clip(p, 0, bins - 1) as numpy computes it: max(p, 0) then min(., top),
        # each "a > b ? a : b" (so -0.0 becomes +0.0 as there)
        p = p if p > zero else zero
        p = p if p < top else top
        m = np.int64(p)
        m0[i] = m
        high[i] = np.float64(p) - np.float64(m)
    # np.bincount adds its inputs in order: every sample's lower cell, then every upper
    for i in range(n):
        joint[row_start[i] + m0[i]] += 1.0 - high[i]
    for i in range(n):
        c = row_start[i] + m0[i] + 1
        if c > row_end[i]:
            c = row_end[i]
        joint[c] += high[i]


def _linear_loop(volume: NDArray[np.float32], coords: NDArray[np.float64], clip: bool,
                 out: NDArray[np.float32]) -> None:  # pragma: no cover (compiled)
    """:func:`._sampling.sample_linear` (``clip``: :func:`._sampling.sample_linear_nearest`)
    as a loop: ``out`` (filled with the outside value) receives the points inside."""
    n0, n1, n2 = volume.shape
    flat = volume.reshape(-1)
    s0 = n1 * n2
    s1 = n2
    u0 = np.float64(n0) - 1.0
    u1 = np.float64(n1) - 1.0
    u2 = np.float64(n2) - 1.0
    for i in range(coords.shape[1]):
        x = coords[0, i]
        y = coords[1, i]
        z = coords[2, i]
        if clip:  # np.clip(coords, 0, n - 1): "a > b ? a : b", then "a < b ? a : b"
            x = x if x > 0.0 else 0.0
            x = x if x < u0 else u0
            y = y if y > 0.0 else 0.0
            y = y if y < u1 else u1
            z = z if z > 0.0 else 0.0
            z = z if z < u2 else u2
        if not (0.0 <= x <= u0 and 0.0 <= y <= u1 and 0.0 <= z <= u2):
            continue
        fx = np.floor(x)
        fy = np.floor(y)
        fz = np.floor(z)
        # numpy_sample_linear's weights: 1 - w and 1 - (1 - w)
        bx = x - fx
        ax = 1.0 - bx
        bx = 1.0 - ax
        by = y - fy
        ay = 1.0 - by
        by = 1.0 - ay
        bz = z - fz
        az = 1.0 - bz
        bz = 1.0 - az
        base = int(fx) * s0 + int(fy) * s1 + int(fz)
        d0 = s0 if fx < u0 else 0
        d1 = s1 if fy < u1 else 0
        d2 = 1 if fz < u2 else 0
        # the eight corners, last axis fastest, each (v * wx) * wy * wz, summed
        # one after the other from the first
        acc = np.float64(flat[base]) * ax * ay * az
        acc = acc + np.float64(flat[base + d2]) * ax * ay * bz
        acc = acc + np.float64(flat[base + d1]) * ax * by * az
        acc = acc + np.float64(flat[base + d1 + d2]) * ax * by * bz
        acc = acc + np.float64(flat[base + d0]) * bx * ay * az
        acc = acc + np.float64(flat[base + d0 + d2]) * bx * ay * bz
        acc = acc + np.float64(flat[base + d0 + d1]) * bx * by * az
        acc = acc + np.float64(flat[base + d0 + d1 + d2]) * bx * by * bz
        out[i] = np.float32(acc)


def _nearest_loop(volume: NDArray[Any], coords: NDArray[np.float64], clip: bool,
                  out: NDArray[Any]) -> None:  # pragma: no cover (compiled)
    """:func:`._sampling.sample_nearest` as a loop (``clip``: nearest mode): ``out``
    (filled with the outside value) receives the points inside."""
    n0, n1, n2 = volume.shape
    flat = volume.reshape(-1)
    s0 = n1 * n2
    s1 = n2
    u0 = np.float64(n0) - 1.0
    u1 = np.float64(n1) - 1.0
    u2 = np.float64(n2) - 1.0
    for i in range(coords.shape[1]):
        x = coords[0, i]
        y = coords[1, i]
        z = coords[2, i]
        if clip:
            x = x if x > 0.0 else 0.0
            x = x if x < u0 else u0
            y = y if y > 0.0 else 0.0
            y = y if y < u1 else u1
            z = z if z > 0.0 else 0.0
            z = z if z < u2 else u2
        if not (0.0 <= x <= u0 and 0.0 <= y <= u1 and 0.0 <= z <= u2):
            continue
        out[i] = flat[int(np.floor(x + 0.5)) * s0 + int(np.floor(y + 0.5)) * s1
                      + int(np.floor(z + 0.5))]


def sample_linear(volume: NDArray[np.float32], coords: NDArray[np.float64], cval: float,
                  clip: bool = False) -> NDArray[np.float32] | None:
    """Compiled :func:`._sampling.sample_linear` (``clip``: ``sample_linear_nearest``),
    bit for bit, or None when it cannot be compiled here (run the numpy code). Releases
    the GIL while it runs."""
    out = np.full(coords.shape[1], cval, dtype=np.float32)
    if not _run("linear", np.ascontiguousarray(volume, dtype=np.float32),
                np.ascontiguousarray(coords, dtype=np.float64), clip, out):
        return None
    return out


def sample_nearest(volume: NDArray[Any], coords: NDArray[np.float64],
                   cval: float | None) -> NDArray[Any] | None:
    """Compiled :func:`._sampling.sample_nearest`, bit for bit, or None when it cannot
    be compiled here (run the numpy code). Releases the GIL while it runs."""
    volume = np.ascontiguousarray(volume)
    out = np.full(coords.shape[1], 0 if cval is None else cval, dtype=volume.dtype)
    if not _run("nearest", volume, np.ascontiguousarray(coords, dtype=np.float64),
                cval is None, out):
        return None
    return out


def joint_histogram(moving: NDArray[np.float32], coords: NDArray[np.float64],
                    cval: float, row_start: NDArray[np.int64],
                    row_end: NDArray[np.int64], bins: int) -> NDArray[np.float64]:
    """:func:`joint_histogram_numpy`, compiled when numba is available (the same
    numbers bit for bit). ``moving`` must be C-contiguous float32 with finite values,
    ``coords`` float64 (3, N)."""
    n = coords.shape[1]
    joint = np.zeros(bins * bins)
    # the template's samples (the compiled sampler), then their binning: two loops,
    # each the numpy code's operations in its order
    vals = np.full(n, cval, dtype=np.float32)
    if (AVAILABLE and _run("linear", moving, coords, False, vals)
            and _run("bin", vals, row_start, row_end, bins, np.empty(n, dtype=np.int64),
                     np.empty(n), joint)):
        return joint
    return joint_histogram_numpy(moving, coords, cval, row_start, row_end, bins)


def warm_up() -> None:
    """Compile (or load from numba's disk cache) the kernel now, e.g. in a worker
    process at start-up, so that the first registration does not wait for it."""
    if not AVAILABLE:
        return
    moving = np.zeros((2, 2, 2), dtype=np.float32)
    coords = np.zeros((3, 1))
    start = np.zeros(1, dtype=np.int64)
    joint_histogram(moving, coords, 0.0, start, start + 1, 2)
    for clip in (False, True):
        sample_linear(moving, coords, 0.0, clip)
    for dtype in (np.uint8, np.float32):  # label atlases, templates
        sample_nearest(moving.astype(dtype), coords, 0)

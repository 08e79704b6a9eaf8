"""Load a DICOM series (folder, file, file list or indexed stack) as a :class:`Volume`.

The core is :func:`read_stack`: read every file's frames (in threads: native pixels
are read straight into the output array, compressed ones decoded on all cores), check
that they form one regular stack, sort them by position along the slice normal (never
by file name or InstanceNumber), apply each slice's rescale slope / intercept, and
build the RAS+ affine (volumes are indexed ``(column, row, slice)``, see
:mod:`bmes_imaging.geometry`). :func:`load_series` accepts the user's kinds of source and
goes through the folder index so a folder holding several stacks is refused.

Examples
--------
>>> import tempfile, numpy as np
>>> from bmes_imaging import Volume
>>> from bmes_imaging.dicom import write_series
>>> from bmes_imaging.dicom._load import read_stack
>>> vol = Volume(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.diag([0.5, 0.5, 2, 1]))
>>> with tempfile.TemporaryDirectory() as d:
...     loaded = read_stack(write_series(vol, d, patient_id="1", dtype="int16",
...                                      shuffle_seed=0))
>>> bool(np.array_equal(loaded.array, vol.array)), np.allclose(loaded.affine, vol.affine)
(True, True)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import BmesError, DicomFileError, DicomSeriesError, GeometryError
from ..geometry import affine_from_dicom, slice_normal
from ..volume import Volume
from ._frames import Frame, decoded_frames, native_frame
from ._info import series_info
from ._limits import max_series_bytes
from ._mosaic import expand_mosaics
from ._quiet import printable, quiet_pydicom
from ._scaling import apply_scaling, mask_stored_bits
from ._volumes import duplicate_advice

__all__ = ["load_series", "read_stack"]

log = logging.getLogger(__name__)

#: Largest difference between two slices' ImageOrientationPatient cosines that still
#: counts as the same orientation.
ORIENTATION_TOLERANCE = 1e-4
#: Positions closer than this (mm) along the normal are duplicates whatever the spacing.
DUPLICATE_MM = 1e-3
_MAX_LISTED = 8


def _workers(n_jobs: int, workers: int | None) -> int:
    if workers is not None:
        return max(1, int(workers))
    return max(1, min(n_jobs, os.cpu_count() or 1, 4))


def _names(frames: Sequence[Frame], limit: int = _MAX_LISTED) -> str:
    shown = ", ".join(str(f.path) if not f.frame_number else f"{f.path} (frame "
                      f"{f.frame_number})" for f in frames[:limit])
    more = len(frames) - limit
    return shown + (f" and {more} more" if more > 0 else "")


# ---------------------------------------------------------------------------- reading

def _read_all(paths: Sequence[Path], decoding_plugin: str | None,
              workers: int | None) -> list[Frame]:
    """Frames of every file, in input order; DicomFileError for the first bad file.

    Native files are walked in this thread (a pure-Python header walk: threads would
    only contend for the GIL); the others are read and decoded in a thread pool. JPEG
    2000 frames are decoded by GDCM on several OpenJPEG threads (:mod:`._j2k`), so a
    JPEG 2000 series uses every core; the other pydicom plugins hold the GIL (except
    the RLE one), so for them the pool mostly overlaps file I/O.
    """
    results: list[list[Frame] | DicomFileError | None] = []
    for path in paths:
        try:
            frame = native_frame(path)
        except DicomFileError as exc:
            results.append(exc)
            continue
        results.append([frame] if frame is not None else None)

    def decode(path: Path) -> list[Frame] | DicomFileError:
        try:
            return decoded_frames(path, decoding_plugin, workers)
        except DicomFileError as exc:
            return exc

    todo = [i for i, r in enumerate(results) if r is None]
    n = _workers(len(todo), workers)
    if n == 1 or len(todo) <= 1:
        for i in todo:
            results[i] = decode(paths[i])
    else:
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="bmes-decode") as pool:
            for i, r in zip(todo, pool.map(decode, [paths[i] for i in todo]), strict=True):
                results[i] = r
    bad = [r for r in results if isinstance(r, DicomFileError)]
    if bad:
        first = bad[0]
        reason = first.reason
        if len(bad) > 1:
            others = ", ".join(str(b.path) for b in bad[1:1 + _MAX_LISTED])
            extra = len(bad) - 1 - _MAX_LISTED
            reason += (f" ({len(bad) - 1} more unreadable file(s): {others}"
                       + (f" and {extra} more" if extra > 0 else "") + ")")
        raise DicomFileError(first.path, reason)
    return [f for r in results if isinstance(r, list) for f in r]


# --------------------------------------------------------------------- arrangement

def _chosen_frames(frames: list[Frame], wanted: tuple[int, ...]) -> list[Frame]:
    """The frames of a multi-frame file that the chosen stack names (``frame_numbers``)."""
    files = {f.path for f in frames}
    if len(files) != 1 or not all(f.frame_number for f in frames):
        raise DicomSeriesError(
            f"the stack names frames {wanted[:8]} of a multi-frame file, but was given "
            f"{len(files)} file(s) ({_names(frames, 3)}); pass the stack itself "
            "(load_series(stack)) with its one file")
    chosen = set(wanted)
    picked = [f for f in frames if f.frame_number in chosen]
    if len(picked) != len(chosen):
        found = {f.frame_number for f in picked}
        missing = sorted(chosen - found)
        raise DicomSeriesError(
            f"{frames[0].path} has {len(frames)} frames; the stack names frame(s) "
            f"{missing[:8]} it does not hold (index the file again)")
    return picked


def _one_stack_per_file(frames: list[Frame]) -> list[Frame]:
    """``frames`` unchanged, or DicomSeriesError if a multi-frame file holds several
    stacks (multi-echo, Dixon, magnitude / phase, several StackIDs or orientations) and
    none was chosen. Grouped as the index groups them (:func:`._stacks.group_frames`).
    """
    from ._stacks import describe_frame_group, differing_fields, group_frames

    by_file: dict[Path, list[Frame]] = {}
    for f in frames:
        if f.frame_number and f.key is not None:
            by_file.setdefault(f.path, []).append(f)
    for path, own in by_file.items():
        groups = group_frames(
            [f.key for f in own if f.key is not None],
            [None if f.orientation is None else tuple(float(v) for v in f.orientation)
             for f in own])
        if len(groups) < 2:
            continue
        fields = differing_fields(groups)
        listed = "; ".join(
            f"{describe_frame_group(g.key, fields) or _orientation_text(g.orientation)}: "
            f"{len(g.frame_numbers)} frames "
            f"({_frame_range([own[n - 1].frame_number for n in g.frame_numbers])})"
            for g in groups[:_MAX_LISTED])
        more = f"; and {len(groups) - _MAX_LISTED} more" if len(groups) > _MAX_LISTED else ""
        raise DicomSeriesError(
            f"multi-frame file {path} holds {len(groups)} image stacks, expected one: "
            f"{listed}{more}. Choose one: index_files([file]).stacks lists them "
            "(frame_numbers, split_reason); load_series(stack) loads one")
    return frames


def _orientation_text(iop: Sequence[float] | None) -> str:
    return "orientation " + ("\\".join(f"{v:.3g}" for v in iop) if iop else "unknown")


def _frame_range(numbers: Sequence[int]) -> str:
    """``"frames 1-5"`` for consecutive numbers, else the first few listed."""
    if list(numbers) == list(range(numbers[0], numbers[0] + len(numbers))):
        return f"frames {numbers[0]}-{numbers[-1]}" if len(numbers) > 1 \
            else f"frame {numbers[0]}"
    shown = ", ".join(str(n) for n in numbers[:6])
    return f"frames {shown}" + (", ..." if len(numbers) > 6 else "")


def _check_consistent(frames: Sequence[Frame]) -> None:
    """Same size, orientation and pixel spacing, one series; geometry present."""
    for f in frames:
        missing = [kw for kw, v in (("ImagePositionPatient", f.position),
                                    ("ImageOrientationPatient", f.orientation),
                                    ("PixelSpacing", f.pixel_spacing)) if v is None]
        if missing:
            where = f"frame {f.frame_number}: " if f.frame_number else ""
            raise DicomFileError(f.path, f"{where}{' and '.join(missing)} missing; the "
                                 "image cannot be placed in patient space")
    groups: dict[tuple[int, int], list[Frame]] = {}
    for f in frames:
        groups.setdefault((f.rows, f.columns), []).append(f)
    if len(groups) > 1:
        parts = "; ".join(f"{c}x{r} pixels: {len(g)} image(s), e.g. {_names(g, 3)}"
                          for (r, c), g in groups.items())
        raise DicomSeriesError(f"images of different sizes cannot form one volume ({parts});"
                               " load each size as its own stack (see `bmes index`)")
    ref = frames[0]
    assert ref.orientation is not None and ref.pixel_spacing is not None
    odd_iop = [f for f in frames
               if np.max(np.abs(f.orientation - ref.orientation)) > ORIENTATION_TOLERANCE]  # type: ignore[operator]
    if odd_iop:
        raise DicomSeriesError(
            f"images have different orientations: {_names([ref], 1)} has "
            f"ImageOrientationPatient {np.round(ref.orientation, 5).tolist()}, while "
            f"{_names(odd_iop)} differ; load each orientation as its own stack "
            "(see `bmes index`)")
    ps0 = np.asarray(ref.pixel_spacing)
    odd_ps = [f for f in frames
              if np.max(np.abs(np.asarray(f.pixel_spacing) - ps0) / ps0) > 1e-4]
    if odd_ps:
        raise DicomSeriesError(
            f"images have different PixelSpacing: {_names([ref], 1)} has "
            f"{ps0.tolist()}, while {_names(odd_ps)} differ")
    uids = {f.series_instance_uid for f in frames if f.series_instance_uid}
    if len(uids) > 1:
        raise DicomSeriesError(
            f"files from {len(uids)} different series were given as one stack "
            f"(e.g. {_names(frames, 4)}); load each series separately (see `bmes index`)")


def _arrange(frames: list[Frame], tolerance: float) -> tuple[list[Frame], NDArray[np.float64]]:
    """Sort frames along the slice normal; check spacing; return (frames, LPS step)."""
    ref = frames[0]
    assert ref.orientation is not None
    normal = slice_normal(ref.orientation.tolist())
    order = sorted(range(len(frames)),
                   key=lambda i: (float(np.dot(frames[i].position, normal)),  # type: ignore[arg-type]
                                  str(frames[i].path), frames[i].frame_number))
    ordered = [frames[i] for i in order]
    positions = np.array([f.position for f in ordered], dtype=np.float64)
    if len(ordered) == 1:
        thick = ref.extra.get("slice_thickness")
        try:
            size = float(thick) if thick not in (None, "") else 1.0
        except (TypeError, ValueError):
            size = 1.0
        return ordered, normal * (size if size > 0 else 1.0)
    dist = positions @ normal
    gaps = np.diff(dist)
    real = gaps[gaps > DUPLICATE_MM]
    typical = float(np.median(real)) if real.size else 0.0
    dup_limit = max(DUPLICATE_MM, tolerance * typical)
    dups = [(ordered[i], ordered[i + 1], dist[i]) for i in np.flatnonzero(gaps <= dup_limit)]
    if dups:
        listed = "; ".join(f"{_names([a], 1)} and {_names([b], 1)} at {d:.3f} mm"
                           for a, b, d in dups[:_MAX_LISTED])
        more = f" and {len(dups) - _MAX_LISTED} more" if len(dups) > _MAX_LISTED else ""
        raise DicomSeriesError(
            f"{len(dups)} duplicate slice position(s) along the slice normal: {listed}{more}."
            + duplicate_advice(dist))
    problems: list[str] = []
    for i in np.flatnonzero(np.abs(gaps - typical) > tolerance * typical):
        a, b, gap = ordered[i], ordered[i + 1], float(gaps[i])
        ratio = gap / typical
        m = round(ratio)
        if m >= 2 and abs(ratio - m) <= tolerance * m:
            problems.append(f"{m - 1} slice(s) missing between {_names([a], 1)} "
                            f"({dist[i]:.3f} mm) and {_names([b], 1)} ({dist[i + 1]:.3f} mm)")
        else:
            problems.append(f"spacing {gap:.4g} mm between {_names([a], 1)} and "
                            f"{_names([b], 1)} (usual {typical:.4g} mm)")
    if problems:
        more = f"; and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise DicomSeriesError(
            "slices are not evenly spaced (tolerance "
            f"{tolerance:.2%} of {typical:.4g} mm): " + "; ".join(problems[:_MAX_LISTED])
            + more + ". Check for missing files; if the spacing is meant to vary, "
            "raise spacing_tolerance (e.g. load_series(..., spacing_tolerance=0.1))")
    n = len(ordered)
    step = (positions[-1] - positions[0]) / (n - 1)
    fitted = positions[0] + np.arange(n)[:, None] * step[None, :]
    off = np.linalg.norm(positions - fitted, axis=1)
    limit = max(DUPLICATE_MM, tolerance * float(np.linalg.norm(step)))
    if off.max() > limit:
        worst = int(np.argmax(off))
        raise DicomSeriesError(
            f"slice positions do not lie on one line: {_names([ordered[worst]], 1)} is "
            f"{off[worst]:.3f} mm off the line through the first and last slices "
            f"({_names([ordered[0]], 1)}, {_names([ordered[-1]], 1)}); the stack may "
            "mix acquisitions or have a varying gantry tilt")
    return ordered, step


# ------------------------------------------------------------------------- pixels

def _inverted(src: NDArray[Any], bits_stored: int,
              float_range: tuple[float, float] | None) -> NDArray[Any]:
    """MONOCHROME1 stored values turned to the MONOCHROME2 convention.

    Integers are reflected within the range their BitsStored and sign allow,
    ``(min + max) - value``: unsigned ``(2**BitsStored - 1) - value``, signed
    ``-1 - value``. The result keeps the stored type and range, and since the modality
    rescale is linear, rescaling it equals ``(rescaled min + rescaled max) -
    rescaled value``: the inversion after the rescale, over the rescaled range.
    Floating-point pixel data has no stored range: it is reflected within
    ``float_range``, the smallest and largest value of the stack's MONOCHROME1 frames.
    """
    if src.dtype.kind in "iu":
        src = mask_stored_bits(src, bits_stored)
        if src.dtype.kind == "i":
            return np.invert(src)  # -1 - v: min + max of a two's complement range is -1
        top = (1 << min(bits_stored, src.dtype.itemsize * 8)) - 1
        return np.array(top, dtype=src.dtype) - src
    assert float_range is not None
    lo, hi = float_range
    return (lo + hi) - src


def _fill(frames: Sequence[Frame]) -> NDArray[Any]:
    """Stack the frames' pixels as a ``(slice, row, column)`` array, rescaled.

    MONOCHROME1 frames (minimum value shown white) are inverted to the MONOCHROME2
    convention (:func:`_inverted`), so every stack loads with bright = high signal.
    """
    rows, cols = frames[0].rows, frames[0].columns
    identity = all(f.slope == 1.0 and f.intercept == 0.0 for f in frames)
    if identity:
        out_dtype = np.result_type(*{f.stored_dtype for f in frames})
    else:
        out_dtype = np.dtype(np.float32)
    size, limit = len(frames) * rows * cols * out_dtype.itemsize, max_series_bytes()
    if size > limit:
        raise DicomSeriesError(
            f"the stack of {len(frames)} images of {cols}x{rows} pixels ({_names(frames, 2)})"
            f" needs {size >> 20} MiB, beyond the limit of {limit >> 20} MiB per series "
            "(raise BMES_MAX_SERIES_BYTES if the series is real)")
    out = np.empty((len(frames), rows, cols), dtype=out_dtype)
    float_m1 = [f.pixels for f in frames if f.monochrome1 and f.pixels is not None
                and f.pixels.dtype.kind == "f"]
    float_range = ((float(min(np.nanmin(p) for p in float_m1)),
                    float(max(np.nanmax(p) for p in float_m1))) if float_m1 else None)

    def one(k: int) -> None:
        f = frames[k]
        if f.pixels is not None:
            src = f.pixels
        else:
            assert f.pixel_offset is not None
            nbytes = rows * cols * f.stored_dtype.itemsize
            direct = (identity and f.stored_dtype == out_dtype and not f.monochrome1
                      and f.bits_stored >= f.stored_dtype.itemsize * 8)
            try:
                with open(f.path, "rb") as fh:
                    fh.seek(f.pixel_offset)
                    if direct:
                        got = fh.readinto(memoryview(out[k]).cast("B"))
                        if got != nbytes:
                            raise DicomFileError(f.path, f"pixel data truncated: {got} of "
                                                 f"{nbytes} bytes")
                        return
                    buf = fh.read(nbytes)
            except OSError as exc:
                raise DicomFileError(f.path, f"cannot read pixel data ({exc})") from None
            if len(buf) != nbytes:
                raise DicomFileError(f.path, f"pixel data truncated: {len(buf)} of "
                                     f"{nbytes} bytes")
            src = mask_stored_bits(np.frombuffer(buf, dtype=f.stored_dtype).reshape(rows, cols),
                        f.bits_stored)
        if f.monochrome1:
            src = _inverted(src, f.bits_stored, float_range)
        if identity:
            out[k] = src
        else:
            np.multiply(src, f.slope, out=out[k], casting="unsafe")
            out[k] += np.float32(f.intercept)

    # Sequential: reads from the page cache are memory-bound; two threads measured no
    # faster here (300 slices: 0.140 s vs 0.145 s).
    for k in range(len(frames)):
        one(k)
    return out


# ---------------------------------------------------------------------------- public

def read_stack(
    files: Iterable[str | os.PathLike[str]],
    *,
    spacing_tolerance: float = 0.01,
    decoding_plugin: str | None = None,
    stack: Any | None = None,
    workers: int | None = None,
    scaling: str = "rescale",
) -> Volume:
    """Read files that form one image stack into a :class:`Volume`.

    Parameters
    ----------
    files
        Single-frame files of one stack, or one multi-frame file (any order).
        A multi-frame file holding several stacks (multi-echo, Dixon water / fat,
        magnitude / phase, several StackIDs or orientations) needs ``stack``: one of
        the stacks the index lists for it.
    spacing_tolerance
        Largest relative deviation of a slice gap from the typical gap (default 1 %).
    decoding_plugin
        pydicom decoding plugin for compressed data; ``None`` chooses per transfer syntax.
    stack
        The index's ``SeriesStack`` for these files, if any (its sequence and
        laterality fill :class:`SeriesInfo`; its ``frame_numbers``, when set, choose
        the frames of a multi-frame file that form the stack).
    workers
        Threads for reading and decoding (default: up to the number of cores, max 4).
    scaling
        Pixel value scale: ``"rescale"`` (default), ``"real_world"`` or
        ``"philips_precise"`` (see :func:`load_series` and :mod:`._scaling`).

    Returns
    -------
    Volume
        Indexed ``(column, row, slice)``, slices in increasing position along the
        normal; integer stored type when no rescale applies, else float32.

    Raises
    ------
    DicomFileError
        A file cannot be read, decoded or placed (names the file).
    DicomSeriesError
        The files do not form one regular stack: different sizes, orientations or
        series, duplicate positions, missing slices or uneven spacing; or a
        multi-frame file holds several stacks and ``stack`` chooses none (the message
        lists them).
    """
    if not (spacing_tolerance >= 0 and np.isfinite(spacing_tolerance)):
        raise ValueError(f"spacing_tolerance must be a non-negative fraction, found "
                         f"{spacing_tolerance!r}")
    paths = [Path(f) for f in files]
    if not paths:
        raise DicomSeriesError("no files given: a series needs at least one image file")
    # pydicom reports oddities of the files (invalid values, VR mismatches) as warnings
    # and log records quoting the raw values; they are the files' problems, not the
    # caller's: quiet_pydicom ignores the warnings and re-logs the records without
    # values at DEBUG (no catch_warnings: process-wide, not thread-safe).
    quiet_pydicom()
    return _read_stack(paths, spacing_tolerance, decoding_plugin, stack, workers,
                       scaling)


def _read_stack(paths: list[Path], spacing_tolerance: float, decoding_plugin: str | None,
                stack: Any | None, workers: int | None,
                scaling: str = "rescale") -> Volume:
    frames = _read_all(paths, decoding_plugin, workers)
    if not frames:
        raise DicomSeriesError(f"no image frames in {paths[0]} and the other given files")
    wanted = tuple(getattr(stack, "frame_numbers", None) or ())
    frames = _chosen_frames(frames, wanted) if wanted else _one_stack_per_file(frames)
    frames = expand_mosaics(frames, stack)  # Siemens mosaics: one frame per tile
    value_scaling = apply_scaling(frames, scaling)  # vendor value maps (_scaling)
    _check_consistent(frames)
    ordered, step = _arrange(frames, spacing_tolerance)
    first = ordered[0]
    assert first.position is not None and first.orientation is not None
    assert first.pixel_spacing is not None
    try:
        affine = affine_from_dicom(first.position.tolist(), first.orientation.tolist(),
                                   first.pixel_spacing, step.tolist())
    except GeometryError as exc:
        raise DicomSeriesError(f"{first.path}: geometry of the stack is invalid: {exc}") \
            from None
    data = _fill(ordered)
    info = series_info(ordered, step, stack)
    info.extra["value_scaling"] = {**info.extra.get("value_scaling", {}),
                                   **value_scaling}
    log.debug("read %d image(s) of %dx%d from %d file(s), transfer syntaxes %s",
              len(ordered), first.columns, first.rows, len(paths),
              ",".join(info.extra.get("transfer_syntaxes", ())))
    return Volume(data.transpose(2, 1, 0), affine, info)


def _refuse_several(where: str, stacks: Sequence[Any], how: str = "") -> None:
    def describe(s: Any) -> str:
        desc = printable(getattr(s, "series_description", None) or "no description")
        what = ", ".join(str(v) for v in (getattr(s, "sequence", None),
                                         getattr(s, "plane", None)) if v)
        if getattr(s, "frame_numbers", None):
            count = f"{len(s.frame_numbers)} frames of {s.files[0].name}"
            reason = getattr(s, "split_reason", "")
            count += f", {reason}" if reason else ""
        else:
            count = f"{len(s.files)} files"
        return (f"series {getattr(s, 'series_number', None)} '{desc}' "
                f"({what + ', ' if what else ''}{count}; stack {s.stack_id})")

    listed = "; ".join(describe(s) for s in stacks[:20])
    raise DicomSeriesError(
        f"{where} holds {len(stacks)} image stacks, expected one: {listed}. "
        + (how or "Pass one stack (from bmes_imaging.index_folder) or its files instead"))


def _single_stack(where: str, index: Any) -> Any:
    stacks = list(index.stacks)
    if len(stacks) == 1:
        return stacks[0]
    if not stacks:
        rejected = list(getattr(index, "rejected", []))
        # the damaged files first; the files refused with their series are counted
        own = [r for r in rejected if not str(r.reason).startswith("series ")]
        along = len(rejected) - len(own)
        reasons = "; ".join(f"{printable(r.path.name)}: {r.reason}"
                            for r in (own or rejected)[:_MAX_LISTED])
        if own and along:
            why = next(str(r.reason) for r in rejected if str(r.reason).startswith("series "))
            reasons += f"; and {along} file(s) of the same series: {why.split(': ', 1)[0]}"
        raise DicomSeriesError(f"{where} holds no loadable image stack"
                               + (f" ({len(rejected)} file(s) not used: {reasons})"
                                  if rejected else " (no DICOM files found)"))
    _refuse_several(where, stacks)
    return None  # not reached


def load_series(
    source: Any,
    *,
    spacing_tolerance: float = 0.01,
    decoding_plugin: str | None = None,
    scaling: str = "rescale",
) -> Volume:
    """Load one DICOM series as a :class:`~bmes_imaging.volume.Volume`.

    Parameters
    ----------
    source
        A folder holding one stack, one file (single- or multi-frame), a list of files,
        or a ``SeriesStack`` from :func:`~bmes_imaging.dicom.index_folder`. A
        multi-frame file holding several stacks (multi-echo, Dixon water / fat...)
        is loaded by passing one of its stacks (``index_files([file]).stacks``).
    spacing_tolerance
        Largest relative deviation of a slice gap from the typical gap before the
        series is refused as unevenly spaced or missing slices (default 0.01 = 1 %).
    decoding_plugin
        pydicom decoding plugin for compressed pixel data (``"pylibjpeg"``,
        ``"pyjpegls"``, ``"pillow"``, ``"gdcm"``); ``None`` (default) uses pylibjpeg and
        decodes JPEG 2000 with GDCM's codec on all cores. Naming ``"gdcm"`` also uses
        pydicom's GDCM plugin for the other syntaxes: faster, but a corrupt file can
        abort the process (a C++ exception python-gdcm does not catch).
    scaling
        Pixel value scale (docs/dicom_index.md, "Pixel values"): ``"rescale"``
        (default: RescaleSlope / RescaleIntercept, as before), ``"real_world"`` (the
        vendor's RealWorldValueMapping where the files hold a linear one, e.g. Hz for a
        Philips field map) or ``"philips_precise"`` (Philips floating-point value, as
        dcm2niix writes it). ``SeriesInfo.extra["value_scaling"]`` states the scale
        applied and the ones the files offer.

    Returns
    -------
    Volume
        Voxels indexed ``(column, row, slice)``, RAS+ affine, :class:`SeriesInfo`.

    Raises
    ------
    DicomFileError
        A file is missing, not DICOM, truncated, undecodable or lacks geometry.
    DicomSeriesError
        The source holds no stack or several (a folder, a list of files, or one
        multi-frame file with several stacks: the message lists them and their stack
        ids), or the stack is irregular (duplicate positions, missing slices, uneven
        spacing, mixed sizes or orientations).

    Examples
    --------
    >>> from bmes_imaging import load_series            # doctest: +SKIP
    >>> vol = load_series("study/dicom/series_3")       # doctest: +SKIP
    >>> vol.to_nifti("t1.nii.gz")                       # doctest: +SKIP
    """
    from ._index import SeriesStack, index_files, index_folder

    opts: dict[str, Any] = {"spacing_tolerance": spacing_tolerance,
                            "decoding_plugin": decoding_plugin, "scaling": scaling}
    if isinstance(source, SeriesStack) or (hasattr(source, "files")
                                           and hasattr(source, "stack_id")):
        return read_stack(source.files, stack=source, **opts)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            stack = _single_stack(f"folder {path}", index_folder(path))
            return read_stack(stack.files, stack=stack, **opts)
        if not path.exists():
            raise DicomFileError(path, "no such file or folder")
        index = _index_quietly([path])
        if index is not None and len(index.stacks) > 1:
            _refuse_several(f"file {path}", index.stacks,
                            "Choose one: load_series(index_files([file]).stacks[i])")
        vol = read_stack([path], **opts)
        return _with_classification(vol, index)
    if isinstance(source, Iterable):
        paths = [Path(p) for p in source]
        if not paths:
            raise DicomSeriesError("an empty list of files was given")
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DicomFileError(missing[0], "no such file"
                                 + (f" ({len(missing) - 1} more missing)"
                                    if len(missing) > 1 else ""))
        stack = _single_stack(f"the {len(paths)} given files", index_files(paths))
        return read_stack(stack.files, stack=stack, **opts)
    raise TypeError(f"load_series needs a folder, a file, a list of files or a "
                    f"SeriesStack, not {type(source).__name__}")


def _index_quietly(paths: list[Path]) -> Any | None:
    """The index of ``paths``, or None if it cannot be built (the loader then decides)."""
    from ._index import index_files

    try:
        return index_files(paths)
    except (BmesError, NotImplementedError):
        return None


def _with_classification(vol: Volume, index: Any | None) -> Volume:
    """Fill sequence / laterality from the index's classification of the loaded file."""
    if index is None or len(index.stacks) != 1:
        return vol
    stack = index.stacks[0]
    changes: dict[str, Any] = {}
    if getattr(stack, "sequence", None):
        changes["sequence"] = stack.sequence
    if vol.info.laterality is None and getattr(stack, "laterality", None):
        changes["laterality"] = stack.laterality
    return Volume(vol.array, vol.affine, vol.info.replace(**changes)) if changes else vol

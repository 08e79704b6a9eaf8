"""4-D series at index time: one stack per volume, or refused with the reason.

A series that repeats its slice positions is not one 3-D image: fMRI / ASL time
points, diffusion directions and b-values, repetitions. dcm2niix writes it as a 4-D
NIfTI; here it becomes one stack per volume, so every stack the index lists can be
loaded as it is, and the reason is kept in ``split_reason``:

* Siemens mosaics (:mod:`._mosaic`): each mosaic file is one volume; its tiles' slice
  positions come from the CSA header (tile count, slice normal). A mosaic whose CSA
  header cannot be read is refused (every file listed with the reason).
* single-frame series, or frames of one multi-frame file, whose positions repeat the
  same number of times ``m``: ``m`` volumes, volume ``j`` taking the ``j``-th image at
  each position (InstanceNumber order, frame order in a multi-frame file). Echoes,
  inversion times and magnitude / phase were already separated by the index
  (:func:`._stacks.stack_key`, :func:`._stacks.frame_groups`).
* positions repeated unevenly: refused at index time (the files are listed as not
  used, with the reason), never left for the loader to fail on.

:func:`load_problem` tells, from the header alone, whether a stack would be refused by
the loader (positions missing, slices unevenly spaced); pairing skips such stacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from ._framegroups import _finite
from ._header import HeaderRecord
from ._mosaic import (
    MosaicGeometry,
    is_mosaic,
    mosaic_b_value,
    mosaic_geometry,
    tile_positions,
)
from ._series_stack import RejectedFile, SeriesStack, _base_fields

__all__ = ["duplicate_advice", "load_problem", "mosaic_stacks", "name_multiframe_volumes",
           "split_repeated_positions"]

#: Slice positions closer than this (mm) along the normal are the same position.
SAME_POSITION_MM = 0.01
#: Relative deviation of a slice gap from the typical gap that the loader refuses
#: (its default ``spacing_tolerance``).
SPACING_TOLERANCE = 0.01


def _normal(iop: Sequence[float]) -> np.ndarray | None:
    r1, r2, r3, c1, c2, c3 = (float(v) for v in iop)
    n = (r2 * c3 - r3 * c2, r3 * c1 - r1 * c3, r1 * c2 - r2 * c1)
    norm = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]) ** 0.5
    return np.array(n) / norm if norm > 1e-6 else None


def _all_distinct(positions: Sequence[Sequence[float]], iop: Sequence[float]) -> bool:
    """True when no two positions share a place along the normal (pure Python: the
    common case of the index, kept cheap)."""
    r1, r2, r3, c1, c2, c3 = (float(v) for v in iop)
    nx, ny, nz = r2 * c3 - r3 * c2, r3 * c1 - r1 * c3, r1 * c2 - r2 * c1
    dist = sorted(nx * p[0] + ny * p[1] + nz * p[2] for p in positions)
    return all(b - a > SAME_POSITION_MM for a, b in pairwise(dist))


def _series_name(st: SeriesStack | HeaderRecord) -> str:
    if isinstance(st, HeaderRecord):
        desc, number = st.get("SeriesDescription") or "", st.get("SeriesNumber")
    else:
        desc, number = st.series_description, st.series_number
    return f"series {number if number is not None else '?'} {desc or 'without description'!r}"


# ------------------------------------------------------------------------ mosaics

def mosaic_stacks(uid: str, recs: list[HeaderRecord]
                  ) -> tuple[list[SeriesStack], list[RejectedFile]]:
    """One stack per Siemens mosaic file of series ``uid`` (each file is a volume).

    The tiling is read once per image size from the CSA header of the first file; a
    series whose tiling cannot be read is refused (its files returned as rejected).
    """
    def inst(r: HeaderRecord) -> tuple[int, str]:
        v = r.get("InstanceNumber")
        return (v if isinstance(v, int) else 0, str(r.path))

    recs = sorted(recs, key=inst)
    geoms: dict[tuple[Any, Any], MosaicGeometry | str] = {}
    stacks: list[SeriesStack] = []
    rejected: list[RejectedFile] = []
    n = len(recs)
    for j, rec in enumerate(recs, start=1):
        size = (rec.get("Rows"), rec.get("Columns"))
        if size not in geoms:
            geoms[size] = mosaic_geometry(rec.path)
        geom = geoms[size]
        ipp = _finite(rec.get("ImagePositionPatient"), 3)
        iop = _finite(rec.get("ImageOrientationPatient"), 6)
        ps = _finite(rec.get("PixelSpacing"), 2)
        if isinstance(geom, str) or ipp is None or iop is None or ps is None:
            why = geom if isinstance(geom, str) else \
                "its position, orientation or pixel spacing is missing"
            rejected.append(RejectedFile(rec.path, (
                f"Siemens mosaic of {_series_name(rec)} (ImageType MOSAIC), but {why}: "
                "not loaded (a tiled image is not a volume)")))
            continue
        pos = tile_positions(ipp, iop, ps, int(size[0]), int(size[1]), geom)
        normal = _normal(iop)
        if normal is not None:
            pos = pos[np.argsort(pos @ normal, kind="stable")]
        base = _base_fields([rec])
        base["rows"], base["columns"] = geom.tile_rows, geom.tile_columns
        sid = uid if n == 1 else f"{uid}#v{j}"
        reason = "" if n == 1 else (
            f"volume {j} of {n} of a 4-D Siemens mosaic series (one mosaic image of "
            f"{geom.n_tiles} slices per volume: time points, diffusion directions or "
            "repetitions)")
        if n > 1 and "DIFFUSION" in {str(v).upper() for v in rec.get("ImageType") or ()}:
            b = mosaic_b_value(rec.path)  # a diffusion series: name the b-value
            if b is not None:
                reason += f", b-value {b:g}"
        stacks.append(SeriesStack(
            stack_id=sid, files=(rec.path,), n_images=geom.n_tiles,
            image_orientation=iop,
            positions=tuple(tuple(float(v) for v in p) for p in pos),
            instance_numbers=(rec.get("InstanceNumber"),),
            sop_instance_uids=(rec.get("SOPInstanceUID") or "",),
            split_reason=reason, mosaic_tiles=geom.n_tiles, **base))
    return stacks, rejected


def is_mosaic_record(rec: HeaderRecord) -> bool:
    """True for a single-frame Siemens mosaic file."""
    image_type = rec.values.get("ImageType")
    if not image_type or "MOSAIC" not in str(image_type).upper():
        return False
    return (rec.get("NumberOfFrames") or 1) <= 1 and is_mosaic(image_type)


# ------------------------------------------------------------ repeated positions

def _clusters(dist: np.ndarray, points: np.ndarray | None = None) -> list[list[int]]:
    """Indices grouped by position, in order along the normal.

    ``dist`` is the position along the normal; with ``points`` (the 3-D positions) two
    images share a position only when their 3-D positions agree (within
    :data:`SAME_POSITION_MM`), not merely their distance along the normal.
    """
    order = np.argsort(dist, kind="stable")
    groups: list[list[int]] = []
    for i in order:
        if groups and dist[i] - dist[groups[-1][0]] <= SAME_POSITION_MM and (
                points is None
                or np.linalg.norm(points[i] - points[groups[-1][0]]) <= SAME_POSITION_MM):
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    return groups


def _ordinal(j: int) -> str:
    suffix = "th" if 10 <= j % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(j % 10, "th")
    return f"{j}{suffix}"


def split_repeated_positions(st: SeriesStack) -> list[SeriesStack] | str:
    """The volumes of a stack whose slice positions repeat, or why it cannot be split.

    Returns
    -------
    list of SeriesStack or str
        ``[st]`` when no position repeats (or positions are unknown); one stack per
        volume when every position holds the same number of images; a refusal reason
        when they repeat unevenly.
    """
    if st.mosaic_tiles or st.image_orientation is None or len(st.positions) < 2 \
            or any(p is None for p in st.positions):
        return [st]
    multiframe = st.multiframe and len(st.files) == 1
    numbers = (st.frame_numbers or tuple(range(1, st.n_images + 1))) if multiframe else ()
    if multiframe and len(numbers) != len(st.positions):
        return [st]
    if not multiframe and len(st.files) != len(st.positions):
        return [st]
    if _all_distinct(st.positions, st.image_orientation):  # type: ignore[arg-type]
        return [st]
    normal = _normal(st.image_orientation)
    if normal is None:
        return [st]
    pos = np.asarray(st.positions, dtype=np.float64)
    groups = _clusters(pos @ normal, pos)
    counts = sorted({len(g) for g in groups})
    if counts == [1]:
        return [st]
    n_img = len(st.positions)
    if len(counts) > 1:
        return (f"{_series_name(st)}: slice positions repeat unevenly ({len(groups)} "
                f"positions holding {counts[0]} to {counts[-1]} images each, {n_img} images "
                "in all): neither one volume nor an even 4-D series (time points, "
                "diffusion directions); not loaded. Check for missing or copied files")
    m = counts[0]

    def order_key(i: int) -> tuple[Any, ...]:
        if multiframe:
            return (numbers[i],)
        inst = st.instance_numbers[i] if i < len(st.instance_numbers) else None
        return (inst if isinstance(inst, int) else 0, str(st.files[i]))

    ordered = [sorted(g, key=order_key) for g in groups]  # groups sorted along normal
    out = []
    how = "frame" if multiframe else "InstanceNumber"
    for j in range(m):
        idx = [g[j] for g in ordered]
        reason = (f"volume {j + 1} of {m} of a 4-D series: each of its {len(groups)} slice "
                  f"positions holds {m} images (time points, diffusion directions or "
                  f"repetitions); this volume takes the {_ordinal(j + 1)} image at each "
                  f"position in {how} order")
        if st.split_reason:
            reason = f"{st.split_reason}; {reason}"
        sid = f"{st.stack_id}.v{j + 1}" if "#" in st.stack_id else f"{st.stack_id}#v{j + 1}"
        changes: dict[str, Any] = {
            "stack_id": sid, "split_reason": reason, "n_images": len(idx),
            "positions": tuple(st.positions[i] for i in idx),
            "size_bytes": round(st.size_bytes * len(idx) / n_img),
        }
        if multiframe:
            by_number = sorted(idx, key=lambda i: numbers[i])
            changes["frame_numbers"] = tuple(numbers[i] for i in by_number)
            changes["positions"] = tuple(st.positions[i] for i in by_number)
        else:
            changes["files"] = tuple(st.files[i] for i in idx)
            if len(st.instance_numbers) == n_img:
                changes["instance_numbers"] = tuple(st.instance_numbers[i] for i in idx)
            if len(st.sop_instance_uids) == n_img:
                changes["sop_instance_uids"] = tuple(st.sop_instance_uids[i] for i in idx)
        out.append(st.replace(**changes))
    return out


def name_multiframe_volumes(stacks: list[SeriesStack]) -> list[SeriesStack]:
    """Say so when a series' multi-frame files are the volumes of one 4-D series.

    Several multi-frame files of one series holding the same slice positions (Siemens
    XA enhanced fMRI, diffusion, ASL: one file per volume) get a split reason naming
    the volume, instead of "one stack per multi-frame file".
    """
    by_series: dict[str | None, list[int]] = {}
    for i, st in enumerate(stacks):
        if st.multiframe and st.split_reason == "one stack per multi-frame file":
            by_series.setdefault(st.series_instance_uid, []).append(i)
    out = list(stacks)
    for idx in by_series.values():
        if len(idx) < 2:
            continue
        shapes = {(stacks[i].n_images, stacks[i].rows, stacks[i].columns) for i in idx}
        if len(shapes) != 1:
            continue
        n = len(idx)
        n_slices = stacks[idx[0]].n_images
        echoes = sorted({te for i in idx if (te := stacks[i].echo_time) is not None})
        types = {stacks[i].image_type for i in idx}
        for j, i in enumerate(idx, start=1):
            te = stacks[i].echo_time
            if len(echoes) > 1 and te is not None:
                reason = (f"echo {echoes.index(te) + 1} of {len(echoes)} (TE {te:g} ms): one "
                          f"multi-frame file of {n_slices} slices per echo")
            elif len(types) > 1:
                reason = (f"image type {'/'.join(stacks[i].image_type)}: one multi-frame "
                          f"file of {n_slices} slices per image type")
            else:
                reason = (f"volume {j} of {n} of a 4-D series stored as one multi-frame "
                          f"file of {n_slices} slices per volume (time points, diffusion "
                          "directions or repetitions)")
            out[i] = stacks[i].replace(split_reason=reason)
    return out


# ----------------------------------------------------------------- loadability

def load_problem(st: SeriesStack) -> str | None:
    """Why the loader would refuse ``st`` (from its header values), or None.

    Checks what the index knows: slice positions present, no repeated position, gaps
    even within the loader's default tolerance (1 %).
    """
    if st.mosaic_tiles:
        return None
    if st.image_orientation is None or not st.positions \
            or any(p is None for p in st.positions):
        return "slice positions or orientation missing"
    if len(st.positions) < 2:
        return None
    normal = _normal(st.image_orientation)
    if normal is None:
        return "invalid orientation"
    dist = np.sort(np.asarray(st.positions, dtype=np.float64) @ normal)
    gaps = np.diff(dist)
    if np.any(gaps <= SAME_POSITION_MM):
        return "repeated slice positions"
    typical = float(np.median(gaps))
    worst = float(np.max(np.abs(gaps - typical)))
    if typical > 0 and worst > SPACING_TOLERANCE * typical:
        return (f"slices not evenly spaced (a gap differs by {worst:.3g} mm from the usual "
                f"{typical:.4g} mm)")
    return None


def duplicate_advice(distances: Sequence[float] | np.ndarray) -> str:
    """Advice for a stack whose slice positions repeat (the loader's message).

    When every position repeats the same number of times the files are volumes of a
    4-D series (or a mosaic series given as files), and the advice is to load one
    volume; "remove the duplicates" is said only for uneven repeats.
    """
    dist = np.asarray(distances, dtype=np.float64)
    if dist.size < 2:
        return ""
    groups = _clusters(dist)
    counts = sorted({len(g) for g in groups})
    if len(counts) == 1 and counts[0] > 1:
        return (f" The images are {counts[0]} volumes of a 4-D series (each of {len(groups)}"
                " slice positions holds one image per volume: time points, diffusion "
                "directions, repetitions or mosaic files): load one volume; `bmes index` "
                "and index_folder list each as its own stack")
    return (" Some positions hold more images than others: the files may include copies "
            "of slices or an incomplete repeat; `bmes index` lists the stacks it can "
            "form, load one of those")

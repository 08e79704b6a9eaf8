"""Frames of one multi-frame file: which of them form one stack, and why.

A multi-frame (Enhanced MR) file holds several stacks when its frames differ in echo
time, inversion time, frame type / complex component, StackID or orientation
(:func:`frame_groups`); the index makes one stack of each group and the loader refuses
a file holding several when none was chosen. Split out of :mod:`._stacks`, which
re-exports these names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ._header import FrameKey, HeaderRecord

__all__ = ["ORIENTATION_TOLERANCE", "FrameGroup", "describe_frame_group", "differing_fields",
           "frame_groups", "group_frames"]

#: Tolerance on direction cosines when deciding two images share an orientation.
ORIENTATION_TOLERANCE = 1e-3


def _finite(v: Any, n: int) -> tuple[float, ...] | None:
    """``v`` if it is a tuple of ``n`` finite floats, else None."""
    if isinstance(v, tuple) and len(v) == n and all(
            isinstance(x, float) and math.isfinite(x) for x in v):
        return v
    return None


def _same_orientation(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return max(abs(x - y) for x, y in zip(a, b, strict=True)) <= ORIENTATION_TOLERANCE


def _iop(rec: HeaderRecord) -> tuple[float, ...] | None:
    return _finite(rec.values.get("ImageOrientationPatient"), 6)


@dataclass(frozen=True)
class FrameGroup:
    """Frames of one multi-frame file that form one stack (see :func:`frame_groups`)."""

    key: FrameKey
    orientation: tuple[float, ...] | None
    frame_numbers: tuple[int, ...]  # 1-based, in file order


def _frame_orientation(rec: HeaderRecord, i: int) -> tuple[float, ...] | None:
    own = rec.frames[i][1] if i < len(rec.frames) else None
    iop = own if own is not None else rec.shared_orientation
    return _finite(iop, 6) if iop is not None else _iop(rec)


def frame_groups(rec: HeaderRecord) -> list[FrameGroup]:
    """Split the frames of a multi-frame record into stacks.

    Frames share a stack when their :class:`~._header.FrameKey` (echo time, inversion
    time, frame type, complex image component, StackID) is equal and their orientations
    agree within :data:`ORIENTATION_TOLERANCE`, as single-frame files of a series are
    split by :func:`stack_key`.

    Parameters
    ----------
    rec
        Header record of a multi-frame file (``frames`` and ``frame_keys`` filled).

    Returns
    -------
    list of FrameGroup
        Ordered by StackID, echo time, inversion time, frame type, complex component
        and orientation; a single group (all frames) when the file holds one stack or
        its per-frame values are unknown.
    """
    n = int(rec.get("NumberOfFrames") or 1)
    keys = rec.frame_keys
    if len(keys) != n:
        return [FrameGroup(FrameKey(), None, tuple(range(1, n + 1)))]
    return group_frames(keys, [_frame_orientation(rec, i) for i in range(n)])


def group_frames(keys: Sequence[FrameKey],
                 orientations: Sequence[tuple[float, ...] | None]) -> list[FrameGroup]:
    """Group the frames of one file by key and orientation (see :func:`frame_groups`).

    Parameters
    ----------
    keys
        One :class:`~._header.FrameKey` per frame, in file order.
    orientations
        ImageOrientationPatient per frame (None where unknown).

    Returns
    -------
    list of FrameGroup
        Frame numbers are 1-based positions in ``keys``.
    """
    groups: list[tuple[FrameKey, tuple[float, ...] | None, list[int]]] = []
    for i, (key, iop) in enumerate(zip(keys, orientations, strict=True)):
        for g in groups:
            if g[0] == key and _same_orientation(g[1], iop):
                g[2].append(i + 1)
                break
        else:
            groups.append((key, iop, [i + 1]))

    def order(g: tuple[FrameKey, tuple[float, ...] | None, list[int]]) -> tuple[Any, ...]:
        k, iop = g[0], g[1]
        return (k.stack_id, k.echo_time if k.echo_time is not None else -1.0,
                k.inversion_time if k.inversion_time is not None else -1.0,
                k.frame_type, k.complex_component,
                tuple(round(v, 3) for v in iop) if iop else (), g[2][0])

    return [FrameGroup(k, iop, tuple(numbers))
            for k, iop, numbers in sorted(groups, key=order)]


_COMPLEX_PARTS = {"MAGNITUDE": "M", "PHASE": "P", "REAL": "R", "IMAGINARY": "I"}
_FRAME_KEY_NAMES = {"echo_time": "echo time", "inversion_time": "inversion time",
                    "frame_type": "frame type", "complex_component": "complex image "
                    "component", "stack_id": "StackID"}


def differing_fields(groups: Sequence[FrameGroup]) -> set[str]:
    """Names of the :class:`~._header.FrameKey` fields that differ between ``groups``."""
    return {name for name in _FRAME_KEY_NAMES
            if len({getattr(g.key, name) for g in groups}) > 1}


def describe_frame_group(key: FrameKey, fields: Iterable[str] | None = None) -> str:
    """Short text of a frame group's per-frame values (e.g. ``TE 80 ms``).

    Parameters
    ----------
    key
        The group's key.
    fields
        Only these :class:`~._header.FrameKey` fields (default: every one set).

    Returns
    -------
    str
        Comma-separated values; ``""`` when none is set.
    """
    shown = set(_FRAME_KEY_NAMES) if fields is None else set(fields)
    parts = []
    if key.stack_id and "stack_id" in shown:
        parts.append(f"StackID {key.stack_id}")
    if key.echo_time is not None and "echo_time" in shown:
        parts.append(f"TE {key.echo_time:g} ms")
    if key.inversion_time is not None and "inversion_time" in shown:
        parts.append(f"TI {key.inversion_time:g} ms")
    if key.frame_type and "frame_type" in shown:
        parts.append("frame type " + "\\".join(key.frame_type))
    if key.complex_component and "complex_component" in shown:
        parts.append(key.complex_component.lower())
    return ", ".join(parts)


def _frame_split_reasons(groups: Sequence[FrameGroup]) -> list[str]:
    """Which per-frame values separate each group of a file from the others."""
    out = []
    for g in groups:
        diffs: set[str] = set()
        names: set[str] = set()
        for h in groups:
            if h is g:
                continue
            for name, label in _FRAME_KEY_NAMES.items():
                if getattr(g.key, name) != getattr(h.key, name):
                    diffs.add(label)
                    names.add(name)
            if not _same_orientation(g.orientation, h.orientation):
                diffs.add("orientation")
        what = describe_frame_group(g.key, names)
        out.append("differ in " + ", ".join(sorted(diffs))
                   + (f" ({what})" if what else ""))
    return out

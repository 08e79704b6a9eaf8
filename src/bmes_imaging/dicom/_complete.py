"""Refuse, at index time, a stack that would load with images silently missing.

A series whose first, last or any file cannot be used (truncated, no pixel data,
wrong pixel data length, implausible rescale, unreadable header) must not load as a
shorter stack: a stack missing its end slices has a plausible geometry and no gap for
the loader to see. :func:`refuse_incomplete` runs after the index has grouped the
files (:func:`._stacks.build_stacks`) and takes out every stack that

* has a damaged file of its own series (the damaged file's header still names the
  series; a :class:`Rejection` carries what could be read);
* shares its folder, alone, with a damaged file whose series cannot be read
  (a file truncated inside its header, a broken DICM marker, an empty or unreadable
  file) named like the stack's files (``IM00015.dcm`` among ``IM000nn.dcm``);
* has an InstanceNumber run with holes (``1..30`` with 29 files), or fewer images
  than the ImagesInAcquisition all its files state, when the stack is a whole series
  alone in its folder.

The stack's files are then listed as rejected, each with a reason naming the damaged
file and what is wrong with it (never its neighbours). A damaged file that is a second
copy of an image the stack holds (same SOPInstanceUID or position) does not refuse it.

Examples
--------
>>> r = Rejection("truncated header", series_uid="1.2.3")
>>> r == "truncated header", r.series_uid
(True, '1.2.3')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, Self

from ._header import HeaderRecord
from ._quiet import printable
from ._series_stack import RejectedFile, SeriesStack

__all__ = ["Rejection", "refuse_incomplete"]

#: Reasons (from :func:`._stacks.build_stacks`) that mean a file of an image series is
#: damaged, when it has the series' SOP class.
_DAMAGE_PREFIXES = ("no pixel data", "incomplete image header", "duplicate SOPInstanceUID")
#: Reasons of files whose series could not be read that still look like a damaged
#: image file (for the folder rule).
_UNATTRIBUTED_PREFIXES = ("truncated", "unreadable", "not DICOM", "PixelData holds",
                          "Rescale", "deflated data set", "declares", "cannot be read",
                          "empty file", "corrupt", "no pixel data",
                          "incomplete image header", "file of ", "no SeriesInstanceUID")
_MAX_NAMED = 3


class Rejection(str):
    """A rejection reason that remembers what the file's header said, where readable.

    A ``str`` (the reason), so it can stand wherever a reason string is expected;
    ``damaged`` marks a file that looks like a damaged image (as opposed to a file that
    is simply not an image), ``series_uid`` the series it claims, if readable.
    """

    series_uid: str | None
    damaged: bool
    sop_instance_uid: str | None
    position: tuple[float, ...] | None

    def __new__(cls, reason: str, *, series_uid: str | None = None, damaged: bool = True,
                sop_instance_uid: str | None = None,
                position: tuple[float, ...] | None = None) -> Self:
        obj = super().__new__(cls, reason)
        obj.series_uid = series_uid
        obj.damaged = damaged
        obj.sop_instance_uid = sop_instance_uid
        obj.position = position
        return obj


def _covered(st: SeriesStack, sop_uid: Any, position: Any,
             by_path: dict[Path, HeaderRecord]) -> bool:
    """True if the stack already holds the image a damaged file claims to be (a second,
    damaged copy of a slice is not a missing slice): same SOPInstanceUID, or the
    position of one of its images or files (a mosaic file's own position is not one of
    its tiles')."""
    if isinstance(sop_uid, str) and sop_uid and sop_uid in st.sop_instance_uids:
        return True
    if not (isinstance(position, tuple) and len(position) == 3):
        return False
    files = [by_path[f].get("ImagePositionPatient") for f in st.files if f in by_path]
    for p in (*st.positions, *files):
        if (isinstance(p, tuple) and len(p) == 3
                and max(abs(a - b) for a, b in zip(p, position, strict=True)) < 1e-3):
            return True
    return False


def _claims(rej: RejectedFile, by_path: dict[Path, HeaderRecord]) -> tuple[Any, Any]:
    """(SOPInstanceUID, ImagePositionPatient) a damaged file's header gives, if any."""
    if isinstance(rej.reason, Rejection):
        return rej.reason.sop_instance_uid, rej.reason.position
    rec = by_path.get(rej.path)
    if rec is None:
        return None, None
    if str(rej.reason).startswith("duplicate SOPInstanceUID"):
        # a true copy has the position of the image it copies; another position means
        # another image whose UID is broken (a slice the stack would silently lack)
        return None, rec.get("ImagePositionPatient")
    return rec.get("SOPInstanceUID"), rec.get("ImagePositionPatient")


def _attributed(rejected: Sequence[RejectedFile], by_path: dict[Path, HeaderRecord],
                stacks: Sequence[SeriesStack]) -> dict[str, list[RejectedFile]]:
    """Damaged rejected files by the series UID their header names."""
    sop_classes: dict[str, set[str]] = {}
    for st in stacks:
        if st.series_instance_uid and st.sop_class_uid:
            sop_classes.setdefault(st.series_instance_uid, set()).add(st.sop_class_uid)
    out: dict[str, list[RejectedFile]] = {}
    for rej in rejected:
        reason = rej.reason
        uid = None
        if isinstance(reason, Rejection):
            if reason.damaged:
                uid = reason.series_uid
        elif reason.startswith(_DAMAGE_PREFIXES):
            rec = by_path.get(rej.path)
            if rec is not None:
                series = rec.get("SeriesInstanceUID")
                sop = rec.get("SOPClassUID") or rec.get("MediaStorageSOPClassUID")
                if series and (not sop or sop in sop_classes.get(series, ())):
                    uid = series
        if uid:
            out.setdefault(uid, []).append(rej)
    return out


def _unattributed(rejected: Sequence[RejectedFile], known: set[str],
                  by_path: dict[Path, HeaderRecord]) -> dict[Path, list[RejectedFile]]:
    """Damaged-looking files whose series is unknown (or none indexed: a file cut
    inside its SeriesInstanceUID names a series that does not exist), by folder."""
    out: dict[Path, list[RejectedFile]] = {}
    for rej in rejected:
        reason = rej.reason
        if isinstance(reason, Rejection):
            series = reason.series_uid
        else:
            rec = by_path.get(rej.path)
            series = rec.get("SeriesInstanceUID") if rec is not None else None
        if series in known:
            continue
        if str(reason).startswith(_UNATTRIBUTED_PREFIXES):
            out.setdefault(rej.path.parent, []).append(rej)
    return out


def _skeleton(path: Path) -> str:
    """The file name with its digits replaced: ``IM00015.dcm`` -> ``IM#####.dcm``."""
    return "".join("#" if c.isdigit() else c for c in path.name.lower())


def _folder_suspects(st: SeriesStack, stacks_in_folder: int,
                     loose: dict[Path, list[RejectedFile]]) -> list[RejectedFile]:
    """Damaged files of unknown series in the stack's folder, when it is the only one."""
    folders = {f.parent for f in st.files}
    if st.multiframe or len(folders) != 1 or stacks_in_folder != 1:
        return []
    candidates = loose.get(next(iter(folders)), [])
    if not candidates:
        return []
    # named like the stack's files (IM00015.dcm among IM000nn.dcm): a lost slice
    names = {_skeleton(f) for f in st.files}
    return [r for r in candidates if _skeleton(r.path) in names]


def _instance_holes(st: SeriesStack) -> str | None:
    """Reason if a whole, single-frame series has holes in its InstanceNumber run."""
    numbers = st.instance_numbers
    if (st.multiframe or st.split_reason or len(numbers) < 3
            or any(not isinstance(n, int) for n in numbers)):
        return None
    ints = sorted(n for n in numbers if isinstance(n, int))
    if len(set(ints)) != len(ints):
        return None
    steps = {b - a for a, b in pairwise(ints)}
    if steps == {1} or len(steps) == 0:
        return None
    step = min(steps)
    if step < 1 or any(s % step for s in steps):
        return None
    expected = (ints[-1] - ints[0]) // step + 1
    if expected == len(ints) or expected > 4 * len(ints):
        return None
    present = set(ints)
    missing = [n for n in range(ints[0], ints[-1] + 1, step) if n not in present]
    shown = ", ".join(str(n) for n in missing[:8]) + (", ..." if len(missing) > 8 else "")
    return (f"its InstanceNumbers run from {ints[0]} to {ints[-1]} but {len(missing)} "
            f"are missing ({shown}): {len(missing)} image(s) of the series are not in "
            "the folder")


def _acquisition_shortfall(st: SeriesStack, by_path: dict[Path, HeaderRecord]
                           ) -> str | None:
    """Reason if a whole single-frame series holds fewer images than the
    ImagesInAcquisition (0020,1002) every one of its files states."""
    if st.multiframe or st.split_reason:
        return None
    stated = set()
    for f in st.files:
        rec = by_path.get(f)
        stated.add(rec.get("ImagesInAcquisition") if rec is not None else None)
    if len(stated) != 1:
        return None
    promised = stated.pop()
    if not isinstance(promised, int) or not st.n_images < promised <= 4 * st.n_images:
        return None
    return (f"its files state ImagesInAcquisition {promised}, the folder holds "
            f"{st.n_images}: {promised - st.n_images} image(s) of the series are missing")


def _conflicting_copy(st: SeriesStack, rejected: Sequence[RejectedFile],
                      by_path: dict[Path, HeaderRecord]) -> str | None:
    """Reason if a duplicate of one of the stack's images holds other bytes: which file
    is the image is then a guess (an identical copy is harmless)."""
    import filecmp

    kept = {by_path[f].get("SOPInstanceUID"): f for f in st.files if f in by_path}
    for rej in rejected:
        rec = by_path.get(rej.path)
        if rec is None or not str(rej.reason).startswith("duplicate SOPInstanceUID"):
            continue
        original = kept.get(rec.get("SOPInstanceUID"))
        if original is None:
            continue
        try:
            same = filecmp.cmp(original, rej.path, shallow=False)
        except OSError:
            same = False
        if not same:
            return (f"{printable(rej.path.name)} holds a duplicate SOPInstanceUID of "
                    f"{printable(original.name)} with other content")
    return None


def _describe(bad: Sequence[RejectedFile], where: str) -> str:
    named = "; ".join(f"{printable(b.path.name)} {where}({printable(b.reason, 120)})"
                      for b in bad[:_MAX_NAMED])
    more = f"; and {len(bad) - _MAX_NAMED} more" if len(bad) > _MAX_NAMED else ""
    return named + more


def refuse_incomplete(stacks: Iterable[SeriesStack], rejected: Iterable[RejectedFile],
                      records: Sequence[HeaderRecord]
                      ) -> tuple[list[SeriesStack], list[RejectedFile]]:
    """Take out the stacks that would load with images missing; list why.

    Parameters
    ----------
    stacks, rejected
        What :func:`._stacks.build_stacks` (and the header readers) produced.
    records
        The header records of the readable files (to find the series of a file the
        index rejected for having no pixel data).

    Returns
    -------
    stacks, rejected
        The stacks kept, and the rejected files with those of every refused stack
        added (each reason names the damaged file and what is wrong with it).
    """
    stacks = list(stacks)
    rejected = list(rejected)
    by_path = {r.path: r for r in records}
    damaged = _attributed(rejected, by_path, stacks)
    loose = _unattributed(rejected, {st.series_instance_uid or "" for st in stacks},
                          by_path)
    per_folder: dict[Path, int] = {}
    for st in stacks:
        for folder in {f.parent for f in st.files}:
            per_folder[folder] = per_folder.get(folder, 0) + 1
    kept: list[SeriesStack] = []
    refused: list[RejectedFile] = []
    for st in stacks:
        reason = _refusal(st, damaged, loose, per_folder, by_path)
        if reason is None:
            kept.append(st)
            continue
        refused.extend(RejectedFile(f, reason) for f in st.files)
    return kept, rejected + refused


def _refusal(st: SeriesStack, damaged: dict[str, list[RejectedFile]],
             loose: dict[Path, list[RejectedFile]], per_folder: dict[Path, int],
             by_path: dict[Path, HeaderRecord]) -> Any:
    # every stack of the series (the damaged file's own Rows / Columns may be the
    # damage), unless the stack holds that image already (a damaged second copy)
    own = [r for r in damaged.get(st.series_instance_uid or "", [])
           if not _covered(st, *_claims(r, by_path), by_path)]
    if own:
        return Rejection(
            f"series incomplete, not loaded with an image missing: "
            f"{_describe(own, 'of this series cannot be used ')}", damaged=False)
    conflict = _conflicting_copy(st, damaged.get(st.series_instance_uid or "", []), by_path)
    if conflict:
        return Rejection(f"series ambiguous ({conflict}), not loaded: remove the copy that "
                         "is wrong", damaged=False)
    folder = st.files[0].parent if st.files else None
    in_folder = per_folder.get(folder, 0) if folder is not None else 0
    suspects = _folder_suspects(st, in_folder, loose)
    if suspects:
        return Rejection(
            "series may be incomplete, not loaded: the folder also holds "
            f"{_describe(suspects, 'which cannot be read ')}, named like this "
            "series' files", damaged=False)
    # (with other stacks in the folder, the missing images may be there)
    holes = (_instance_holes(st) or _acquisition_shortfall(st, by_path)
             if in_folder == 1 else None)
    if holes:
        return Rejection(f"series incomplete: {holes}", damaged=False)
    return None

"""Planning a screening run: index the archive, pair T1 / fluid series, fingerprint inputs.

A *study* in screening is one study and side (a bilateral examination gives two). Its
key (``study-<hash>-<side>``) is derived from the StudyInstanceUID by a hash, so file
names and the run log never carry an identifier.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ScreenPlan", "StudyTask", "UnpairedStudy", "config_fingerprint", "plan_screening",
           "study_key"]

#: Bumped when the per-study outputs change meaning, so old done-markers are redone.
RESULT_FORMAT = 1


def study_key(study_instance_uid: str | None, side: str | None) -> str:
    """Folder-safe key of a study and side without identifiers.

    Examples
    --------
    >>> study_key("1.2.3", "L")
    'study-c47f5b18b8-L'
    """
    digest = hashlib.sha256((study_instance_uid or "").encode()).hexdigest()[:10]
    return f"study-{digest}-{side or 'U'}"


@dataclass(frozen=True)
class StudyTask:
    """One study and side to screen (picklable: sent to Dask workers).

    Attributes
    ----------
    key
        :func:`study_key` of the study and side.
    study_instance_uid, patient_id, side
        Linking fields (never logged).
    t1_files, fluid_files
        The two series' files.
    t1_series, fluid_series
        ``"<number> <description>"`` of each series, for the results table.
    fluid_sequence
        ``"stir"``, ``"t2_fs"`` or ``"pd_fs"``.
    t1_frames, fluid_frames
        For a stack that is part of a multi-frame file holding several stacks
        (multi-echo, Dixon...), its frame numbers in that file; else None.
    fingerprint
        Hash of the input files (paths, sizes, mtimes) and the configuration.
    identifiers
        Strings to scrub from log messages (patient ID / name), never written.
    """

    key: str
    study_instance_uid: str
    patient_id: str | None
    side: str | None
    t1_files: tuple[str, ...]
    fluid_files: tuple[str, ...]
    t1_series: str = ""
    fluid_series: str = ""
    fluid_sequence: str = ""
    t1_frames: tuple[int, ...] | None = None
    fluid_frames: tuple[int, ...] | None = None
    fingerprint: str = ""
    identifiers: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class UnpairedStudy:
    """A study and side that cannot be screened (no T1, no fluid series...)."""

    key: str
    study_instance_uid: str
    patient_id: str | None
    side: str | None
    reason: str
    identifiers: tuple[str, ...] = field(default=(), repr=False)


@dataclass
class ScreenPlan:
    """What a run will do: studies to screen, studies that cannot be, files not used."""

    root: Path
    tasks: list[StudyTask]
    unpaired: list[UnpairedStudy]
    rejected: list[tuple[str, str]]  # (path relative to root, reason)


#: Configuration fields that change how fast, not what, a study gives.
_SPEED_ONLY_FIELDS = ("threads",)


def _frames_of(stack: Any) -> tuple[int, ...] | None:
    frames = getattr(stack, "frame_numbers", None)
    return tuple(int(f) for f in frames) if frames else None


def config_fingerprint(config: Any) -> str:
    """Stable text of a configuration (dataclass fields as JSON, else ``repr``);
    fields that only change the speed (thread counts) are left out."""
    if config is None:
        return "default"
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        fields = dataclasses.asdict(config)
        for name in _SPEED_ONLY_FIELDS:
            fields.pop(name, None)
        return json.dumps(fields, sort_keys=True, default=str)
    return repr(config)


def _files_fingerprint(files: Sequence[str]) -> list[tuple[str, int, int]]:
    out = []
    for f in files:
        st = os.stat(f)
        out.append((os.path.abspath(f), st.st_size, st.st_mtime_ns))
    return out


def task_fingerprint(t1_files: Sequence[str], fluid_files: Sequence[str], config: Any,
                     extra: str = "") -> str:
    """Fingerprint of a study's inputs: file list, sizes, mtimes, configuration."""
    payload = json.dumps({
        "format": RESULT_FORMAT,
        "t1": _files_fingerprint(t1_files),
        "fluid": _files_fingerprint(fluid_files),
        "config": config_fingerprint(config),
        "extra": extra,
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _series_label(stack: Any) -> str:
    number = getattr(stack, "series_number", None)
    desc = getattr(stack, "series_description", "") or ""
    return f"{'' if number is None else number} {desc}".strip()


def _identifiers(*stacks: Any) -> tuple[str, ...]:
    ids = set()
    for s in stacks:
        for attr in ("patient_id", "patient_name"):
            v = getattr(s, attr, None)
            if v:
                ids.add(str(v))
                ids.update(p for p in str(v).replace("^", " ").split() if len(p) > 2)
    return tuple(sorted(ids, key=len, reverse=True))


def plan_screening(root: str | Path, *, config: Any = None, extra: str = "") -> ScreenPlan:
    """Index ``root``, pair T1 / fluid series per study and side, fingerprint each pair.

    Parameters
    ----------
    root
        Archive folder (any depth; mixed content allowed).
    config
        Detection configuration (part of the fingerprint).
    extra
        Anything else that changes the results (e.g. the study function's name).

    Returns
    -------
    ScreenPlan
    """
    from ..dicom import index_folder, pair_series

    root = Path(root)
    index = index_folder(root)
    pairing = pair_series(index)
    by_study: dict[str, list[Any]] = {}
    for st in index.stacks:
        by_study.setdefault(str(st.study_instance_uid), []).append(st)
    tasks = []
    for pair in pairing.pairs:
        t1 = tuple(str(f) for f in pair.t1.files)
        fluid = tuple(str(f) for f in pair.fluid.files)
        tasks.append(StudyTask(
            key=study_key(pair.study_instance_uid, pair.side),
            study_instance_uid=str(pair.study_instance_uid),
            patient_id=pair.patient_id,
            side=pair.side,
            t1_files=t1,
            fluid_files=fluid,
            t1_series=_series_label(pair.t1),
            fluid_series=_series_label(pair.fluid),
            fluid_sequence=str(getattr(pair.fluid, "sequence", "") or ""),
            t1_frames=_frames_of(pair.t1),
            fluid_frames=_frames_of(pair.fluid),
            fingerprint=task_fingerprint(t1, fluid, config, extra),
            identifiers=_identifiers(pair.t1, pair.fluid),
        ))
    unpaired = []
    for study_uid, side, reason in pairing.unpaired:
        stacks = by_study.get(str(study_uid), [])
        pid = next((s.patient_id for s in stacks if getattr(s, "patient_id", None)), None)
        unpaired.append(UnpairedStudy(study_key(study_uid, side), str(study_uid), pid, side,
                                      str(reason), _identifiers(*stacks)))
    rejected = []
    for rej in index.rejected:
        p = Path(rej.path)
        try:
            rel = str(p.relative_to(root))
        except ValueError:
            rel = str(p)
        rejected.append((rel, str(rej.reason)))
    tasks.sort(key=lambda t: t.key)
    unpaired.sort(key=lambda u: u.key)
    return ScreenPlan(root, tasks, unpaired, rejected)

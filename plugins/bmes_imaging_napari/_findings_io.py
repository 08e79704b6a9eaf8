"""Findings as JSON-able dicts and back (recovery files, copies saved elsewhere)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from bmes_imaging.bones import Bone, bone_from_label

__all__ = ["as_bone_finding", "finding_from_dict", "finding_to_dict"]


def finding_to_dict(finding: Any) -> dict[str, Any]:
    """A JSON-able dict of a :class:`~bmes_imaging.detection.BoneFinding`."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(finding):
        value = getattr(finding, f.name)
        if isinstance(value, Bone):
            value = int(value)
        elif isinstance(value, np.generic):
            value = value.item()
        out[f.name] = value
    return out


def finding_from_dict(data: Mapping[str, Any]) -> Any:
    """Rebuild a :class:`~bmes_imaging.detection.BoneFinding` from :func:`finding_to_dict`."""
    from bmes_imaging.detection import BoneFinding

    names = {f.name for f in dataclasses.fields(BoneFinding)}
    kwargs = {k: v for k, v in data.items() if k in names}
    kwargs["bone"] = bone_from_label(int(kwargs["bone"]))
    return BoneFinding(**kwargs)


def as_bone_finding(stored: Any) -> Any:
    """A store's ``StoredFinding`` as a ``detection.BoneFinding`` (what the model edits)."""
    convert = getattr(stored, "as_bone_finding", None)
    return convert() if convert is not None else stored

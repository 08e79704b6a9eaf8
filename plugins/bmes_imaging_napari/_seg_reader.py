"""napari reader of DICOM SEG files: bones (and other structures) and edema as labels.

:func:`get_seg_reader` looks at the file's header only and returns None for anything
that is not a DICOM Segmentation (it never raises). :func:`read_seg_layers` reads the
SEG with :func:`bmes_imaging.dicom.read_seg` on the grid of its source series (found
beside the SEG, else the SEG's own planes) and returns labels layers placed in the RAS+
world frame of the plugin's other layers (:func:`bmes_imaging.geometry.napari_affine`,
through :func:`._layers.labels_layer_data`), so they overlay the T1 they were drawn on.
Bones keep the vocabulary's colours and names; segments that are no bone take the
SEG's recommended display colour and their own label.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bmes_imaging._outbound import terminal_text
from bmes_imaging.bones import BONES, Bone, label_colormap
from bmes_imaging.dicom import SegLabels, is_seg_file, read_seg
from bmes_imaging.dicom._seg import EDEMA_OUTSIDE_BONES
from bmes_imaging.geometry import napari_display_frame

from ._layers import META_KEY, labels_layer_data

__all__ = ["get_seg_reader", "read_seg_layers"]

PathLike = str | os.PathLike[str]
LayerDataTuple = tuple[Any, dict[str, Any], str]
ReaderFunction = Callable[[PathLike | Sequence[PathLike]], list[LayerDataTuple]]

_GREY = (0.6, 0.6, 0.6, 1.0)
_OUTSIDE_COLOUR = (1.0, 1.0, 1.0, 1.0)


def one_path(path: PathLike | Sequence[PathLike]) -> Path | None:
    """The one path napari gives a reader (a path, or a list of one); None otherwise."""
    if isinstance(path, (str, os.PathLike)):
        return Path(path)
    try:
        items = list(path)
    except TypeError:
        return None
    if len(items) == 1 and isinstance(items[0], (str, os.PathLike)):
        return Path(items[0])
    return None


def get_seg_reader(path: PathLike | Sequence[PathLike]) -> ReaderFunction | None:
    """:func:`read_seg_layers` for a DICOM SEG file, None for anything else."""
    p = one_path(path)
    if p is None or not is_seg_file(p):
        return None
    return read_seg_layers


def _colours_and_names(seg: SegLabels, role: str
                       ) -> tuple[dict[int | None, Any], dict[str, list[Any]]]:
    """DirectLabelColormap dictionary and features (index, bone) of one SEG layer."""
    colours: dict[int | None, Any] = {k: np.asarray(v) for k, v in label_colormap().items()}
    colours[None] = np.zeros(4)
    names = {v: Bone(v).display_name for v in BONES}
    for s in seg.segments:
        if role == "bones" and s.role == "other":
            rgb = (*(c / 255.0 for c in s.color), 1.0) if s.color else _GREY
            colours[s.value] = np.asarray(rgb)
            names[s.value] = terminal_text(s.label) or f"segment {s.number}"
    if role == "edema":
        colours[EDEMA_OUTSIDE_BONES] = np.asarray(_OUTSIDE_COLOUR)
        names[EDEMA_OUTSIDE_BONES] = "edema outside the bones"
    values = sorted(names)
    return colours, {"index": [0, *values], "bone": ["background", *(names[v] for v in values)]}


def read_seg_layers(path: PathLike | Sequence[PathLike]) -> list[LayerDataTuple]:
    """Read a DICOM SEG as labels layers: ``<name> bones`` and ``<name> edema``.

    The edema layer is left out when the SEG has no edema segment, the bones layer when
    it has only edema. Layer metadata (``bmes_imaging``) holds the role, the RAS+
    affine, the SEG path, the grid it was read on and the segments.
    """
    from napari.utils.colormaps import DirectLabelColormap

    p = one_path(path)
    if p is None:
        raise ValueError("read_seg_layers expects one SEG file")
    seg = read_seg(p)
    if seg.labels.array.dtype != np.uint8:
        raise ValueError(f"{p}: more segments than one labels layer can colour (255)")
    frame = napari_display_frame(seg.labels.affine)  # the T1's, on the T1's grid
    name = terminal_text(p.name.removesuffix(".dcm").removesuffix(".DCM"))
    layers = []
    for role, volume in (("bones", seg.labels), ("edema", seg.edema)):
        wanted = ("bone", "other") if role == "bones" else ("edema",)
        if not any(s.role in wanted for s in seg.segments):
            continue
        colours, features = _colours_and_names(seg, role)
        data, params, kind = labels_layer_data(
            volume, role=role, name=f"{name} {role}", frame=frame,
            colormap=DirectLabelColormap(color_dict=colours), features=features)
        params["metadata"][META_KEY].update(
            seg_path=str(p), seg_grid=seg.grid,
            segments=[s for s in seg.segments if s.role in wanted])
        layers.append((data, params, kind))
    return layers

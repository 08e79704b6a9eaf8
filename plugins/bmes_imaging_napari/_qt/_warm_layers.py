"""The warm-up's layers, kept for the first study (issue 15: no stall over 100 ms).

Adding a napari layer is one step of 100-250 ms on this machine that cannot be split
(napari builds the layer's vispy visual, its layer controls and, for labels, the
polygon and brush overlays; the first paint then compiles the visual's shaders). Every
study after the first reuses its predecessor's layers (:func:`._viewer_layers.study_layer_steps`)
and pays none of this; the first study used to pay all of it.

So the dock's warm-up adds the five layers a study shows (T1, fluid, the no-fluid hatch,
bones, edema), with the same kinds, dtypes, colormaps, blending and options, on a tiny
empty volume, draws them once, and hides them: the first study reuses them like any
later one. They are marked (:func:`is_warm`): they are never taken for a study opened
through napari and :func:`._viewer_layers.study_layers` skips them. Nothing removes
them: a study takes them, or (opened through napari's File > Open first) they stay
hidden, because removing several layers under layers already drawn can crash vispy's
next draw here (napari 0.9.2, Mesa llvmpipe under Xvfb: a segmentation fault in
``glDrawArrays``, reproduced without the plugin).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bmes_imaging.volume import SeriesInfo, Volume

from .._layers import META_KEY, labels_layer_data, study_layer_data

__all__ = ["WARM_KEY", "is_warm", "study_taken_over", "warm_layer_data"]

#: The study key of the warm-up's layers (no study has it).
WARM_KEY = "bmes-warm-up"
#: Roles of the warm-up's layers, bottom to top (as a study shows them).
WARM_ROLES = ("t1", "fluid", "fluid_fov", "bones", "edema")


def _tiny(sequence: str, dtype: type) -> Volume:
    """A small empty sagittal volume (the axis order of a sagittal T1 or STIR)."""
    affine = np.array([[0.0, 0.0, 3.3, 0.0], [-0.9, 0.0, 0.0, 0.0],
                       [0.0, -0.9, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    info = SeriesInfo(sequence=sequence, plane="sagittal", study_instance_uid=WARM_KEY)
    return Volume(np.zeros((8, 8, 4), dtype=dtype), affine, info)


def warm_layer_data() -> list[tuple[Any, dict[str, Any], str]]:
    """Layer data tuples of the warm-up's layers: a study's five layers (the same
    builders, kinds, dtypes and options) on a tiny empty volume, marked warm."""
    t1, fluid = _tiny("t1", np.uint16), _tiny("stir", np.uint16)
    tuples = study_layer_data(t1, fluid, study_key=WARM_KEY)
    empty = t1.with_array(np.zeros(t1.shape, np.uint8))
    frame = tuples[0][1]["metadata"][META_KEY]["frame"]
    for role in ("bones", "edema"):
        tuples.append(labels_layer_data(empty.with_array(empty.array.copy()), role=role,
                                        study_key=WARM_KEY, frame=frame))
    for _, params, _ in tuples:
        params["metadata"][META_KEY]["warm_up"] = True
        if "contrast_limits" in params:
            params["contrast_limits"] = (0.0, 1.0)  # empty: the percentiles are 0
    return tuples


def is_warm(layer: Any) -> bool:
    """True for a layer the warm-up added and no study has taken yet."""
    meta = layer.metadata.get(META_KEY) if isinstance(layer.metadata, dict) else None
    return isinstance(meta, dict) and bool(meta.get("warm_up"))


def study_taken_over(viewer: Any) -> bool:
    """True when the viewer holds any plugin layer that is not the warm-up's (a study
    is shown or being shown: the warm-up adds nothing more)."""
    for layer in viewer.layers:
        meta = layer.metadata.get(META_KEY) if isinstance(layer.metadata, dict) else None
        if isinstance(meta, dict) and not meta.get("warm_up"):
            return True
    return False

"""Volumes to napari layer data tuples, placed in one RAS+ millimetre world frame.

Every layer shows its array with axes reordered to follow the world axes (a view:
:func:`bmes_imaging.geometry.napari_axis_order`, napari slices only world-aligned axes in
2-D) and the matching columns of ``bmes_imaging.geometry.napari_affine(volume.affine)``,
so the T1, the fluid series (in its own acquisition grid), the bone labels and the edema
labels overlay exactly, with anisotropic voxels where they belong. World axes are
labelled ``R``, ``A``, ``S`` (mm).

Oblique studies: all layers of a study are shown in the frame ``D @ RAS`` where ``D``
(:func:`bmes_imaging.geometry.napari_display_frame` of the T1) makes the T1 grid
axis-aligned; the T1 and series acquired in the same orientation are then sliced
exactly in 2-D. ``D`` is the identity for non-oblique T1 series.

Layer metadata (key :data:`META_KEY`) records the role of each layer
(``"t1"``, ``"fluid"``, ``"bones"``, ``"edema"``), the volume's
:class:`~bmes_imaging.volume.SeriesInfo` and the study key, so the review widget can
find a study's layers among whatever else is open.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmes_imaging.bones import BONES, Bone, label_colormap
from bmes_imaging.geometry import napari_affine, napari_axis_order, napari_display_frame
from bmes_imaging.volume import Volume

__all__ = [
    "AXIS_LABELS",
    "META_KEY",
    "contrast_limits_for",
    "display_frame",
    "display_name_for_sequence",
    "fluid_coverage",
    "fov_layer_data",
    "image_layer_data",
    "labels_features",
    "labels_layer_data",
    "layer_view",
    "study_layer_data",
    "volume_from_layer",
]

#: World axis names (RAS+).
AXIS_LABELS: tuple[str, str, str] = ("R", "A", "S")
#: Key of the plugin's entry in ``layer.metadata``.
META_KEY = "bmes_imaging"

LayerDataTuple = tuple[Any, dict[str, Any], str]

# Percentiles of the non-zero voxels used as contrast limits, per sequence. T1 marrow
# is bright: clip the top a little more so fat does not wash out the bones; fluid
# sequences have few very bright voxels (fluid, vessels): keep them from setting the
# window so that marrow edema stands out.
_PERCENTILES: dict[str, tuple[float, float]] = {
    "t1": (0.5, 99.5),
    "stir": (1.0, 99.0),
    "t2_fs": (1.0, 99.0),
    "pd_fs": (1.0, 99.0),
}
_DEFAULT_PERCENTILES = (0.5, 99.5)
_DISPLAY_NAMES = {"t1": "T1", "stir": "STIR", "t2_fs": "T2 FS", "pd_fs": "PD FS"}


def display_name_for_sequence(sequence: str | None) -> str:
    """``"T1"``, ``"STIR"``, ``"T2 FS"``, ``"PD FS"`` or ``"MR"``."""
    return _DISPLAY_NAMES.get(sequence or "", "MR")


def contrast_limits_for(array: NDArray[Any], sequence: str | None) -> tuple[float, float]:
    """Contrast limits from percentiles of the non-zero voxels, per sequence.

    A subsample of at most ~1 M voxels is used so this stays fast for big series.
    Returns ``(lo, hi)`` with ``hi > lo`` always.
    """
    flat = np.asarray(array).ravel()
    step = max(1, flat.size // 1_000_000)
    sample = flat[::step]
    sample = sample[np.isfinite(sample)] if np.issubdtype(sample.dtype, np.floating) else sample
    nonzero = sample[sample != 0]
    values = nonzero if nonzero.size >= 16 else sample
    if values.size == 0:
        return (0.0, 1.0)
    lo_p, hi_p = _PERCENTILES.get(sequence or "", _DEFAULT_PERCENTILES)
    lo, hi = (float(v) for v in np.percentile(values, [lo_p, hi_p]))
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
        if not hi > lo:
            hi = lo + 1.0
    return (lo, hi)


def _meta(role: str, volume: Volume, study_key: str | None, order: tuple[int, int, int],
          frame: NDArray[np.float64]) -> dict[str, Any]:
    return {META_KEY: {"role": role, "info": volume.info, "affine": volume.affine.copy(),
                       "study_key": study_key, "order": order, "frame": frame.copy()}}


def _placement(volume: Volume, frame: NDArray[np.float64] | None
               ) -> tuple[Any, NDArray[np.float64], tuple[int, int, int], NDArray[np.float64]]:
    """(world-ordered array view, layer affine, axis order, display frame)."""
    d = np.eye(4) if frame is None else np.asarray(frame, dtype=np.float64)
    order = napari_axis_order(volume.affine)
    affine = d @ napari_affine(volume.affine)[:, [*order, 3]]
    return volume.array.transpose(order), affine, order, d


def image_layer_data(volume: Volume, *, role: str, name: str | None = None,
                     study_key: str | None = None, frame: NDArray[np.float64] | None = None,
                     **kwargs: Any) -> LayerDataTuple:
    """An image layer data tuple for a T1 (``role="t1"``) or fluid (``"fluid"``) volume.

    Both are grey-scale; the fluid series lies over the T1 (the review widget's **T**
    key flips between them). ``frame`` is the study's display frame (default identity).
    """
    sequence = volume.info.sequence or ("t1" if role == "t1" else None)
    data, affine, order, d = _placement(volume, frame)
    params: dict[str, Any] = {
        "name": name or display_name_for_sequence(sequence),
        "affine": affine,
        "contrast_limits": contrast_limits_for(volume.array, sequence),
        "colormap": "gray",
        "blending": "translucent",
        "interpolation2d": "nearest",
        "axis_labels": AXIS_LABELS,
        "units": ("mm", "mm", "mm"),
        "metadata": _meta(role, volume, study_key, order, d),
    }
    params.update(kwargs)
    return (data, params, "image")


def labels_features(labels: list[int] | None = None) -> dict[str, list[Any]]:
    """Features table (``index``, ``bone``) naming each label value after its bone."""
    values = sorted(BONES) if labels is None else labels
    return {"index": [0, *values],
            "bone": ["background", *(Bone(v).display_name for v in values)]}


def labels_layer_data(volume: Volume, *, role: str, name: str | None = None,
                      study_key: str | None = None, frame: NDArray[np.float64] | None = None,
                      **kwargs: Any) -> LayerDataTuple:
    """A labels layer data tuple for bone labels (``role="bones"``) or edema (``"edema"``).

    Colours are the vocabulary's (:func:`bmes_imaging.bones.label_colormap`), and the
    layer's features name each label after its bone (shown in napari's status bar).
    (The review widget draws bones as outlines: ``layer.contour = 1``.)
    """
    from napari.utils.colormaps import DirectLabelColormap

    colors: dict[int | None, Any] = {k: np.asarray(v) for k, v in label_colormap().items()}
    colors[None] = np.zeros(4)
    if volume.array.dtype != np.uint8:
        volume = volume.with_array(volume.array.astype(np.uint8))
    data, affine, order, d = _placement(volume, frame)
    params: dict[str, Any] = {
        "name": name or ("Bones" if role == "bones" else "Edema"),
        "affine": affine,
        "colormap": DirectLabelColormap(color_dict=colors),
        "features": labels_features(),
        "axis_labels": AXIS_LABELS,
        "units": ("mm", "mm", "mm"),
        "metadata": _meta(role, volume, study_key, order, d),
        "opacity": 0.7 if role == "bones" else 0.45,
    }
    params.update(kwargs)
    return (data, params, "labels")


#: Values of the "no fluid data" layer: hatch stripes and the ground between them.
FOV_STRIPE, FOV_GROUND = 1, 2
_FOV_COLOURS = {FOV_STRIPE: (0.85, 0.75, 0.15, 1.0), FOV_GROUND: (0.05, 0.05, 0.05, 1.0)}


def fluid_coverage(t1: Volume, fluid: Volume) -> NDArray[np.bool_]:
    """True at the T1 voxels whose centre lies inside the fluid series' field of view."""
    from bmes_imaging.geometry import apply_affine

    to_fluid = np.linalg.inv(fluid.affine) @ t1.affine
    shape = np.asarray(fluid.shape, dtype=np.float64)
    inside = np.ones(t1.shape, dtype=bool)
    for k in range(t1.shape[2]):  # slice by slice: small temporaries
        ij = np.indices(t1.shape[:2]).reshape(2, -1).T
        ijk = np.column_stack([ij, np.full(len(ij), k)])
        pos = apply_affine(to_fluid, ijk)
        ok = np.all((pos >= -0.5) & (pos <= shape - 0.5), axis=1)
        inside[:, :, k] = ok.reshape(t1.shape[:2])
    return inside


def fov_layer_data(t1: Volume, fluid: Volume, *, study_key: str | None = None,
                   frame: NDArray[np.float64] | None = None) -> LayerDataTuple:
    """A labels layer hatching the T1 voxels outside the fluid series' field of view.

    Shown over the T1 while the fluid series is shown, it keeps bright T1 fat from
    reading as fluid hyperintensity where there is no fluid image. Diagonal stripes in
    the T1's acquired plane on a dark ground; empty inside the field of view.
    """
    from napari.utils.colormaps import DirectLabelColormap

    outside = ~fluid_coverage(t1, fluid)
    i, j = np.indices(t1.shape[:2])
    stripes = ((i + j) % 8 < 2)[:, :, None]
    hatch = np.where(outside, np.where(stripes, FOV_STRIPE, FOV_GROUND), 0).astype(np.uint8)
    volume = t1.with_array(hatch)
    data, affine, order, d = _placement(volume, frame)
    colours: dict[int | None, Any] = {0: np.zeros(4), None: np.zeros(4)}
    colours.update({k: np.asarray(v) for k, v in _FOV_COLOURS.items()})
    name = f"No {display_name_for_sequence(fluid.info.sequence)} data"
    return (data, {
        "name": name, "affine": affine, "opacity": 0.85,
        "colormap": DirectLabelColormap(color_dict=colours),
        "axis_labels": AXIS_LABELS, "units": ("mm", "mm", "mm"),
        "metadata": _meta("fluid_fov", volume, study_key, order, d),
    }, "labels")


def study_layer_data(t1: Volume, fluid: Volume | None = None, *, bones: Volume | None = None,
                     edema: Volume | None = None,
                     study_key: str | None = None) -> list[LayerDataTuple]:
    """Layer data tuples of a study, bottom to top: T1, fluid, the hatch where there is
    no fluid data (:func:`fov_layer_data`), bones, edema.

    All share the display frame of the T1 (:func:`display_frame`).
    """
    key = study_key or t1.info.study_instance_uid
    d = display_frame(t1)
    layers = [image_layer_data(t1, role="t1", study_key=key, frame=d)]
    if fluid is not None:
        layers.append(image_layer_data(fluid, role="fluid", study_key=key, frame=d))
        layers.append(fov_layer_data(t1, fluid, study_key=key, frame=d))
    if bones is not None:
        layers.append(labels_layer_data(bones, role="bones", study_key=key, frame=d))
    if edema is not None:
        layers.append(labels_layer_data(edema, role="edema", study_key=key, frame=d))
    return layers


def display_frame(t1: Volume) -> NDArray[np.float64]:
    """The display frame ``D`` of a study whose reference series is ``t1``."""
    return napari_display_frame(t1.affine)


def layer_view(volume: Volume) -> Any:
    """The array of ``volume`` in the axis order its layer shows (a view, no copy)."""
    return volume.array.transpose(napari_axis_order(volume.affine))


def volume_from_layer(layer: Any) -> Volume:
    """The :class:`Volume` a layer shows (its data, its affine, its SeriesInfo).

    Uses the plugin's metadata when present (original axis order and RAS+ affine),
    else the layer's own affine (so labels drawn in any layer can be saved). The array
    is a view of the layer's data, not a copy.
    """
    meta = layer.metadata.get(META_KEY, {}) if isinstance(layer.metadata, dict) else {}
    data = layer.data
    if isinstance(data, list):  # multiscale: the full-resolution level
        data = data[0]
    order = meta.get("order")
    if order is not None and meta.get("affine") is not None:
        return Volume(np.asarray(data).transpose(np.argsort(order)), meta["affine"],
                      meta.get("info"))
    affine = meta.get("affine")
    if affine is None:
        # the layer's own placement: affine after scale and translate (napari's order)
        physical = np.eye(4)
        physical[:3, :3] = np.diag(np.asarray(layer.scale, dtype=np.float64)[-3:])
        physical[:3, 3] = np.asarray(layer.translate, dtype=np.float64)[-3:]
        affine = np.asarray(layer.affine.affine_matrix, dtype=np.float64)[-4:, -4:] @ physical
    return Volume(np.asarray(data), affine, meta.get("info"))

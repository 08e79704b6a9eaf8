"""Finding, placing and reusing a study's layers in a napari viewer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from bmes_imaging.volume import Volume

from .._layers import META_KEY, display_frame, labels_layer_data, layer_view, study_layer_data
from .._study import Study

__all__ = [
    "bones_layer_for_detection",
    "camera_of",
    "orient_for_plane",
    "orient_view",
    "plugin_meta",
    "show_labels",
    "show_study_layers",
    "study_layer_steps",
    "study_layers",
]

_ROLES = ("t1", "fluid", "fluid_fov", "bones", "edema")


def camera_of(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` since napari 0.9)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def plugin_meta(layer: Any) -> dict[str, Any] | None:
    """The plugin's metadata of a layer (role, info, affine...), or None."""
    meta = layer.metadata.get(META_KEY) if isinstance(layer.metadata, dict) else None
    return meta if isinstance(meta, dict) else None


def study_layers(viewer: Any, key: str | None) -> dict[str, Any]:
    """Layers by role of the study ``key`` (plus label maps opened on their own)."""
    out: dict[str, Any] = {}
    for layer in viewer.layers:
        meta = plugin_meta(layer)
        role = meta.get("role") if meta else None
        if meta and meta.get("warm_up"):
            continue  # the warm-up's, kept for the first study (._warm_layers)
        if meta and isinstance(role, str) and (key is None
                                               or meta.get("study_key") in (key, None)):
            out.setdefault(role, layer)
    return out


def bones_layer_for_detection(viewer: Any, key: str | None) -> Any:
    """The newest non-empty bone label layer of this study (or opened on its own)."""
    for layer in reversed(list(viewer.layers)):
        meta = plugin_meta(layer)
        if meta and meta.get("role") == "bones" and meta.get("study_key") in (key, None) \
                and np.any(layer.data):
            return layer
    return None


def show_study_layers(viewer: Any, study: Study,
                      tuples: list[tuple[Any, dict[str, Any], str]] | None = None) -> None:
    """Show the study's T1 and fluid series, reusing the layers of the previous study.

    Updating layers in place is much faster than removing and adding them (napari
    collects garbage and rebuilds its scene graph on every removal). Bone and edema
    layers of the previous study are emptied on the new T1 grid; detection or the
    saved review fills them again. The first study of a session takes the warm-up's
    hidden layers the same way (:mod:`._warm_layers`).
    """
    for _ in study_layer_steps(viewer, study, tuples):
        pass


def study_layer_steps(viewer: Any, study: Study,
                      tuples: list[tuple[Any, dict[str, Any], str]] | None = None
                      ) -> Iterator[str]:
    """:func:`show_study_layers` one layer at a time: yields after each layer (its
    role), so that the GUI can run between them (:class:`~._turns.Turns`)."""
    existing: dict[str, Any] = {}
    layers = [(layer, plugin_meta(layer)) for layer in viewer.layers]
    shown = {m.get("role") for _, m in layers if m is not None and not m.get("warm_up")}
    for layer, meta in layers:
        if meta is None:
            continue
        if meta.get("warm_up") and meta.get("role") in shown:
            # a layer of this role is shown already (a study opened through napari):
            # the warm-up's stays hidden (removing several layers under drawn ones
            # can crash vispy's draw under Xvfb / llvmpipe here)
            continue
        if meta.get("role") in existing or meta.get("role") not in _ROLES:
            viewer.layers.remove(layer)
        else:
            existing[meta["role"]] = layer
    if tuples is None:  # else prepared in a worker thread (percentiles, FOV hatch)
        tuples = study_layer_data(study.t1, study.fluid, study_key=study.key)
    empty = study.t1.with_array(np.zeros(study.t1.shape, np.uint8))
    frame = display_frame(study.t1)
    for role in ("bones", "edema"):
        if role in existing:
            warm = (plugin_meta(existing[role]) or {}).get("warm_up")
            name = None if warm else existing[role].name
            tuples.append(labels_layer_data(empty, role=role, study_key=study.key,
                                            frame=frame, name=name))
    hidden: list[tuple[str, Any]] = []  # shown last: a hidden layer is not re-sliced
    for data, params, kind in tuples:
        meta = params["metadata"][META_KEY]
        if study.source is not None:
            meta["source"] = str(study.source)
        layer = existing.pop(meta["role"], None)
        if layer is None or _kind_of(layer) != kind:
            if layer is not None:
                viewer.layers.remove(layer)
            getattr(viewer, f"add_{kind}")(data, **params)
            yield meta["role"]
            continue
        # each setter slices and redraws the layer (napari's way to defer that is
        # private; the plugin keeps to its public API, issue 19)
        layer.metadata = params["metadata"]
        layer.data = data
        layer.affine = params["affine"]
        if layer.name != params["name"]:
            layer.name = params["name"]
        if kind == "image":
            layer.reset_contrast_limits_range()
            layer.contrast_limits = params["contrast_limits"]
        if not layer.visible:  # every setter redraws: only what changes
            hidden.append((meta["role"], layer))
        yield meta["role"]
    for layer in existing.values():  # e.g. a fluid layer the new study lacks
        viewer.layers.remove(layer)
    # (the warm-up's layers, or one the reader hid): shown once every layer has its
    # data and placement, so that the later layers' extents do not re-slice them
    for role, layer in hidden:
        layer.visible = True
        yield role


def _kind_of(layer: Any) -> str:
    """``"image"`` / ``"labels"`` / ... (napari's layer type, by public class)."""
    from napari.layers import Image, Labels

    if isinstance(layer, Labels):
        return "labels"
    return "image" if isinstance(layer, Image) else type(layer).__name__.lower()


def show_labels(viewer: Any, volume: Volume, *, role: str, key: str,
                frame: np.ndarray, name: str | None = None,
                contour: int | None = None) -> Any:
    """Show a label map of the study: update its layer (by role) or add one; with
    ``contour`` (0: filled, 1: outlines) also set that."""
    layer = study_layers(viewer, key).get(role)
    if layer is not None:
        layer.data = layer_view(volume)
        if contour is not None and layer.contour != contour:
            layer.contour = contour
        return layer
    data, params, _ = labels_layer_data(volume, role=role, study_key=key, frame=frame,
                                        name=name)
    layer = viewer.add_labels(data, **params)
    if contour is not None and layer.contour != contour:
        layer.contour = contour
    return layer


def orient_view(viewer: Any, study: Study) -> None:
    """Sagittal reading view: slide along R, superior up, anterior to the left (other
    planes: napari's default order and orientation); then fit the view."""
    orient_for_plane(viewer, study.t1.info.plane)
    viewer.reset_view()


def orient_for_plane(viewer: Any, plane: str | None) -> None:
    """The axis order and 2-D orientation of :func:`orient_view` for a series acquired
    in ``plane``, each set only when it differs (a change re-slices every layer: the
    warm-up sets the sagittal one on its layers, so the first study pays nothing)."""
    sagittal = plane in (None, "sagittal")
    try:
        camera = camera_of(viewer)
        order = (0, 2, 1) if sagittal else tuple(range(viewer.dims.ndim))
        orientation = (("up", "left") if sagittal
                       else tuple(str(x) for x in type(camera)().orientation2d))
        if tuple(viewer.dims.order) != order:
            viewer.dims.order = order
        if tuple(str(x) for x in camera.orientation2d) != orientation:
            camera.orientation2d = orientation
    except (ValueError, AttributeError, TypeError):  # older napari: keep defaults
        pass

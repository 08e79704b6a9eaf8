"""What the canvas always says about the study: who, which foot, when; where no fluid is.

* :func:`show_study_caption`: patient, side and study date in napari's text overlay
  (top left, always visible while a study is open), so a wrong patient or foot on
  screen is seen at once; under it the slice position in mm and the orientation
  letters of the screen's top and left (:func:`view_line`, kept current by
  :class:`CaptionFollower`); napari's scale bar in mm.
* :func:`link_fov_to_fluid`: the hatch over the T1 where the fluid series has no data
  (:func:`.._layers.fov_layer_data`) is shown exactly while the fluid series is.
"""

from __future__ import annotations

from typing import Any

from .._study import Study
from ._viewer_layers import study_layers

__all__ = ["CaptionFollower", "link_fov_to_fluid", "scale_bar", "show_study_caption",
           "study_caption", "text_overlay", "view_line"]

_SIDES = {"L": "LEFT foot", "R": "RIGHT foot"}


def _date(value: str | None) -> str:
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or "date unknown"


def study_caption(study: Study | None) -> str:
    """``"Patient 2 · RIGHT foot · 2014-10-27 · T1 + STIR"`` (unknowns said so)."""
    if study is None:
        return ""
    from .._layers import display_name_for_sequence

    patient = f"Patient {study.patient_id}" if study.patient_id else "Patient unknown"
    side = _SIDES.get(study.side or "", "side unknown")
    series = "T1"
    if study.fluid is not None:
        series += f" + {display_name_for_sequence(study.fluid.info.sequence)}"
    return " · ".join([patient, side, _date(study.study_date), series])


def text_overlay(viewer: Any) -> Any:
    """The viewer's text overlay (``viewer.canvas.overlays.text`` since napari 0.9)."""
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    return overlays.text if overlays is not None else viewer.text_overlay


_POSITIVE = {"R": "R", "A": "A", "S": "S"}
_NEGATIVE = {"R": "L", "A": "P", "S": "I"}


def view_line(viewer: Any) -> str:
    """``"slice R +12.0 mm · top S · left A"``: where the slice is, in mm along its
    world axis, and which way the screen's top and left point (orientation letters)."""
    dims = viewer.dims
    labels = list(dims.axis_labels)
    if dims.ndisplay != 2 or dims.ndim < 3:
        return ""
    vertical, horizontal = (labels[a] for a in dims.displayed)
    from ._viewer_layers import camera_of

    up, left = "up", "right"
    try:
        up, left = (str(x) for x in camera_of(viewer).orientation2d)
    except (AttributeError, TypeError, ValueError):
        pass
    top = (_POSITIVE if up == "up" else _NEGATIVE).get(vertical, vertical)
    left_letter = (_POSITIVE if left == "left" else _NEGATIVE).get(horizontal, horizontal)
    parts = [f"slice {labels[a]} {float(dims.point[a]):+.1f} mm" for a in dims.not_displayed]
    return " · ".join([*parts, f"top {top}", f"left {left_letter}"])


def show_study_caption(viewer: Any, study: Study | None) -> None:
    """Put the study's caption (and the slice line, :func:`view_line`) in the viewer's
    text overlay; hidden with no study. Shows napari's scale bar (mm) with a study."""
    overlay = text_overlay(viewer)
    line = view_line(viewer) if study is not None else ""
    overlay.text = study_caption(study) + (f"\n{line}" if line else "")
    overlay.position = "top_left"
    overlay.font_size = 12
    overlay.color = (1.0, 0.85, 0.2, 1.0)
    overlay.visible = study is not None
    bar = scale_bar(viewer)
    if study is not None and not bar.visible:
        bar.visible = True


def scale_bar(viewer: Any) -> Any:
    """The viewer's scale bar (``viewer.canvas.overlays.scale_bar`` since napari 0.9)."""
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    return overlays.scale_bar if overlays is not None else viewer.scale_bar


class CaptionFollower:
    """Keeps the caption's slice line current as the reader scrolls or re-orients."""

    def __init__(self, viewer: Any) -> None:
        self.viewer = viewer
        self.study: Study | None = None
        viewer.dims.events.point.connect(self.update)
        viewer.dims.events.order.connect(self.update)

    def show(self, study: Study | None) -> None:
        """Show ``study``'s caption from now on."""
        self.study = study
        self.update()

    def update(self, event: Any = None) -> None:
        """Redraw the caption (dims changed)."""
        if self.study is not None:
            show_study_caption(self.viewer, self.study)

    def disconnect(self) -> None:
        """Stop following the viewer (the dock closes)."""
        for emitter in (self.viewer.dims.events.point, self.viewer.dims.events.order):
            try:
                emitter.disconnect(self.update)
            except (TypeError, ValueError, RuntimeError):
                pass


class _FovLink:
    """Keeps the hatch layer's visibility equal to the fluid layer's."""

    def __init__(self) -> None:
        self.fluid: Any = None
        self.fov: Any = None

    def follow(self, event: Any = None) -> None:
        if self.fluid is not None and self.fov is not None \
                and self.fov.visible != bool(self.fluid.visible):
            self.fov.visible = bool(self.fluid.visible)

    def link(self, fluid: Any, fov: Any) -> None:
        if self.fluid is not None:
            self.fluid.events.visible.disconnect(self.follow)
        self.fluid, self.fov = fluid, fov
        if fluid is not None:
            fluid.events.visible.connect(self.follow)
        self.follow()


def link_fov_to_fluid(viewer: Any, key: str | None, link: _FovLink | None = None
                      ) -> _FovLink:
    """Show the study's hatch layer exactly while its fluid layer is shown."""
    link = link or _FovLink()
    layers = study_layers(viewer, key)
    fluid, fov = layers.get("fluid"), layers.get("fluid_fov")
    link.link(fluid if fov is not None else None, fov)
    return link

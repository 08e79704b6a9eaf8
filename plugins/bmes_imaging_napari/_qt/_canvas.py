"""What the canvas always says about the study: who, which foot, when; where no fluid is.

* :func:`show_study_caption`: patient, side and study date in napari's text overlay
  (top left, always visible while a study is open), so a wrong patient or foot on
  screen is seen at once.
* :func:`link_fov_to_fluid`: the hatch over the T1 where the fluid series has no data
  (:func:`.._layers.fov_layer_data`) is shown exactly while the fluid series is.
"""

from __future__ import annotations

from typing import Any

from .._study import Study
from ._viewer_layers import study_layers

__all__ = ["link_fov_to_fluid", "show_study_caption", "study_caption", "text_overlay"]

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


def show_study_caption(viewer: Any, study: Study | None) -> None:
    """Put the study's caption in the viewer's text overlay (hidden with no study)."""
    overlay = text_overlay(viewer)
    overlay.text = study_caption(study)
    overlay.position = "top_left"
    overlay.font_size = 12
    overlay.color = (1.0, 0.85, 0.2, 1.0)
    overlay.visible = study is not None


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

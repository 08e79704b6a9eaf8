"""Follow-up view: a baseline and a follow-up study of one foot side by side, linked.

The dock takes two study folders (and, for studies that were screened, the ``bmes
screen`` output holding their bone and edema maps; a phantom study's truth is used
otherwise). Loading and registration (:func:`bmes_imaging.followup.open_follow_up_pair`)
run in a napari worker thread, never on the GUI thread.

Both time points are shown in the baseline's world frame: the follow-up is registered
to the baseline and resampled onto its grids. napari's grid mode puts each time point's
layers in one cell (``viewer.canvas.grid.stride`` = layers per time point, ``shape`` 1 x 2,
baseline left); the cells share the viewer's camera and dims, so slice, zoom, pan and
the cursor position are the same in both. Each cell is captioned with its date and the
per-bone edema volumes (with the change since baseline and the course for the
follow-up); the captions stand above the cells, in the dock, and the dates also in the
canvas' text overlay.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bmes_imaging.followup import FollowUpPair, TimePointImages, open_follow_up_pair
from bmes_imaging.geometry import apply_affine

from .._layers import META_KEY, display_frame, image_layer_data, labels_layer_data
from ._prompts import notify_error
from ._viewer_layers import camera_of

if TYPE_CHECKING:
    import napari

__all__ = ["FollowUpView"]

#: Metadata key marking the layers this view added (``"baseline"`` / ``"follow_up"``).
ROLE_KEY = "bmes_follow_up"


LayerTuple = tuple[Any, dict[str, Any], str]


def _pair_layers(pair: FollowUpPair, follow: TimePointImages) -> list[LayerTuple]:
    """Layer data tuples: the baseline's, then the follow-up's, the same kinds in each."""
    base = pair.baseline
    d = display_frame(base.t1)
    out: list[LayerTuple] = []
    for tp, which, label in ((base, "baseline", "Baseline"), (follow, "follow_up", "Follow-up")):
        meta = {ROLE_KEY: which}
        name = f"{label} {tp.date_text}"
        layers = [image_layer_data(tp.t1, role="t1", name=f"T1 {name}", frame=d)]
        if base.fluid is not None and follow.fluid is not None:
            assert tp.fluid is not None
            layers.append(image_layer_data(tp.fluid, role="fluid", name=f"Fluid {name}",
                                           frame=d, visible=False))
        if base.bones is not None and follow.bones is not None:
            assert tp.bones is not None
            layers.append(labels_layer_data(tp.bones, role="bones", name=f"Bones {name}",
                                            frame=d, opacity=0.8))
        if base.edema is not None and follow.edema is not None:
            assert tp.edema is not None
            layers.append(labels_layer_data(tp.edema, role="edema", name=f"Edema {name}",
                                            frame=d, opacity=0.7))
        for _, params, _ in layers:
            params["metadata"] = {**params.get("metadata", {}), **meta}
        out.extend(layers)
    return out


def _load(baseline: Path, follow_up: Path, screen: Path | None
          ) -> tuple[FollowUpPair, TimePointImages]:
    """Worker body: open, register and resample (off the GUI thread)."""
    pair = open_follow_up_pair(baseline, follow_up, screen_dir=screen)
    return pair, pair.follow_up_on_baseline_grid()


class FollowUpView(QWidget):
    """Dock widget: two time points of one foot side by side in napari's grid mode."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.pair: FollowUpPair | None = None
        self.worker: Any = None
        self.baseline_edit, self.follow_edit, self.screen_edit = (
            QLineEdit(), QLineEdit(), QLineEdit())
        self.screen_edit.setPlaceholderText("bmes screen output (optional)")
        form = QFormLayout()
        for text, edit in (("Baseline", self.baseline_edit), ("Follow-up", self.follow_edit),
                           ("Screening", self.screen_edit)):
            row = QHBoxLayout()
            row.addWidget(edit)
            browse = QPushButton("…")
            browse.setToolTip(f"Choose the {text.lower()} folder")
            browse.clicked.connect(lambda _=False, e=edit: self._browse(e))
            row.addWidget(browse)
            form.addRow(text, row)
        self.open_button = QPushButton("Open side by side")
        self.open_button.clicked.connect(self._open_clicked)
        self.status = QLabel("Choose a baseline and a follow-up study folder.")
        self.status.setWordWrap(True)
        self.captions = (QLabel(), QLabel())
        grid = QGridLayout()
        for col, cap in enumerate(self.captions):
            cap.setWordWrap(True)
            grid.addWidget(cap, 0, col)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.open_button)
        layout.addWidget(self.status)
        layout.addLayout(grid)
        layout.addStretch(1)

    # -- opening ------------------------------------------------------------------------
    def _browse(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Study folder", edit.text())
        if folder:
            edit.setText(folder)

    def _open_clicked(self) -> None:
        base, fu = self.baseline_edit.text().strip(), self.follow_edit.text().strip()
        if not base or not fu:
            self.status.setText("Choose both a baseline and a follow-up study folder.")
            return
        self.open_pair(base, fu, self.screen_edit.text().strip() or None)

    def open_pair(self, baseline: str | os.PathLike[str], follow_up: str | os.PathLike[str],
                  screen_dir: str | os.PathLike[str] | None = None) -> Any:
        """Open the two studies in a worker thread; returns the started worker."""
        from napari.qt.threading import create_worker

        self.baseline_edit.setText(str(baseline))
        self.follow_edit.setText(str(follow_up))
        self.open_button.setEnabled(False)
        self.status.setText("Loading and registering the two studies…")
        worker = create_worker(_load, Path(baseline), Path(follow_up),
                               Path(screen_dir) if screen_dir else None, _start_thread=False,
                               _ignore_errors=True)  # errors go to _on_error
        worker.returned.connect(self._on_loaded)
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: self.open_button.setEnabled(True))
        self.worker = worker
        worker.start()
        return worker

    def _on_error(self, exc: BaseException) -> None:
        self.status.setText(f"Could not open the pair: {exc}")
        notify_error(f"Follow-up view: {exc}")

    def _on_loaded(self, result: tuple[FollowUpPair, TimePointImages]) -> None:
        pair, follow = result
        self.show_pair(pair, follow)

    # -- showing ------------------------------------------------------------------------
    def own_layers(self, which: str | None = None) -> list[Any]:
        """Layers this view added (``which``: ``"baseline"`` / ``"follow_up"``)."""
        return [ly for ly in self.viewer.layers
                if isinstance(ly.metadata, dict) and ly.metadata.get(ROLE_KEY)
                and (which is None or ly.metadata[ROLE_KEY] == which)]

    def show_pair(self, pair: FollowUpPair, follow: TimePointImages) -> None:
        """Show ``pair`` (``follow``: its follow-up on the baseline grids) side by side."""
        for layer in self.own_layers():
            self.viewer.layers.remove(layer)
        others = list(self.viewer.layers)
        for layer in others:  # only visible layers take a grid cell
            layer.visible = False
        tuples = _pair_layers(pair, follow)
        added = [getattr(self.viewer, f"add_{kind}")(data, **params)
                 for data, params, kind in tuples]
        for layer in added:  # bones as outlines, as in the review (edema stays visible)
            if layer.metadata.get(META_KEY, {}).get("role") == "bones":
                layer.contour = 1
        indices = [self.viewer.layers.index(ly) for ly in added]
        self.viewer.layers.move_multiple(indices, 0)
        grid = self.viewer.canvas.grid
        grid.stride = len(added) // 2
        grid.shape = (1, 2)
        grid.spacing = 6
        grid.enabled = True
        self.viewer.dims.ndisplay = 2
        self.pair = pair
        for col, cap in enumerate(self.captions):
            cap.setText(pair.caption(col))
        days = f" (+{pair.days} days)" if pair.days is not None else ""
        overlay = self.viewer.canvas.overlays["text"]
        overlay.text = (f"Baseline {pair.baseline.date_text}   |   "
                        f"Follow-up {pair.follow_up.date_text}{days}")
        overlay.position = "top_center"
        overlay.visible = True
        reg = pair.registration
        hidden = f"; {len(others)} other layer(s) hidden" if others else ""
        self.status.setText(f"Registered on {len(reg.bones_used)} bones: rms "
                            f"{reg.rms_mm:.2f} mm, rotation {reg.rotation_deg:.1f}°{hidden}.")
        if pair.baseline.t1.info.plane in (None, "sagittal"):
            # the review's sagittal reading view: superior up, anterior to the left
            self.viewer.dims.order = (0, 2, 1)
            camera_of(self.viewer).orientation2d = ("up", "left")
        self.viewer.reset_view()
        self._go_to_edema(pair)

    def _go_to_edema(self, pair: FollowUpPair) -> None:
        """Slice through the baseline's edema (else its bones) in every view."""
        base = pair.baseline
        labels = base.edema if base.edema is not None and np.any(base.edema.array) else base.bones
        if labels is None or not np.any(labels.array):
            return
        centre = np.argwhere(np.asarray(labels.array) > 0).mean(axis=0)
        world = apply_affine(display_frame(base.t1) @ labels.affine, [centre])[0]
        self.viewer.dims.set_point(range(3), tuple(float(v) for v in world))

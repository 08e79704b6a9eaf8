"""Make ``docs/review.png``: a real screenshot of the review workflow on the sample study.

Opens napari with the review widget and the clinical panel, opens the sample phantom
study (generated and cached on first use), runs detection, confirms the first positive
finding and jumps to it, then saves a screenshot of the whole window; then
``docs/review_views.png`` (sagittal, coronal and axial views linked by the crosshair)
and ``docs/review_picker.png`` (the study picker on a folder of three studies).

Needs a display; on a headless machine::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tools/screenshot_review.py

Options: ``--study FOLDER`` (default: the sample study), ``--bones LABELS.nii.gz``
(default: automatic bone masks), ``--out PATH`` (default ``docs/review.png``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    """Process Qt events until ``condition()`` is true (or fail after ``timeout`` s)."""
    from qtpy.QtWidgets import QApplication

    deadline = time.monotonic() + timeout
    while not condition():
        QApplication.processEvents()
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for the viewer")
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, help="study folder (default: sample study)")
    parser.add_argument("--bones", type=Path, help="bone label map (default: automatic)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "review.png")
    parser.add_argument("--size", default="1600x1000", help="window size WxH")
    args = parser.parse_args(argv)

    import napari

    from bmes_imaging.clinical import sample_table_path
    from bmes_imaging.store import open_store
    from bmes_imaging_napari._qt._clinical_panel import ClinicalPanel
    from bmes_imaging_napari._qt._review_widget import ReviewWidget
    from bmes_imaging_napari._sample_data import sample_study_dir

    study_dir = args.study or sample_study_dir()
    tmp = Path(tempfile.mkdtemp(prefix="bmes-screenshot-"))
    store = open_store(tmp / "bmes.sqlite")
    store.import_clinical(sample_table_path())

    viewer = napari.Viewer(title="bmes-imaging review", show=True)
    width, height = (int(v) for v in args.size.split("x"))
    viewer.window.resize(width, height)
    panel = ClinicalPanel(viewer, store=store)
    review = ReviewWidget(viewer, store=store, cache=tmp / "cache", autosave_ms=0)
    review.ask_unsaved = lambda: "discard"
    review.ask_yes_no = lambda question: True
    viewer.window.add_dock_widget(review, name="Review", area="right")
    viewer.window.add_dock_widget(panel, name="Clinical record", area="right",
                                  tabify=False)
    review.reader_edit.setText("A. Reader")
    review.model.reader = "A. Reader"
    if not review.open_study(study_dir):
        print(f"could not open {study_dir}", file=sys.stderr)
        return 1
    if args.bones:
        viewer.open(str(args.bones), plugin="bmes-imaging")
    worker = review.run_detection()
    if worker is None:
        return 1
    from qtpy.QtCore import QEventLoop

    loop = QEventLoop()  # wait in a real event loop (busy polling starves the worker)
    worker.finished.connect(loop.quit)
    if review.worker is not None:
        loop.exec()
    positives = [f for f in review.model.findings if f.edema_volume_ml > 0]
    if positives:
        review.select_bone(positives[0].bone)
        review.confirm_selected()
    viewer.layers.selection.active = review.edema_layer
    wait_for(lambda: True)
    for _ in range(20):  # let the canvas and docks settle
        from qtpy.QtWidgets import QApplication

        QApplication.processEvents()
        time.sleep(0.02)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False, flash=False)
    print(f"wrote {args.out} ({len(positives)} positive bone(s): "
          + ", ".join(f.bone.display_name for f in positives) + ")")
    if positives:
        _linked_views_picture(review, args.out.with_name("review_views.png"))
    _picker_picture(review, args.out.with_name("review_picker.png"))
    review.model.dirty = False
    viewer.close()
    store.close()
    return 0


def _settle(n: int = 20) -> None:
    from qtpy.QtWidgets import QApplication

    for _ in range(n):
        QApplication.processEvents()
        time.sleep(0.02)


def _linked_views_picture(review: object, out: Path) -> None:
    """The sagittal, coronal and axial views side by side, linked by the crosshair
    through the confirmed finding's centre."""
    import numpy as np
    from PIL import Image

    linked = review.view_tools.open_linked_views()  # type: ignore[attr-defined]
    bone = review.selected_bone()  # type: ignore[attr-defined]
    if bone is not None:
        review.jump_to(bone)  # type: ignore[attr-defined]
    _settle(30)
    shots = []
    for viewer in linked.viewers:
        viewer.reset_view()
        _settle(5)
        img = np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3]
        shots.append(Image.fromarray(img).resize((420, 420)))
    row = Image.new("RGB", (420 * len(shots) + 8 * (len(shots) - 1), 420), (40, 40, 40))
    for i, shot in enumerate(shots):
        row.paste(shot, (i * 428, 0))
    row.save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} kB)")
    review.view_tools.close_linked_views()  # type: ignore[attr-defined]


def _picker_picture(review: object, out: Path) -> None:
    """The study picker on a folder holding three phantom studies."""
    import tempfile

    from bmes_imaging import phantom
    from bmes_imaging.study import find_study_choices
    from bmes_imaging_napari._qt._study_picker import StudyPicker

    root = Path(tempfile.mkdtemp(prefix="bmes-picker-"))
    specs = dict(phantom.cohort_specs("table1", controls=0, resolution=3.0))
    feet = list(specs)[:3]
    for name in feet:
        phantom.write_study(specs[name], root / name)
    dialog = StudyPicker(find_study_choices(root), folder=root.name)
    dialog.show()
    _settle(10)
    dialog.grab().save(str(out))
    dialog.close()
    print(f"wrote {out} ({out.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    sys.exit(main())

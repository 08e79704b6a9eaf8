"""The napari side of ``bmes view``: a viewer with the review docks and, optionally, a study.

The command line (``bmes_imaging.cli._view``) checks its arguments and then calls
:func:`open_review_viewer`, so the core package never imports napari or Qt itself.
"""

from __future__ import annotations

from pathlib import Path

from bmes_imaging.errors import BmesError


def open_review_viewer(path: Path | None = None, *, bones: Path | None = None,
                       queue: Path | None = None, sample: bool = False,
                       detect: bool = False) -> int:
    """Open napari with the Review and Clinical record docks; return when it is closed.

    Parameters
    ----------
    path
        Study folder (DICOM or t1/stir NIfTI) or NIfTI file to open.
    bones
        Bone label map to open (used by detection instead of automatic masks).
    queue
        Folder of studies for the Study queue dock.
    sample
        Open the phantom sample study instead of ``path``.
    detect
        Run detection as soon as the study is open.
    """
    import napari

    viewer = napari.Viewer(title="bmes-imaging review")
    viewer.window.add_plugin_dock_widget("bmes-imaging", "Clinical record")
    _, review = viewer.window.add_plugin_dock_widget("bmes-imaging", "Review")
    if queue is not None:
        _, queue_widget = viewer.window.add_plugin_dock_widget("bmes-imaging", "Study queue")
        queue_widget.set_folder(queue)
    if sample:
        viewer.open_sample("bmes-imaging", "phantom_study")
        review.adopt_layers()
    elif path is not None:
        if path.is_dir():
            if not review.open_study(path):
                raise BmesError(f"{path}: could not open the study (see the message "
                                "in the viewer)")
        else:
            viewer.open(str(path), plugin="bmes-imaging")
    if bones is not None:
        viewer.open(str(bones), plugin="bmes-imaging")
    if detect and review.model.study is not None:
        review.run_detection()
    napari.run()
    return 0

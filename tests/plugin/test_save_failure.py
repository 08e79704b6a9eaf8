"""A save that fails for real (the store's folder remounted read-only) keeps the review.

The reader is told why in one line and asked: retry, save a copy elsewhere, or cancel.
The review stays unsaved in memory (and in the recovery file); once the store is
writable again, the same review saves.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bmes_imaging.store import open_store
from bmes_imaging_napari._qt._review_widget import ReviewWidget

pytestmark = pytest.mark.gui


@pytest.fixture
def store_folder(tmp_path: Path) -> Any:
    folder = tmp_path / "store"
    folder.mkdir()
    mounted: list[Path] = []

    def read_only(on: bool) -> None:
        if on:
            try:
                subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True,
                               capture_output=True)
                mounted.append(folder)
                subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True,
                               capture_output=True)
            except (subprocess.CalledProcessError, FileNotFoundError) as exc:
                pytest.skip(f"cannot bind-mount read-only here (needs root): {exc}")
        else:
            subprocess.run(["umount", str(folder)], check=True)
            mounted.remove(folder)

    yield folder, read_only
    for f in mounted:
        subprocess.run(["umount", "-l", str(f)], check=False)


def test_failed_save_keeps_the_review_and_offers_retry_and_a_copy(
        make_napari_viewer: Any, qtbot: Any, nifti_study_dir: Path, tmp_path: Path,
        store_folder: Any) -> None:
    folder, read_only = store_folder
    store = open_store(folder / "bmes.sqlite")
    try:
        viewer = make_napari_viewer()
        widget = ReviewWidget(viewer, store=store, cache=tmp_path / "cache", autosave_ms=0)
        viewer.window.add_dock_widget(widget, name="Review")
        widget.ask_unsaved = lambda: "discard"
        widget.ask_yes_no = lambda question: True
        widget.reader_edit.setText("dr_a")
        widget._on_reader_changed()
        widget.model.detect_options["refine_alignment"] = False
        assert widget.open_study(nifti_study_dir)
        viewer.open(str(nifti_study_dir.parent / "bones.nii.gz"), plugin="bmes-imaging")
        assert widget.run_detection() is not None
        qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
        widget.confirm_selected()
        assert widget.model.dirty
        # the detector's candidates are stored in a worker: done before the remount
        qtbot.waitUntil(lambda: not widget.jobs.busy(), timeout=30_000)

        read_only(True)
        # the store's label maps live in its database now: a connection opened before
        # the remount would still write; the reader's store is the one opened on it
        store.close()
        store = open_store(folder / "bmes.sqlite")
        widget.model.store = store
        reasons: list[str] = []
        answers = ["retry", "cancel"]

        def ask(reason: str) -> str:
            reasons.append(reason)
            return answers.pop(0)

        widget.ask_save_failed = ask  # type: ignore[method-assign]
        assert widget.save() is False
        assert len(reasons) == 2  # asked, retried, asked again
        assert all("\n" not in r and "read-only" in r for r in reasons), reasons
        assert widget.model.dirty and widget.model.findings  # kept, unsaved
        assert widget.model.has_recovery()  # and protected in the recovery file
        copy = widget.save_copy(tmp_path / "copy")
        assert copy is not None
        assert sorted(p.name for p in copy.iterdir()) == [
            "review_dr_a_edema.nii.gz", "review_dr_a_findings.json"]

        store.close()  # the remount needs the store's files closed
        read_only(False)
        store = open_store(folder / "bmes.sqlite")
        widget.model.store = store
        assert widget.save() is True
        assert not widget.model.dirty
        assert store.latest_annotation(widget.model.study_key, "dr_a") is not None
    finally:
        store.close()

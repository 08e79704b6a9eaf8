"""The napari reader opens what ``bmes index`` reads: one rule for what a DICOM file is.

Old CD copies and some PACS exports hold DICOM files without the Part 10 preamble
(no ``DICM`` at byte 128, no File Meta group) and without a ``.dcm`` name. The core's
index reads them; the plugin's reader, the review dock and the Study queue open
folders through the core (:mod:`bmes_imaging.study`), so they open such a folder too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import ImplicitVRLittleEndian

from bmes_imaging.cli import main as bmes_main
from bmes_imaging.dicom import index_folder, load_series
from bmes_imaging.study import find_study_choices
from bmes_imaging_napari._reader import get_reader, read_study

#: the bundled phantom study (T1 + STIR of Table 1's p02_R, written by bmes phantom)
SAMPLE = Path(__file__).parents[2] / "sample_data" / "study_p02_R" / "dicom"


@pytest.fixture(scope="module")
def bare_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled phantom study's T1 and STIR slices, every one rewritten without the
    preamble and File Meta group (implicit VR little endian), named without an
    extension, in one flat folder beside a text file."""
    out = tmp_path_factory.mktemp("bare") / "CDCOPY"
    out.mkdir()
    for i, f in enumerate(sorted(SAMPLE.iterdir())):
        ds = pydicom.dcmread(f)
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.preamble = None
        ds.save_as(out / f"I{i:04d}", enforce_file_format=False, implicit_vr=True,
                   little_endian=True)
        del ds
    (out / "README.TXT").write_text("exported by a CD burner\n")
    return out


def test_the_files_have_no_preamble(bare_study: Path) -> None:
    for f in sorted(bare_study.glob("I*")):
        head = f.read_bytes()[:132]
        assert head[128:132] != b"DICM", f.name
        assert not f.suffix


def test_a_folder_bmes_index_reads_opens_in_the_napari_reader(bare_study: Path,
                                                              capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    assert bmes_main(["index", str(bare_study)]) == 0
    listed = capsys.readouterr().out
    index = index_folder(bare_study)
    sequences = sorted(s.sequence or "" for s in index.stacks)
    assert sequences == ["stir", "t1"]
    for stack in index.stacks:  # bmes index lists both series
        assert stack.series_description in listed

    reader = get_reader(str(bare_study))
    assert reader is read_study
    layers = reader(str(bare_study))
    by_role = {params["metadata"]["bmes_imaging"]["role"]: (data, params)
               for data, params, kind in layers if kind == "image"}
    assert {"t1", "fluid"} <= set(by_role)
    for stack in index.stacks:  # the layers hold the very voxels the core loads
        role = "t1" if stack.sequence == "t1" else "fluid"
        data, params = by_role[role]
        expected = load_series(stack).array
        assert np.asarray(data).size == expected.size
        assert np.array_equal(np.sort(np.asarray(data).ravel()), np.sort(expected.ravel()))
        assert params["metadata"]["bmes_imaging"]["source"] == str(bare_study)


@pytest.mark.gui
def test_the_queue_and_the_review_open_that_folder(make_napari_viewer, qtbot: Any,
                                                   bare_study: Path, tmp_path: Path) -> None:
    """The Study queue lists the study the core finds there (its side from the
    headers) and the review dock opens it, in the background, as the core loads it."""
    from bmes_imaging.store import open_store
    from bmes_imaging_napari._qt._queue_widget import QueueWidget
    from bmes_imaging_napari._qt._review_widget import ReviewWidget

    viewer = make_napari_viewer()
    review = ReviewWidget(viewer, store=open_store(tmp_path / "bmes.sqlite"),
                          cache=tmp_path / "cache", autosave_ms=0)
    review.model.reader = "dr_a"
    queue = QueueWidget(viewer, review=review)
    queue.set_folder(bare_study.parent)
    qtbot.waitUntil(lambda: not queue.scanning, timeout=30_000)
    (pair,) = find_study_choices(bare_study)
    assert [(e.path, e.key) for e in queue.entries] == [(bare_study, pair.key)]
    assert queue.list.item(0).text() == "• CDCOPY"
    assert queue.open_next_unreviewed()
    qtbot.waitUntil(lambda: review.model.study is not None, timeout=60_000)
    qtbot.waitUntil(lambda: not review.jobs.busy(), timeout=30_000)
    study = review.model.study
    assert study.key == pair.key and study.side == pair.side
    assert np.array_equal(study.t1.array, load_series(pair.pair.t1).array)
    assert {"t1", "fluid"} <= set(review._study_layers())
    review.model.store.close()

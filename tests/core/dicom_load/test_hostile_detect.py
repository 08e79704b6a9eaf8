"""``bmes detect`` on a legal but unusual study: RescaleSlope -1 in every file (issue 21).

The volumes load negated (stored values x -1); detection may find nothing sensible in
them, but it must end cleanly and write ``involvement.csv`` and ``overlay.png``
(the overlay's grey range used to be 0 .. a negative maximum: a matplotlib ValueError).
"""

from __future__ import annotations

import warnings

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from bmes_imaging.cli import main
from bmes_imaging.dicom import index_folder, load_series
from bmes_imaging.phantom import PhantomSpec, write_study


def test_detect_with_rescale_slope_minus_one_everywhere(tmp_path, capsys) -> None:
    study = write_study(PhantomSpec(seed=5, resolution=2.0, edema_bones=("talus",)),
                        tmp_path / "study")
    files = [p for p in (study / "dicom").rglob("*") if p.is_file()]
    tag = Tag(0x00281053)
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(f)
        ds._dict[tag] = RawDataElement(tag, "DS", 2, b"-1", 0, False, True)
        ds.save_as(f)
    t1 = next(s for s in index_folder(study / "dicom").stacks if s.sequence == "t1")
    assert float(load_series(t1).array.max()) <= 0.0  # negated values
    out = tmp_path / "out"
    rc = main(["detect", str(study / "dicom"), "--out", str(out),
               "--bones", str(study / "truth" / "bones.nii.gz")])
    printed = capsys.readouterr()
    assert rc == 0, printed.out + printed.err
    assert (out / "involvement.csv").is_file() and (out / "overlay.png").stat().st_size > 0
    assert "Traceback" not in printed.err
    with open(out / "involvement.csv") as f:
        assert len(f.read().splitlines()) > 1

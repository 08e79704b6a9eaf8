"""Property: mutated files give a Volume or a project error naming the file, nothing else.

Valid files written by write_series (native explicit VR, and a JPEG 2000 copy) are
damaged: truncated at a random offset, random bytes flipped, geometry and image tags
removed or given malformed values. Loading (read_stack on the files, load_series on the
folder, through the index) must then return a Volume or raise a
BmesError subclass whose message names a file of the series.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmes_imaging.dicom import load_series, write_series
from bmes_imaging.dicom._frames import file_errors
from bmes_imaging.dicom._load import read_stack
from bmes_imaging.errors import BmesError
from bmes_imaging.volume import Volume

TAGS = ["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows",
        "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation",
        "SamplesPerPixel", "RescaleSlope", "RescaleIntercept", "PixelData",
        "PhotometricInterpretation", "NumberOfFrames", "SeriesInstanceUID"]
JUNK_TEXT = st.sampled_from(["", "abc", "1\\2", "nan\\0\\0", "1e400\\0\\0",
                             "0\\0\\0\\0\\0\\0", "1\\0\\0\\1\\0\\0", "-1\\-1",
                             "0\\0", "1\\2\\3\\4\\5\\6\\7", "  ", "\x00\x01"])
JUNK_INT = st.sampled_from([0, 1, 3, 7, 12, 15, 17, 33, 64, 255, 65535])


@pytest.fixture(scope="module")
def base_series(tmp_path_factory):
    root = tmp_path_factory.mktemp("mut")
    rng = np.random.default_rng(0)
    affine = np.diag([0.5, 0.6, 2.5, 1.0])
    affine[:3, 3] = [3.0, -4.0, 5.0]
    vol = Volume(rng.uniform(0, 500, (12, 10, 5)).astype(np.float32), affine)
    native = write_series(vol, root / "native", patient_id="1", uid_seed="m", shuffle_seed=1)
    series = {"native": native}
    if shutil.which("gdcmconv"):
        import subprocess

        (root / "j2k").mkdir()
        j2k = []
        for f in native:
            subprocess.run(["gdcmconv", "--j2k", str(f), str(root / "j2k" / f.name)],
                           check=True, capture_output=True)
            j2k.append(root / "j2k" / f.name)
        series["j2k"] = j2k
    return series


def _set_tag(path: Path, keyword: str, action: str, text: str, number: int) -> None:
    from pydicom.config import disable_value_validation

    # pydicom warns about the invalid values written here on purpose; only this writing
    # step is quiet: while loading, a warning turned into an error would fail the test
    with warnings.catch_warnings(), disable_value_validation():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
        if action == "remove":
            if keyword in ds:
                del ds[keyword]
        elif keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored",
                         "PixelRepresentation", "SamplesPerPixel"):
            setattr(ds, keyword, number)
        elif keyword == "PixelData":
            ds.PixelData = bytes(ds.PixelData)[: number % max(1, len(ds.PixelData))]
        elif keyword == "NumberOfFrames":
            ds.NumberOfFrames = str(number)
        else:
            tag = pydicom.datadict.tag_for_keyword(keyword)
            vr = pydicom.datadict.dictionary_VR(tag)
            ds[tag] = pydicom.DataElement(tag, vr, text)
        ds.save_as(path)


mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0.0, 1.0),
                                                  st.integers(1, 255)),
                                        min_size=1, max_size=12)),
    st.tuples(st.just("tag"), st.tuples(st.sampled_from(TAGS),
                                        st.sampled_from(["remove", "malform"]),
                                        JUNK_TEXT, JUNK_INT)),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["native", "j2k"]),
       mutations=st.lists(st.tuples(st.integers(0, 4), mutation), min_size=1, max_size=3))
def test_mutated_series_loads_or_raises_project_error(base_series, kind, mutations):
    if kind not in base_series:
        kind = "native"
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for f in base_series[kind]:
            target = Path(tmp) / f.name
            shutil.copyfile(f, target)
            files.append(target)
        for index, (what, arg) in mutations:
            path = files[index]
            if what == "truncate":
                data = path.read_bytes()
                path.write_bytes(data[: int(arg * len(data))])
            elif what == "flip":
                data = bytearray(path.read_bytes())
                for where, bits in arg:
                    if data:
                        data[min(len(data) - 1, int(where * len(data)))] ^= bits
                path.write_bytes(bytes(data))
            else:
                try:
                    _set_tag(path, *arg)
                except file_errors():
                    continue  # an earlier mutation already broke the file for pydicom
        for load in (read_stack, load_series):
            source = files if load is read_stack else Path(tmp)
            try:
                vol = load(source)
            except BmesError as exc:
                message = str(exc)
                # errors name the file(s); a folder split into stacks names the stacks
                assert (any(f.name in message for f in files)
                        or "image stacks" in message), message
            else:
                assert isinstance(vol, Volume) and vol.array.ndim == 3
                assert np.all(np.isfinite(vol.affine))

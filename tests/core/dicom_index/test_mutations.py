"""Property test: mutated files (truncated, flipped bytes, broken geometry tags).

The index never raises and accounts for the file (in a stack or rejected with a
reason); loading what it stacks gives a Volume or a project error.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmes_imaging import Volume
from bmes_imaging.dicom import index_files, load_series, write_series
from bmes_imaging.errors import BmesError


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory) -> list[bytes]:
    """Bytes of a few valid files: explicit VR, implicit VR, no preamble."""
    d = tmp_path_factory.mktemp("valid")
    vol = Volume(np.arange(6 * 5 * 3, dtype=np.float32).reshape(6, 5, 3),
                 np.diag([0.7, 0.7, 3.0, 1.0]))
    files = write_series(vol, d, patient_id="1", uid_seed="mut", series_description="t1",
                         attributes={"RepetitionTime": 500, "EchoTime": 10})
    out = [files[0].read_bytes()]
    ds = pydicom.dcmread(files[1])
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(d / "implicit", enforce_file_format=True)
    out.append((d / "implicit").read_bytes())
    ds.preamble = None
    ds.save_as(d / "bare", enforce_file_format=False, implicit_vr=True, little_endian=True)
    out.append((d / "bare").read_bytes())
    return out


GEOMETRY_TAGS = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
                 "Rows", "Columns", "BitsAllocated", "SeriesInstanceUID",
                 "TransferSyntaxUID")
BAD_VALUES = ("", "abc", "1\\2", "nan\\nan\\nan", "1e400\\0\\0\\0\\1\\0", "0\\0\\0\\0\\0\\0",
              "-1\\-1")


def _mutate_tag(data: bytes, keyword: str, value: str | None) -> bytes:
    import warnings

    with warnings.catch_warnings():  # the test's own pydicom edits may be invalid
        warnings.simplefilter("ignore")
        return _mutate_tag_quiet(data, keyword, value)


def _mutate_tag_quiet(data: bytes, keyword: str, value: str | None) -> bytes:
    import io

    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    target = ds.file_meta if keyword == "TransferSyntaxUID" else ds
    if value is None:
        if keyword in target:
            delattr(target, keyword)
    else:
        elem = target.data_element(keyword)
        if elem is not None:
            if elem.VR == "US":  # numbers: out-of-range sizes instead of text
                elem._value = (len(value) * 4099) % 65536
            else:
                elem._value = value  # raw, possibly invalid text
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0.0, 1.0),
                                                  st.integers(1, 255)),
                                        min_size=1, max_size=12)),
    st.tuples(st.just("tag"), st.tuples(st.sampled_from(GEOMETRY_TAGS),
                                        st.one_of(st.none(), st.sampled_from(BAD_VALUES)))),
)


def _apply(data: bytes, m: tuple) -> bytes:
    kind, arg = m
    if kind == "truncate":
        return data[:int(arg * len(data))]
    if kind == "flip":
        if not data:
            return data
        b = bytearray(data)
        for where, xor in arg:
            i = min(int(where * len(b)), len(b) - 1)
            b[i] ^= xor
        return bytes(b)
    keyword, value = arg
    try:
        return _mutate_tag(data, keyword, value)
    except Exception:  # noqa: BLE001 - pydicom cannot edit this (already mangled) file
        return data  # nothing to add: the earlier mutations stand


def _mutant(valid_files: list[bytes], which: int, mutations: list[tuple]) -> bytes:
    data = valid_files[which]
    for m in mutations:
        data = _apply(data, m)
    return data


SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
MUTANTS = {"which": st.integers(0, 2),
           "mutations": st.lists(mutation, min_size=1, max_size=3)}


@SETTINGS
@given(**MUTANTS)
def test_mutated_files_never_crash_the_index(valid_files, which, mutations):
    """Index only: never raises (warnings are errors here), every file accounted for."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "mutant"
        path.write_bytes(_mutant(valid_files, which, mutations))
        index = index_files([path])
        used = [f for s in index.stacks for f in s.files]
        assert sorted(used + [r.path for r in index.rejected]) == [path]
        assert all(r.reason for r in index.rejected)


@SETTINGS
@given(**MUTANTS)
def test_mutated_files_load_or_raise_project_error(valid_files, which, mutations):
    """Index then load: a Volume or a BmesError, nothing else."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "mutant"
        path.write_bytes(_mutant(valid_files, which, mutations))
        for stack in index_files([path]).stacks:
            try:
                vol = load_series(stack)
            except BmesError:
                continue
            assert isinstance(vol, Volume)

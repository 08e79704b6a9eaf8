"""Hostile DICOM input for the fuzz suite: a base series, mutation families, verdicts.

The mutations themselves are in ``fuzz_mutations.py``. Used by
``tests/core/fuzz/test_fuzz.py`` (a bounded budget in the normal test run) and
``bench/bench_fuzz.py`` (the full table, each case in a child process with a 3 GB
address-space limit and a 60 s timeout).

The base series is written by :func:`bmes_imaging.dicom.write_series`: 10 int16 axial
slices of 20 x 16 pixels, random content, named ``IM00000.dcm`` (first slice) to
``IM00009.dcm`` (last), with a planted patient name and ID that must never appear in a
reason or on stderr. A case copies it, mutates the copy (one family of structured
mutations, or seeded random damage), then :func:`run_case` indexes the folder and
loads it. The verdict is one of

* ``typed``: a :class:`~bmes_imaging.errors.BmesError` (the index never raises);
* ``equal``: a volume equal to what the case expects (the base series, or its known
  transform: RescaleSlope -1 in every file gives the negated volume);
* ``wrong``: a volume that differs (a silently wrong or partial image);
* ``refused_valid``: a case that must load (deflated, big endian, nested private
  sequences, junk beside the series...) was refused;
* ``traceback``: any other exception;
* ``memory``: a MemoryError anywhere (the bound was not checked before allocation);

and two more flags: ``leak`` (the planted name or ID appears in a reason, an error or
stderr) and ``noise`` (anything written to stderr).

Random damage is put in the headers (the bytes before the pixel data value): a flipped
pixel value changes an image in a way no reader can see (DICOM has no checksum), so
it is not a reader's fault.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fuzz_mutations import (
    Mutation,
    big_declared,
    both,
    current_files,
    dangling,
    deflate_bomb,
    dir_named_dcm,
    duplicate_copy,
    edit_files,
    empty_slice,
    extra_junk,
    fifo_extra,
    huge_length,
    neighbour_position,
    nested_private,
    pixel_bytes,
    random_damage,
    remove,
    rewrite,
    rotate_iop,
    set_raw,
    set_value,
    shift_position,
    slice_times,
    strip_meta,
    symlink_duplicate,
    symlink_loop,
    syntax,
    text,
    then,
    truncate,
    write_big_endian,
    write_deflated,
)

PATIENT_NAME = "Fuzzsurname^Fuzzgiven"
PATIENT_ID = "FUZZID4711"
N_SLICES = 10
FIRST, MIDDLE, LAST = 0, 5, N_SLICES - 1
WHERE = {"first": FIRST, "middle": MIDDLE, "last": LAST}
FAMILIES = ("geometry", "pixel format", "sizes", "transfer syntax", "nesting", "charset",
            "file system", "random")


def slice_name(k: int) -> str:
    return f"IM{k:05d}.dcm"


def write_base(folder: Path) -> list[Path]:
    """The unmutated series (slice k in ``IM0000k.dcm``)."""
    from bmes_imaging.dicom import write_series
    from bmes_imaging.volume import Volume

    rng = np.random.default_rng(21)
    affine = np.diag([-0.8, -0.9, 2.5, 1.0])
    affine[:3, 3] = [30.0, 20.0, -10.0]
    data = rng.integers(1, 900, size=(20, 16, N_SLICES)).astype(np.int16)
    return write_series(Volume(data, affine), folder, patient_id=PATIENT_ID,
                        patient_name=PATIENT_NAME, uid_seed="fuzz-base", dtype="int16",
                        series_description="t1_tse_sag", filename_pattern="IM{index:05d}.dcm")


# ------------------------------------------------------------------------- cases

@dataclass
class Case:
    """One hostile input: how to damage the base series and what may come out."""

    family: str
    name: str
    mutate: Callable[[Path, list[Path]], None]
    must_load: bool = False  # valid input: a refusal is a failure
    expect: Callable[[Any], Any] | None = None  # expected array from the base array
    env: dict[str, str] = field(default_factory=dict)


def structured_cases(bomb_bytes: int = 64 << 20, bomb_limit: int | None = 16 << 20
                     ) -> list[Case]:
    """Every structured family: damage of the first, middle and last file, then of
    every file. ``bomb_limit`` sets BMES_MAX_FILE_BYTES for the deflate bombs (None:
    the default limit, with bombs of ``bomb_bytes``)."""
    cases: list[Case] = []
    for where, k in WHERE.items():
        cases += _geometry(where, k) + _pixel_format(where, k)
        cases += _sizes_and_files(where, k, bomb_bytes, bomb_limit)
        cases += _syntax_and_charset(where, k)
    return cases + _whole_series() + _nesting() + _charset_everywhere() + _file_system()


def _geometry(where: str, k: int) -> list[Case]:
    nxt = MIDDLE + 1 if k == MIDDLE else (1 if k == FIRST else LAST - 1)
    changes = (
        ("ImagePositionPatient removed", remove("ImagePositionPatient")),
        ("ImagePositionPatient nan", text("ImagePositionPatient", "nan\\0\\0")),
        ("ImagePositionPatient 1e400", text("ImagePositionPatient", "1e400\\0\\0")),
        ("ImagePositionPatient two values", text("ImagePositionPatient", "1\\2")),
        ("position off by 0.3 slice", shift_position(0.75, 2)),
        ("position off the line by 5 mm", shift_position(5.0, 0)),
        ("position of a neighbour", neighbour_position(lambda: current_files[nxt])),
        ("ImageOrientationPatient removed", remove("ImageOrientationPatient")),
        ("ImageOrientationPatient zeros", text("ImageOrientationPatient",
                                               "0\\0\\0\\0\\0\\0")),
        ("orientation rotated 10 degrees", rotate_iop(10.0)),
        ("PixelSpacing removed", remove("PixelSpacing")),
        ("PixelSpacing 0", text("PixelSpacing", "0\\0")),
        ("PixelSpacing negative", text("PixelSpacing", "-1\\-1")),
        ("PixelSpacing other", text("PixelSpacing", "0.7\\0.7")),
    )
    return [Case("geometry", f"{name} ({where})", edit_files([k], change))
            for name, change in changes]


def _pixel_format(where: str, k: int) -> list[Case]:
    changes = (
        ("BitsAllocated 8 over 16-bit data", set_value("BitsAllocated", 8)),
        ("Rows halved", set_value("Rows", 8)),
        ("Rows + 1", set_value("Rows", 17)),
        ("Columns - 1", set_value("Columns", 19)),
        ("BitsStored 0", set_value("BitsStored", 0)),
        ("BitsStored 17", set_value("BitsStored", 17)),
        ("PixelRepresentation 2", set_value("PixelRepresentation", 2)),
        ("SamplesPerPixel 3", set_value("SamplesPerPixel", 3)),
        ("PhotometricInterpretation RGB", text("PhotometricInterpretation", "RGB", "CS")),
        ("RescaleSlope 0", text("RescaleSlope", "0")),
        ("RescaleSlope 1e38", text("RescaleSlope", "1e38")),
        ("RescaleSlope nan", text("RescaleSlope", "nan")),
        ("RescaleSlope abc", text("RescaleSlope", "abc")),
        ("RescaleIntercept 1e39", text("RescaleIntercept", "1e39")),
        ("RescaleIntercept inf", text("RescaleIntercept", "inf")),
    )
    cases = [Case("pixel format", f"{name} ({where})", edit_files([k], change))
             for name, change in changes]
    # a legal per-slice rescale: the loader must apply it (not a damage)
    cases.append(Case("pixel format", f"RescaleSlope 3 in one slice ({where})",
                      edit_files([k], text("RescaleSlope", "3")), must_load=True,
                      expect=slice_times(k, 3.0)))
    return cases


def _sizes_and_files(where: str, k: int, bomb_bytes: int, bomb_limit: int | None
                     ) -> list[Case]:
    cuts: tuple[tuple[str, Callable[[int, int], int]], ...] = (
        ("truncated at half", lambda size, px: size // 2),
        ("truncated in the header", lambda size, px: 400),
        ("truncated before the pixels", lambda size, px: px - 4),
        ("truncated by 1 byte", lambda size, px: size - 1),
        ("truncated by one row", lambda size, px: size - 40),
    )
    cases = [Case("sizes", f"{name} ({where})", truncate(k, keep)) for name, keep in cuts]
    env = {"BMES_MAX_FILE_BYTES": str(bomb_limit)} if bomb_limit else {}
    return cases + [
        Case("sizes", f"element length of 3.75 GiB ({where})", huge_length(k)),
        Case("sizes", f"PixelData removed ({where})", edit_files([k], remove("PixelData"))),
        Case("sizes", f"deflate bomb ({where})", deflate_bomb(k, bomb_bytes), env=env),
        Case("file system", f"slice replaced by an empty file ({where})", empty_slice(k)),
        Case("file system", f"slice replaced by a dangling symlink ({where})",
             dangling(k)),
    ]


def _syntax_and_charset(where: str, k: int) -> list[Case]:
    sop = ("1.2.840.10008.5.1.4.1.1.4" + "\\" + PATIENT_NAME + "\\" + PATIENT_ID
           + "9" * 300).encode()
    series = ("1.2.3." + PATIENT_ID + "\x1b[2J" + PATIENT_NAME).encode()
    return [
        Case("transfer syntax", f"syntax says JPEG over native data ({where})",
             syntax(k, "1.2.840.10008.1.2.4.50")),
        Case("transfer syntax", f"syntax says implicit VR ({where})",
             syntax(k, "1.2.840.10008.1.2")),
        Case("transfer syntax", f"unknown transfer syntax ({where})",
             syntax(k, "1.2.3.4.5.6")),
        Case("transfer syntax", f"deflated slice ({where})",
             rewrite([k], write_deflated), must_load=True),
        Case("transfer syntax", f"big endian slice ({where})",
             rewrite([k], write_big_endian), must_load=True),
        Case("charset", f"over-long SOPClassUID holding the name ({where})",
             edit_files([k], set_raw("SOPClassUID", "UI", sop))),
        Case("charset", f"over-long SeriesInstanceUID holding the ID ({where})",
             edit_files([k], set_raw("SeriesInstanceUID", "UI", series))),
    ]


def _whole_series() -> list[Case]:
    cases = []
    for name, change in (
        ("Rows 65535 x Columns 65535 declared", big_declared),
        ("NumberOfFrames 100000", text("NumberOfFrames", "100000", "IS")),
        ("BitsAllocated 8 everywhere", set_value("BitsAllocated", 8)),
        ("PixelData extended by junk", pixel_bytes(lambda b: b + os.urandom(40))),
        ("PixelData doubled", pixel_bytes(lambda b: b + b)),
    ):
        cases.append(Case("pixel format" if "Bits" in name else "sizes", f"{name} (all)",
                          edit_files("all", change)))
    return cases + [
        Case("pixel format", "RescaleSlope -1 (all)",
             edit_files("all", text("RescaleSlope", "-1")), must_load=True,
             expect=lambda a: -a.astype(np.float32)),
        Case("pixel format", "RescaleSlope 2, intercept -100 (all)",
             edit_files("all", both(text("RescaleSlope", "2"),
                                    text("RescaleIntercept", "-100"))),
             must_load=True, expect=lambda a: 2 * a.astype(np.float32) - 100),
        Case("transfer syntax", "deflated series (all)", rewrite("all", write_deflated),
             must_load=True),
        Case("transfer syntax", "big endian series (all)",
             rewrite("all", write_big_endian), must_load=True),
        Case("transfer syntax", "no File Meta header (all)", strip_meta, must_load=True),
        Case("transfer syntax", "big endian without File Meta header (all)",
             then(rewrite("all", write_big_endian), strip_meta), must_load=True),
    ]


def _nesting() -> list[Case]:
    cases = []
    for depth, undefined in ((200, False), (200, True), (64, True), (3000, True),
                             (3000, False), (20000, True)):
        cases.append(Case("nesting", f"private sequence {depth} deep "
                          f"({'undefined' if undefined else 'defined'} length)",
                          nested_private(depth, undefined), must_load=depth <= 200))
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0x7FFFFFF0) + b"x" * 8
    cases.append(Case("nesting", "sequence item longer than the file (middle)",
                      edit_files([MIDDLE], set_raw(0x00291020, "SQ", item))))
    return cases


def _charset_everywhere() -> list[Case]:
    changes = (
        ("SpecificCharacterSet ISO_IR 999", text("SpecificCharacterSet", "ISO_IR 999",
                                                 "CS"), True),
        ("SeriesDescription with terminal escapes", set_raw(
            "SeriesDescription", "LO", b"\x1b]0;pwned\x07\x1b[2Jt1"), True),
        ("PatientName invalid UTF-8 under ISO_IR 192", both(
            text("SpecificCharacterSet", "ISO_IR 192", "CS"),
            set_raw("PatientName", "PN", b"Fuzz\xff\xfe^\xc3")), True),
        ("ISO 2022 escapes in PatientName", both(
            text("SpecificCharacterSet", "\\ISO 2022 IR 87", "CS"),
            set_raw("PatientName", "PN", b"\x1b$B\x1b(J\x1b$)")), True),
        ("100 KB StudyDescription", set_raw("StudyDescription", "LO", b"A" * 100_000),
         True),
        ("control characters in SOPInstanceUID", set_raw("SOPInstanceUID", "UI",
                                                         b"1.2.\x07\x1b[31m3"), False),
    )
    return [Case("charset", f"{name} (all)", edit_files("all", change), must_load=must)
            for name, change, must in changes]


def _file_system() -> list[Case]:
    actions: tuple[tuple[str, Mutation, bool], ...] = (
        ("junk files beside the series", extra_junk, True),
        ("a FIFO named like a slice", fifo_extra, True),
        ("folders named .dcm", dir_named_dcm, True),
        ("symlink loops", symlink_loop, True),
        ("a second copy of the last slice", duplicate_copy, False),
        ("a symlink to a slice", symlink_duplicate, False),
    )
    return [Case("file system", name, action, must_load=must)
            for name, action, must in actions]


def random_cases(n: int, seed: int = 21) -> list[Case]:
    """``n`` seeded random damages: bytes flipped, runs overwritten or files cut, in the
    header (or, for cuts, anywhere) of the first, last or a random file."""
    cases = []
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        k = rng.choice([FIRST, LAST, rng.randrange(N_SLICES)])
        kind = rng.choices(["flip", "run", "cut"], weights=[6, 2, 1])[0]
        cases.append(Case("random", f"#{i} {kind} in {slice_name(k)}",
                          random_damage(k, kind, rng.randrange(1 << 30))))
    return cases


# ---------------------------------------------------------------------- verdicts

def prepare(case: Case, base: Path, folder: Path) -> None:
    """Copy the base series to ``folder`` and apply the case's mutation."""
    shutil.copytree(base, folder, symlinks=True)
    files = [folder / slice_name(k) for k in range(N_SLICES)]
    current_files[:] = files
    case.mutate(folder, files)


def _leaks(text: str) -> bool:
    low = text.lower()
    return any(s.lower() in low for s in ("Fuzzsurname", "Fuzzgiven", PATIENT_ID))


def run_case(case: Case, folder: Path, expected: np.ndarray, affine: np.ndarray,
             stderr_text: Callable[[], str] = lambda: "") -> dict[str, Any]:
    """Index and load ``folder``; the verdict (see the module docstring) and details."""
    from bmes_imaging.dicom import index_folder, load_series
    from bmes_imaging.errors import BmesError

    out: dict[str, Any] = {"family": case.family, "case": case.name, "leak": False,
                           "noise": False, "detail": ""}
    texts: list[str] = []
    try:
        index = index_folder(folder)
        texts += [str(r.reason) for r in index.rejected] + list(index.notes)
        texts += [s.stack_id for s in index.stacks]
        vol = load_series(folder)
    except BmesError as exc:
        texts.append(str(exc))
        memory = "MemoryError" in str(exc)
        out["verdict"] = ("memory" if memory else
                          "refused_valid" if case.must_load else "typed")
        out["detail"] = str(exc)[:300]
    except MemoryError:
        out["verdict"], out["detail"] = "memory", "MemoryError"
    except Exception as exc:  # noqa: BLE001 - the verdict records any other exception
        import traceback

        out["verdict"] = "traceback"
        out["detail"] = "".join(traceback.format_exception_only(exc))[:300]
        texts.append(out["detail"])
    else:
        want = case.expect(expected) if case.expect else expected
        same = (vol.array.shape == want.shape
                and np.allclose(vol.array, want, atol=1e-3)
                and np.allclose(vol.affine, affine, atol=0.05))
        out["verdict"] = "equal" if same else "wrong"
        if not same:
            out["detail"] = (f"loaded {vol.array.shape} (expected {want.shape}), "
                             f"max |diff| {_diff(vol.array, want)}")
    err = stderr_text()
    out["noise"] = bool(err.strip())
    out["leak"] = any(_leaks(t) for t in texts) or _leaks(err)
    if out["noise"]:
        out["detail"] += f" | stderr: {err[:200]!r}"
    return out


def _diff(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return "n/a"
    return f"{float(np.max(np.abs(a.astype(np.float64) - b))):.3g}"

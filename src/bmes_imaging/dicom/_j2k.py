"""JPEG 2000 frames decoded by GDCM's codec with several OpenJPEG threads.

pydicom's decoding plugins decode one frame per call on one core, holding the GIL
(neither the python-gdcm SWIG wrapper nor pylibjpeg-openjpeg releases it), so a thread
pool does not spread a JPEG 2000 series over the cores. GDCM's ``JPEG2000Codec`` can
run OpenJPEG's tile / code-block decoding on several threads inside one call
(``SetNumberOfThreadsForDecompression``); :func:`decode_j2k_frames` uses that, so every
frame is decoded on all cores.

Only the plain case is handled here (one sample per pixel, 8 or 16 bits); anything
else returns ``None`` and the caller uses pydicom.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["J2K_SYNTAXES", "decode_j2k_frames", "gdcm_available"]

J2K_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"})


def gdcm_available() -> bool:
    """True if python-gdcm can be imported."""
    try:
        import gdcm  # noqa: F401
    except ImportError:
        return False
    return True


def _header_agrees(fragment_bytes: bytes, rows: int, cols: int, bits_stored: int,
                   signed: bool) -> bool:
    """True if the codestream's main header matches the DICOM image description.

    GDCM's codec trusts the dimensions it is given: a codestream larger than Rows x
    Columns, or with another precision, made it crash (found by the mutation test).
    The header is read with pylibjpeg-openjpeg, which raises Python errors.
    """
    try:
        from openjpeg import get_parameters
    except ImportError:
        return False
    try:
        params = get_parameters(fragment_bytes)
    except (RuntimeError, ValueError, TypeError, KeyError, OSError):
        return False
    precision = params.get("precision")
    return (params.get("rows") == rows and params.get("columns") == cols
            and params.get("samples_per_pixel") == 1
            and isinstance(precision, int) and 1 <= precision <= 16
            and (precision <= 8) == (bits_stored <= 8)
            and bool(params.get("is_signed")) == signed)


def _decode_one(gdcm: Any, fragment_bytes: bytes, rows: int, cols: int, bits: int,
                signed: bool, threads: int) -> bytes | None:
    codec = gdcm.JPEG2000Codec()
    codec.SetNumberOfThreadsForDecompression(threads)
    codec.SetNumberOfDimensions(2)
    codec.SetDimensions((cols, rows, 1))
    codec.SetPixelFormat(gdcm.PixelFormat(1, bits, bits, bits - 1, 1 if signed else 0))
    codec.SetPhotometricInterpretation(
        gdcm.PhotometricInterpretation(gdcm.PhotometricInterpretation.MONOCHROME2))
    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(fragment_bytes)
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    source = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    source.SetValue(fragments.__ref__())
    target = gdcm.DataElement()
    if not codec.Decode(source, target):
        return None
    value = target.GetByteValue()
    if value is None:
        return None
    # SWIG hands char* back as str; undo its surrogate-escaped UTF-8 decoding
    return bytes(value.GetBuffer().encode("utf-8", "surrogateescape"))


def decode_j2k_frames(ds: Any, n_frames: int, *, threads: int | None = None
                      ) -> NDArray[Any] | None:
    """Decode the JPEG 2000 frames of ``ds`` as ``(frames, rows, columns)``, or ``None``.

    Parameters
    ----------
    ds
        A pydicom dataset with encapsulated JPEG 2000 pixel data.
    n_frames
        NumberOfFrames.
    threads
        OpenJPEG threads per frame (default: the number of cores; 1 decodes in the
        calling thread).

    Returns
    -------
    numpy.ndarray or None
        ``None`` when GDCM is missing, the image is not the plain single-sample 8/16-bit
        case, or GDCM cannot decode a frame: the caller then decodes with pydicom.
    """
    try:
        import gdcm
    except ImportError:
        return None
    from pydicom.encaps import generate_frames

    rows, cols = int(ds.Rows), int(ds.Columns)
    bits_stored = int(ds.get("BitsStored", ds.BitsAllocated) or ds.BitsAllocated)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1 or not 1 <= bits_stored <= 16:
        return None
    bits = 8 if bits_stored <= 8 else 16
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    out = np.empty((n_frames, rows, cols), dtype=dtype)
    n_threads = threads if threads is not None else (os.cpu_count() or 1)
    if n_threads <= 1:
        n_threads = 0  # GDCM: decode in the calling thread (1 would hand off to one helper)
    nbytes = rows * cols * dtype.itemsize
    decoded = 0
    for index, fragment in enumerate(generate_frames(ds.PixelData,
                                                     number_of_frames=n_frames)):
        if index >= n_frames:
            return None
        if not _header_agrees(fragment, rows, cols, bits_stored, signed):
            return None
        raw = _decode_one(gdcm, fragment, rows, cols, bits, signed, n_threads)
        if raw is None or len(raw) != nbytes:
            return None
        out[index] = np.frombuffer(raw, dtype=dtype).reshape(rows, cols)
        decoded += 1
    return out if decoded == n_frames else None

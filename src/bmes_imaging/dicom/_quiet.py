"""Keep values read from DICOM files out of messages, warnings and logs.

Text read from a file can hold a patient name, an ID, terminal control sequences or a
megabyte of junk. Two rules, applied wherever the DICOM code builds a message:

* :func:`printable` quotes a value: control and other non-printable characters escaped,
  cut to a few dozen characters;
* :func:`error_text` describes an exception from pydicom or a pixel plugin by its type
  and its message with the quoted values taken out (their messages quote raw values).

pydicom reports oddities of a file both as a ``UserWarning`` and as a record of its
``pydicom`` logger, quoting the raw value (``Invalid value for VR UI: '1.2...^Name'``).
:func:`quiet_pydicom` (called before every read) sends both away from stderr: the
warnings raised inside pydicom are ignored (a filter on pydicom's modules only), and
the log records are re-logged, values taken out, at DEBUG level on
``bmes_imaging.dicom.pydicom``. No ``warnings.catch_warnings`` (process-wide, not
thread-safe) is needed. :func:`pydicom_notes` collects those value-free texts for the
calling thread, for a reason such as "truncated (end of file reached ...)".

Examples
--------
>>> printable("abc\\x1b]0;title\\x07" + "x" * 100, limit=16)
'abc\\\\x1b]0;title\\\\…'
>>> error_text(ValueError("Invalid value for VR UI: '1.2.3^Doe^John'"))
"ValueError: Invalid value for VR UI: '…'"
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["error_text", "printable", "pydicom_notes", "quiet_pydicom", "value_free"]

log = logging.getLogger("bmes_imaging.dicom.pydicom")

#: Longest quoted value in a message (characters, after escaping).
QUOTE_LIMIT = 64
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|b'[^']*'|\[[^\]]*\]")
_LONG_TOKEN = re.compile(r"\S{33,}")
_local = threading.local()
_lock = threading.Lock()


def printable(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``value`` as text safe to print: non-printable characters escaped, cut to ``limit``.

    Parameters
    ----------
    value
        Any value (``bytes`` are decoded as Latin-1).
    limit
        Largest number of characters kept (an ellipsis marks a cut).

    Returns
    -------
    str
        Printable text of at most ``limit + 1`` characters.
    """
    if isinstance(value, bytes | bytearray):
        text = bytes(value[: limit * 4]).decode("latin-1")
    else:
        text = str(value)
    text = text[: limit * 4]
    out = []
    for ch in text:
        if ch.isprintable() and ch != "\\":
            out.append(ch)
        elif ch == "\\":
            out.append("\\\\")
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    joined = "".join(out)
    return joined if len(joined) <= limit else joined[:limit] + "…"


def value_free(message: str, limit: int = 160) -> str:
    """A message with quoted values, bracketed lists and long tokens replaced by ``…``."""
    text = _QUOTED.sub(lambda m: m.group(0)[0] + "…" + m.group(0)[-1]
                       if m.group(0)[0] in "'\"" else "[…]", message)
    text = _LONG_TOKEN.sub("…", text)
    return printable(text, limit)


def error_text(exc: BaseException) -> str:
    """``"Type: message"`` of an exception, without the values its message quotes."""
    message = value_free(str(exc), 120)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class _PydicomRecords(logging.Handler):
    """Re-logs pydicom's records without values, at DEBUG; notes them for the thread."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = value_free(record.getMessage())
        except Exception:  # noqa: BLE001 - a malformed record must not break a read
            text = "unprintable message"
        notes = getattr(_local, "notes", None)
        if notes is not None and record.levelno >= logging.WARNING:
            notes.append(text)
        log.debug("pydicom: %s", text)


_FILTER = ("ignore", None, UserWarning, re.compile(r"pydicom(\.|$)"), 0)


def quiet_pydicom() -> None:
    """Keep pydicom's warnings and log records about file content off stderr.

    Idempotent and cheap; called before each pydicom read because
    ``warnings.catch_warnings`` blocks (pytest's, a caller's) restore the filter list.
    Warnings raised from pydicom's own modules are ignored (their text quotes raw
    values; the same text is logged by pydicom); the ``pydicom`` logger's records go to
    ``bmes_imaging.dicom.pydicom`` at DEBUG with values taken out, and no longer
    propagate to the root logger.
    """
    if _FILTER not in warnings.filters:
        with _lock:
            if _FILTER not in warnings.filters:
                warnings.filterwarnings("ignore", category=UserWarning,
                                        module=r"pydicom(\.|$)")
    pyd = logging.getLogger("pydicom")
    if not any(isinstance(h, _PydicomRecords) for h in pyd.handlers):
        with _lock:
            if not any(isinstance(h, _PydicomRecords) for h in pyd.handlers):
                pyd.addHandler(_PydicomRecords())
                pyd.propagate = False


@contextmanager
def pydicom_notes() -> Iterator[list[str]]:
    """Collect, for this thread, the value-free texts of pydicom's warnings meanwhile."""
    quiet_pydicom()
    previous = getattr(_local, "notes", None)
    notes: list[str] = []
    _local.notes = notes
    try:
        yield notes
    finally:
        _local.notes = previous


# Installed when the DICOM code is imported (the CLI's index, convert and detect read
# files through several modules); each reader calls it again before reading, since a
# catch_warnings block elsewhere may have restored an older filter list meanwhile.
quiet_pydicom()

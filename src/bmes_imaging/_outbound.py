"""Text on its way out: CSV cells, terminal lines and Markdown, made inert.

Values from data (DICOM headers, file names, clinical tables, stated figures) reach
spreadsheets, terminals and rendered reports. This module is the one place that makes
them harmless there; every writer of bmes-imaging goes through it.

* :func:`csv_cell`: a text cell that starts with ``= + - @`` TAB or CR gets a leading
  ``'`` (the OWASP rule against CSV / formula injection); numbers the toolkit writes
  (``int``, ``float``) and text that is just a number stay as they are; control
  characters are escaped.
* :func:`terminal_text`: control characters (C0, DEL, C1 such as ESC, BEL, CSI) and
  the Unicode bidirectional overrides are written as ``\\x1b``-style escapes, so a
  SeriesDescription cannot set a terminal title or clear the screen.
* :func:`markdown_text`: :func:`terminal_text`, then ``&`` and ``<`` as HTML entities
  and ``\\ [ ] ` |`` backslash-escaped, so no raw HTML, link or code span comes from
  data when the Markdown is rendered.

Examples
--------
>>> csv_cell('=HYPERLINK("http://x","open")')
'\\'=HYPERLINK("http://x","open")'
>>> csv_cell(-2.5), csv_cell("-2.5"), csv_cell("-2+3")
(-2.5, '-2.5', "'-2+3")
>>> terminal_text("T1\\x1b]0;title\\x07")
'T1\\\\x1b]0;title\\\\x07'
>>> markdown_text('<img src=x onerror=alert(1)>')
'&lt;img src=x onerror=alert(1)>'
"""

from __future__ import annotations

import numbers
import re
from typing import Any, TextIO

__all__ = ["TerminalStream", "csv_cell", "from_csv_cell", "markdown_text", "terminal_text"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
                      "\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_MARKDOWN_SPECIAL = re.compile(r"([\\\[\]`|])")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(value: Any, *, keep: str = "") -> str:
    """``str(value)`` with every control character written as an escape.

    Parameters
    ----------
    value
        Any value; ``None`` gives ``""``.
    keep
        Control characters to leave as they are (e.g. ``"\\n"`` for whole lines of
        the toolkit's own output).

    Examples
    --------
    >>> terminal_text("a\\tb\\nc", keep="\\n")
    'a\\\\tb\\nc'
    """
    text = "" if value is None else str(value)
    if keep:
        return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)
    return _CONTROL.sub(_escape, text)


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula.

    Numbers (``int``, ``float``, numpy numbers; not ``bool``) are returned unchanged,
    so the toolkit's own negative values stay numbers; ``None`` becomes ``""``. Text
    that starts with ``= + - @`` TAB or CR and is not simply a number gets a leading
    ``'``; control characters are then escaped (see :func:`terminal_text`).

    Examples
    --------
    >>> [csv_cell(v) for v in (None, 3, "+cmd", "@SUM(A1)", "\\tx", "talus", "-")]
    ['', 3, "'+cmd", "'@SUM(A1)", "'\\\\tx", 'talus', "'-"]
    """
    if value is None:
        return ""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(FORMULA_LEADS) and not _NUMBER.fullmatch(text):
        text = "'" + text
    return terminal_text(text)


def from_csv_cell(text: str) -> str:
    """Undo the ``'`` that :func:`csv_cell` put before a formula-leading cell.

    For the toolkit's readers of its own CSV files (escaped control characters are
    left escaped).

    Examples
    --------
    >>> from_csv_cell(csv_cell("=1+1")), from_csv_cell("'quoted")
    ('=1+1', "'quoted")
    """
    if text.startswith("'") and text[1:].startswith(FORMULA_LEADS[:4] + ("\\t", "\\r")):
        return text[1:]
    return text


def markdown_text(value: Any) -> str:
    """Text for a Markdown document: no raw HTML, link or code span from data.

    Examples
    --------
    >>> markdown_text("[open](javascript:x) & `code` | <b>")
    '\\\\[open\\\\](javascript:x) &amp; \\\\`code\\\\` \\\\| &lt;b>'
    """
    text = terminal_text(value)
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text.replace("&", "&amp;").replace("<", "&lt;")


class TerminalStream:
    """A text stream that escapes control characters before they reach a terminal.

    ``\\n`` and TAB (the toolkit's own layout) pass; everything else is escaped. Code
    that must draw on the terminal itself (a progress line redrawn in place) writes to
    :attr:`unfiltered`.

    Parameters
    ----------
    stream
        The stream written to (e.g. ``sys.stdout``).
    """

    def __init__(self, stream: TextIO) -> None:
        self.unfiltered = stream

    def write(self, text: str) -> int:
        """Write ``text`` with its control characters escaped; return its length."""
        self.unfiltered.write(terminal_text(text, keep="\n\t"))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.unfiltered, name)

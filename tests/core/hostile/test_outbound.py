"""The one neutraliser of outgoing text: CSV cells, terminal text, Markdown; file modes."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from bmes_imaging._atomic import write_csv_atomic, write_text_atomic
from bmes_imaging._outbound import (
    TerminalStream,
    csv_cell,
    from_csv_cell,
    markdown_text,
    terminal_text,
)

from .conftest import HOSTILE, assert_csv_inert, assert_no_raw_html, assert_terminal_clean


@pytest.mark.parametrize(("value", "written"), [
    ('=HYPERLINK("http://x","open")', '\'=HYPERLINK("http://x","open")'),
    ("+cmd", "'+cmd"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\\tx"),
    ("\rx", "'\\rx"),
    ("-", "'-"),
    ("talus", "talus"),
    ("2026-12-07", "2026-12-07"),
    ("-2.5", "-2.5"),        # text that is only a number is not a formula
    ("+1e3", "+1e3"),
    (-2.5, -2.5),            # numbers the toolkit writes stay numbers
    (-3, -3),
    (None, ""),
    ("a\x1b]0;t\x07b", "a\\x1b]0;t\\x07b"),
])
def test_csv_cell(value: object, written: object) -> None:
    assert csv_cell(value) == written


def test_bool_is_not_a_number_but_is_harmless() -> None:
    assert csv_cell(True) == "True"


@pytest.mark.parametrize("value", HOSTILE)
def test_csv_round_trip_of_the_toolkit_readers(value: str) -> None:
    """The toolkit's own readers get formula-leading text back (quote removed)."""
    cell = csv_cell(value)
    if value[0] in "=+-@":
        assert from_csv_cell(cell) == value
    assert from_csv_cell("'quoted") == "'quoted"


def test_write_csv_atomic_neutralises_every_cell_and_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_csv_atomic(tmp_path / "new" / "t.csv", ["patient", "change"],
                                [[v, -1.5] for v in HOSTILE] + [{"patient": "=1", "change": 2}])
    finally:
        os.umask(old)
    rows = assert_csv_inert(path)
    assert [r[1] for r in rows[1:]] == ["-1.5"] * len(HOSTILE) + ["2"]
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    with path.open(newline="") as fh:
        assert len(list(csv.reader(fh))) == len(HOSTILE) + 2  # one record per row


def test_terminal_text_escapes_every_control_character() -> None:
    raw = "".join(chr(c) for c in (*range(32), 127, *range(0x80, 0xA0))) + "\u202e"
    out = terminal_text(raw)
    assert_terminal_clean(out)
    assert "\\x1b" in out and "\\x07" in out and "\\x9b" in out and "\\u202e" in out
    assert terminal_text("a\nb", keep="\n") == "a\nb"


def test_terminal_stream_passes_layout_and_escapes_the_rest() -> None:
    buf = io.StringIO()
    stream = TerminalStream(buf)
    stream.write("T1 \x1b]0;x\x07 SAG\tok\n")
    assert buf.getvalue() == "T1 \\x1b]0;x\\x07 SAG\tok\n"
    assert stream.unfiltered is buf


@pytest.mark.parametrize("value", [*HOSTILE, "[click](javascript:alert(1))",
                                   "<script>x</script>", "`code` | cell", "&lt;b&gt;"])
def test_markdown_text_leaves_no_html_link_or_code(value: str) -> None:
    out = markdown_text(value)
    assert_no_raw_html(out)
    assert_terminal_clean(out)
    assert "](" not in out.replace("\\](", "")
    assert "`" not in out.replace("\\`", "")


def test_atomic_writes_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        p = write_text_atomic(tmp_path / "a" / "b" / "c.md", "x")
    finally:
        os.umask(old)
    assert (p.stat().st_mode & 0o777) == 0o600
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert (folder.stat().st_mode & 0o777) == 0o700

"""``bmes index PATH [--csv FILE] [--show-identifiers]``: list the image stacks in a folder.

Prints one row per stack (patient key, study, series number, description, sequence,
plane, side, images, size, stack id, and the reason: the evidence of the sequence
classification, then in brackets why the stack was split from its series, e.g. a
volume of a 4-D or mosaic series), the T1 / fluid-sensitive pairs chosen per study
and side, and every file not used with the reason. Patient names and IDs are printed
only with ``--show-identifiers``; by default a short hash stands for the patient.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from .._atomic import write_csv_atomic
from .._outbound import TerminalStream, terminal_text

__all__ = ["register", "run"]

#: Above this many unused files the listing is grouped by reason.
MAX_LISTED = 40

_COLUMNS = ("patient", "study", "series", "description", "sequence", "plane", "side",
            "images", "size", "stack_id", "reason")
_CSV_COLUMNS = ("kind", "patient_key", "patient_id", "patient_name", "study_instance_uid",
                "study_date", "series_number", "series_description", "sequence",
                "sequence_reason", "plane", "side", "side_source", "n_images", "rows",
                "columns", "size_bytes", "stack_id", "split_reason", "localizer", "path",
                "reason")


def register(subparsers: Any) -> None:
    """Add the ``index`` subcommand."""
    p = subparsers.add_parser(
        "index", help="list the DICOM image stacks in a folder (headers only)",
        description="Walk a folder (PACS export, CD copy with DICOMDIR, loose files), "
                    "group the DICOM files into patients, studies and image stacks, "
                    "classify each stack (T1, STIR, T2 FS, PD FS, other; plane) and list "
                    "every file not used with the reason.")
    p.add_argument("path", metavar="PATH", help="folder (or file) to index")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV to FILE")
    p.add_argument("--show-identifiers", action="store_true",
                   help="print patient names and IDs (default: a short hash)")
    p.add_argument("--all-files", action="store_true",
                   help=f"list every file not used (default: grouped by reason when "
                        f"there are more than {MAX_LISTED})")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes reading headers (default: automatic)")
    p.set_defaults(func=run)


def _reason_kind(reason: str) -> str:
    """A reason without its file-specific detail (for grouping)."""
    head = reason.split(" (", 1)[0]
    return head.split(":", 1)[0] if head.startswith(("truncated", "duplicate")) else head


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _short(uid: str | None) -> str:
    if not uid:
        return "—"
    return "…" + uid[-8:] if len(uid) > 9 else uid


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...], out: TextIO) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    # every column but the last (the reason, printed whole) is cut at 48 characters
    widths = [min(w, 48) if i < len(widths) - 1 else w for i, w in enumerate(widths)]

    def fmt(cells: tuple[str, ...]) -> str:
        cells = tuple(terminal_text(c) for c in cells)  # data: no control characters
        return "  ".join((c if len(c) <= w else c[:w - 1] + "…").ljust(w)
                         for c, w in zip(cells, widths, strict=True)).rstrip()

    print(fmt(header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print(fmt(r), file=out)


def _reason(st: Any) -> str:
    """Why the stack has its sequence, and why it was split from its series."""
    text = st.sequence_reason or "—"
    return text + (f" [{st.split_reason}]" if st.split_reason else "")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` atomically (temporary file, then rename)."""
    write_csv_atomic(path, _CSV_COLUMNS, rows)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Index ``args.path``, print the tables, optionally write ``args.csv``."""
    import sys

    from ..dicom import index_folder, pair_series
    from ..dicom._sequence import side_of

    out = cast(TextIO, TerminalStream(out or sys.stdout))  # control chars escaped
    show = bool(args.show_identifiers)
    index = index_folder(args.path, workers=args.workers)
    root = Path(args.path)

    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(root)) if root.is_dir() else str(p)
        except ValueError:
            return str(p)

    def who(st: Any) -> str:
        if show:
            name = st.patient_name or "?"
            return f"{st.patient_id or '?'} {name}"
        return st.patient_key

    rows = []
    csv_rows: list[dict[str, Any]] = []
    for st in index.stacks:
        side, side_src = side_of(st)
        rows.append((
            who(st), _short(st.study_instance_uid),
            "" if st.series_number is None else str(st.series_number),
            st.series_description or "—",
            st.sequence, st.plane or "—", side or "—", str(st.n_images),
            _size(st.size_bytes), _short(st.stack_id.split("#")[0]) + (
                "#" + st.stack_id.split("#", 1)[1] if "#" in st.stack_id else ""),
            _reason(st),
        ))
        csv_rows.append({
            "kind": "stack", "patient_key": st.patient_key,
            "patient_id": st.patient_id if show else "",
            "patient_name": st.patient_name if show else "",
            "study_instance_uid": st.study_instance_uid, "study_date": st.study_date,
            "series_number": st.series_number, "series_description": st.series_description,
            "sequence": st.sequence, "sequence_reason": st.sequence_reason, "plane": st.plane,
            "side": side, "side_source": side_src, "n_images": st.n_images, "rows": st.rows,
            "columns": st.columns, "size_bytes": st.size_bytes, "stack_id": st.stack_id,
            "split_reason": st.split_reason, "localizer": st.localizer,
            "path": rel(st.files[0].parent) if st.files else "", "reason": ""})
    print(f"{index.n_files} files, {len(index.stacks)} stacks, "
          f"{len(index.rejected)} files not used ({index.seconds:.2f} s)", file=out)
    if rows:
        print(file=out)
        _table(rows, _COLUMNS, out)
    pairing = pair_series(index)
    if pairing.pairs or pairing.unpaired:
        print("\nT1 / fluid-sensitive pairs:", file=out)
        for p in pairing.pairs:
            print(f"  study {_short(p.study_instance_uid)} side {p.side or '?'}: "
                  f"T1 series {p.t1.series_number} + {p.fluid.sequence} series "
                  f"{p.fluid.series_number} ({p.reason})", file=out)
        for study, side, reason in pairing.unpaired:
            print(f"  study {_short(study)} side {side or '?'}: not paired: {reason}",
                  file=out)
    for note in index.notes:
        print(f"\nNote: {note}", file=out)
    if index.rejected:
        print(f"\nFiles not used ({len(index.rejected)}):", file=out)
        for r in index.rejected:
            csv_rows.append({"kind": "rejected", "path": rel(r.path), "reason": r.reason})
        if len(index.rejected) <= MAX_LISTED or args.all_files:
            for r in index.rejected:
                print(f"  {rel(r.path)}: {r.reason}", file=out)
        else:  # e.g. a CD with viewer software: group by reason
            groups: dict[str, list[str]] = {}
            for r in index.rejected:
                groups.setdefault(_reason_kind(r.reason), []).append(rel(r.path))
            for kind, paths in sorted(groups.items(), key=lambda kv: -len(kv[1])):
                shown = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
                print(f"  {len(paths):6d}  {kind}: {shown}", file=out)
            print("  (every file with its reason: --all-files, or --csv FILE)", file=out)
    if args.csv:
        _write_csv(Path(args.csv), csv_rows)
        print(f"\nwrote {args.csv}", file=out)
    return 0

"""Figures a user states (e.g. a paper's text) and where they disagree with the records.

A stated-figures file is JSON, YAML or CSV. JSON / YAML::

    {"source": "Study text", "figures": [
        {"figure": "sex_male", "value": 9, "where": "Results, first paragraph"}, ...]}

CSV: columns ``figure, value`` and optionally ``where, text``. ``figure`` is a key of
the cohort summary (:func:`~bmes_imaging.export.summarize_cohort`); the precision of
the stated value (its decimals as written) decides what counts as agreement.

Comparison statuses: ``agrees`` (equal at the stated precision), ``rounding`` (a mean off
by no more than one unit of the last stated digit: truncated or rounded differently),
``disagrees``, ``consistent`` (the records give only a bound and the stated value
lies within it: cannot be checked exactly), ``not computed`` (no such figure in the
records).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..errors import ExportError
from ._cohort import AT_LEAST, AT_MOST, CohortSummary

__all__ = ["Comparison", "StatedFigure", "compare_figures", "read_stated_figures"]


@dataclass(frozen=True)
class StatedFigure:
    """A figure as someone stated it.

    Attributes
    ----------
    figure
        Key of the recomputed figure it claims.
    value
        The stated number.
    decimals
        Decimals as written (``14.3`` -> 1).
    where
        Where it is stated (section, table footer...).
    text
        The statement as written, optional.
    """

    figure: str
    value: float
    decimals: int
    where: str = ""
    text: str = ""


@dataclass(frozen=True)
class Comparison:
    """A stated figure next to its recomputed value."""

    stated: StatedFigure
    recomputed: str
    status: str
    label: str
    note: str = ""

    @property
    def is_disagreement(self) -> bool:
        """True for ``disagrees`` and ``rounding``."""
        return self.status in ("disagrees", "rounding")


def _decimals(text: str) -> int:
    try:
        exp = Decimal(text.strip().replace(",", ".")).as_tuple().exponent
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    return max(0, -int(exp)) if isinstance(exp, int) else 0


def _figure(entry: Any, source: Path, n: int) -> StatedFigure:
    if not isinstance(entry, dict) or "figure" not in entry or "value" not in entry:
        raise ExportError(f"{source}: entry {n} needs 'figure' and 'value'")
    raw = entry["value"]
    text = raw if isinstance(raw, str) else repr(raw)
    try:
        decimals = int(entry["decimals"]) if "decimals" in entry else _decimals(text)
        value = float(str(text).replace(",", "."))
    except ValueError as exc:
        raise ExportError(f"{source}: entry {n} ({entry.get('figure')}): {exc}") from None
    return StatedFigure(str(entry["figure"]), value, decimals, str(entry.get("where", "")),
                        str(entry.get("text", "")))


def read_stated_figures(path: str | Path) -> tuple[str, list[StatedFigure]]:
    """Read a stated-figures file (JSON, YAML or CSV).

    Returns
    -------
    (source, figures)
        The declared source (file name when none) and the figures in file order.

    Raises
    ------
    ExportError
        If the file is missing or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: stated-figures file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                entries: list[Any] = list(csv.DictReader(fh))
            source = path.name
        else:
            text = path.read_text(encoding="utf-8")
            if suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
            if isinstance(data, list):
                data = {"figures": data}
            if not isinstance(data, dict) or not isinstance(data.get("figures"), list):
                raise ExportError(f"{path}: expected a 'figures' list")
            entries = data["figures"]
            source = str(data.get("source") or path.name)
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as exc:
        raise ExportError(f"{path}: cannot read stated figures: {exc}") from None
    return source, [_figure(e, path, i) for i, e in enumerate(entries, start=1)]


def compare_figures(summary: CohortSummary,
                    stated: Sequence[StatedFigure]) -> list[Comparison]:
    """Compare stated figures with the recomputed ones.

    Examples
    --------
    >>> from bmes_imaging.export._cohort import CohortSummary, Figure
    >>> s = CohortSummary({"sex_male": Figure("sex_male", "Male patients", 10)}, [], [])
    >>> [c.status for c in compare_figures(s, [StatedFigure("sex_male", 9, 0)])]
    ['disagrees']
    """
    out = []
    for st in stated:
        fig = summary.figures.get(st.figure)
        if fig is None or fig.value is None:
            out.append(Comparison(st, "n/a", "not computed", st.figure,
                                  "the records do not hold this figure"))
            continue
        half = 0.5 * 10.0 ** (-st.decimals)
        unit = 2 * half
        eps = 1e-9
        value = float(fig.value)
        rec = fig.formatted(max(st.decimals, 0 if value.is_integer() else 2))
        diff = value - st.value
        if fig.bound == AT_LEAST:
            status = "disagrees" if st.value < value - half - eps else "consistent"
        elif fig.bound == AT_MOST:
            status = "disagrees" if st.value > value + half + eps else "consistent"
        elif abs(diff) <= half + eps:
            status = "agrees"
        elif fig.kind == "mean" and abs(diff) <= unit + eps:
            status = "rounding"
        else:
            status = "disagrees"
        note = fig.note if fig.bound in (AT_LEAST, AT_MOST) else ""
        out.append(Comparison(st, rec, status, fig.label, note))
    return out

"""PNG plots of the cohort report (matplotlib, no pyplot state, no GUI backend)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._atomic import write_bytes_atomic
from ..bones import Bone
from ._cohort import CohortSummary
from ._records import vitamin_d_class_of

__all__ = ["plot_aofas", "plot_bones", "plot_vitamin_d"]

_CLASS_COLOURS = {"deficient": "#d62728", "insufficient": "#ff7f0e", "sufficient": "#2ca02c"}


def _name_key(name: str) -> tuple[int, int, str]:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _save(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return write_bytes_atomic(path, buf.getvalue())


def _figure(width: float = 7.0, height: float = 3.6) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def plot_bones(summary: CohortSummary, path: Path) -> Path:
    """Bar chart: feet per bone from the records (and from findings when present)."""
    fig = _figure()
    ax = fig.add_subplot()
    bones = [b for b in Bone
             if summary[f"feet_{b.bone_name}"].value
             or (f"findings_feet_{b.bone_name}" in summary
                 and summary[f"findings_feet_{b.bone_name}"].value)]
    x = list(range(len(bones)))
    rec = [summary[f"feet_{b.bone_name}"].value or 0 for b in bones]
    width = 0.4 if summary.findings else 0.8
    rec_label = "clinical records"
    if summary[f"feet_{Bone.TALUS.bone_name}"].bound != "exact":
        rec_label += " (primary bones only: lower bounds)"
    ax.bar([i - (width / 2 if summary.findings else 0) for i in x], rec, width,
           color=[tuple(c / 255 for c in b.color) for b in bones], edgecolor="black",
           label=rec_label)
    if summary.findings:
        found = [summary[f"findings_feet_{b.bone_name}"].value or 0 for b in bones]
        ax.bar([i + width / 2 for i in x], found, width, color="white", edgecolor="black",
               hatch="//", label=f"{summary.findings_status} findings")
    ax.set_xticks(x, [b.display_name for b in bones], rotation=30, ha="right")
    ax.set_ylabel("feet")
    ax.set_title("Bones involved")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_aofas(summary: CohortSummary, path: Path, name_of: Callable[[str], str]) -> Path:
    """AOFAS ankle-hindfoot score at diagnosis and last control, one line per patient."""
    fig = _figure(5.0, 4.0)
    ax = fig.add_subplot()
    for p in summary.patients:
        a0, a1 = getattr(p, "aofas_initial", None), getattr(p, "aofas_final", None)
        if a0 is None or a1 is None:
            continue
        ax.plot([0, 1], [a0, a1], marker="o", color="0.5", alpha=0.7)
    m0, m1 = summary["aofas_initial_mean"].value, summary["aofas_final_mean"].value
    if m0 is not None and m1 is not None:
        ax.plot([0, 1], [m0, m1], marker="s", color="black", linewidth=3,
                label=f"mean {m0:.1f} -> {m1:.1f}")
        ax.legend(loc="lower right", fontsize="small")
    ax.set_xticks([0, 1], ["diagnosis", "last control"])
    ax.set_xlim(-0.3, 1.3)
    ax.set_ylim(0, 100)
    ax.set_ylabel("AOFAS score (0-100)")
    ax.set_title(f"AOFAS before / after ({len(summary.patients)} patients)")
    del name_of  # lines are anonymous; the per-patient table names them
    return _save(fig, path)


def plot_vitamin_d(summary: CohortSummary, path: Path, name_of: Callable[[str], str]) -> Path:
    """Serum 25(OH)D per patient over the deficient / insufficient / sufficient bands."""
    fig = _figure()
    ax = fig.add_subplot()
    # in name order (pseudonyms when de-identified), never the source table's order
    pts: Sequence[Any] = sorted(
        (p for p in summary.patients if getattr(p, "vitamin_d_ng_ml", None) is not None),
        key=lambda p: _name_key(name_of(str(p.patient))))
    values = [float(p.vitamin_d_ng_ml) for p in pts]
    top = max([35.0, *[v + 5 for v in values]])
    ax.axhspan(0, 20, color=_CLASS_COLOURS["deficient"], alpha=0.15, label="deficient (<= 20)")
    ax.axhspan(20, 30, color=_CLASS_COLOURS["insufficient"], alpha=0.15,
               label="insufficient (20-30)")
    ax.axhspan(30, top, color=_CLASS_COLOURS["sufficient"], alpha=0.15,
               label="sufficient (>= 30)")
    colours = [_CLASS_COLOURS.get(vitamin_d_class_of(v) or "", "grey") for v in values]
    ax.scatter(range(len(values)), values, c=colours, edgecolors="black", zorder=3)
    ax.set_xticks(range(len(values)), [name_of(str(p.patient)) for p in pts], rotation=60,
                  ha="right", fontsize="small")
    ax.set_ylim(0, top)
    ax.set_ylabel("25(OH)D (ng/mL)")
    ax.set_title("Serum 25(OH)D at diagnosis")
    ax.legend(fontsize="small", loc="upper right")
    return _save(fig, path)

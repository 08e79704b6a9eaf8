"""``bmes demo OUT``: the whole workflow on the bundled sample data.

1. builds the phantom cohort of the study's Table 1 (19 feet; cached in ``OUT/cohort``),
2. screens it (``bmes screen``: index, pair T1 / STIR, detect edema per bone),
3. imports the clinical table into an SQLite store in ``OUT`` and links the studies,
4. writes the per-foot involvement table (candidates) and the cohort report, whose
   recomputed figures are checked against the figures stated in the study's text.

Everything runs locally with embedded defaults: no server, no configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

#: Environment variable naming the sample-data folder when not running from a checkout.
SAMPLE_DATA_ENV = "BMES_SAMPLE_DATA"


def sample_data_dir() -> Path:
    """The bundled ``sample_data`` folder (``$BMES_SAMPLE_DATA``, else the checkout's).

    Raises
    ------
    BmesError
        If no folder with ``table1_clinical.csv`` is found.
    """
    from ..errors import BmesError

    env = os.environ.get(SAMPLE_DATA_ENV)
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "sample_data")
    for c in candidates:
        if (c / "table1_clinical.csv").is_file():
            return c
    raise BmesError("sample data not found: run from a clone of bmes-imaging or set "
                    f"{SAMPLE_DATA_ENV} to its sample_data folder")


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    p = subparsers.add_parser(
        "demo", help="run the whole workflow on the bundled sample data",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, nargs="?", default=Path("bmes-demo"),
                   help="output folder (default: ./bmes-demo)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel screening processes (default: number of CPUs)")
    p.set_defaults(func=run)


def _say(msg: str) -> None:
    print(msg, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the demo; print where each result is."""
    from .._atomic import make_private_dirs
    from ..export import (
        involvement_rows,
        read_findings_table,
        write_cohort_report,
        write_involvement_table,
    )
    from ..phantom import write_cohort
    from ..screening import screen
    from ..store import open_store

    data = sample_data_dir()
    out: Path = args.out
    make_private_dirs(out)  # health data (synthetic here): 0700 like every output
    clinical = data / "table1_clinical.csv"

    _say(f"[1/4] phantom cohort of Table 1 -> {out / 'cohort'}")
    cohort = out / "cohort"
    write_cohort("table1", cohort, workers=args.workers or os.cpu_count() or 1)

    _say(f"[2/4] screening {cohort} -> {out / 'screen'}")
    result = screen(cohort, out / "screen", workers=args.workers, progress=sys.stderr)
    _say(f"      {result.n_done} studies done, {result.n_failed} failed, "
         f"{result.n_resumed} already done")

    _say(f"[3/4] clinical records -> {out / 'bmes.sqlite'}")
    with open_store(out / "bmes.sqlite") as store:
        report = store.import_clinical(clinical)
        _say(f"      {report.n_patients} patients, {report.n_feet} feet imported")
        from ..dicom import index_folder

        for stack in index_folder(cohort).stacks:
            store.register_study(stack)
        links = store.link_studies()
        linked = [v for v in store.study_links().values() if v is not None]
        _say(f"      {len(linked)} studies linked to a clinical foot by PatientID "
             f"({len(links.linked)} new), {len(links.unlinked_studies)} unlinked "
             f"(normal controls), {len(links.unlinked_records)} feet without a study")
        records = store.clinical_records()

    _say(f"[4/4] tables and report -> {out}")
    findings = read_findings_table(out / "screen" / "involvement.csv", status="candidate")
    rows = involvement_rows(records, findings)
    for suffix in (".csv", ".xlsx"):
        write_involvement_table(rows, out / f"involvement_by_foot_candidates{suffix}")
    rep = write_cohort_report(clinical, out / "report", findings=findings,
                              stated=data / "study_text_figures.json")
    _say(f"      report: {rep.path}")
    for c in rep.disagreements:
        _say(f"      stated {c.stated.value:g} vs recomputed {c.recomputed} [{c.status}]: "
             f"{c.label}")
    feet = sorted(p for p in cohort.glob("p*_*") if p.is_dir())
    _say(f"done. Review a study in napari with: bmes view {feet[0] if feet else cohort}")
    return 0

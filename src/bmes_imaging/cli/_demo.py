"""``bmes demo OUT``: the whole workflow on the bundled sample data.

1. builds the phantom cohort of the study's Table 1 (18 feet and a normal control, and
   a follow-up study of every foot 14-22 months later; cached in ``OUT/cohort``),
2. screens it (``bmes screen``: index, pair T1 / STIR, detect edema per bone),
3. imports the clinical table into an SQLite store in ``OUT`` and links the studies,
4. follows each foot over time (``bmes follow-up --all``: follow-up registered to the
   baseline, per-bone change and course, long and wide tables, a plot per foot),
5. writes the per-foot involvement table of the baseline studies (candidates) and the
   cohort report (Markdown and HTML) with its follow-up section, whose recomputed
   figures are checked against the figures stated in the study's text.

Patients are pseudonymised with the key ``OUT/pseudonym.key`` (made on the first run,
kept after), so pseudonyms are the same every time the demo runs in ``OUT``.

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
    from ..phantom import write_cohort
    from ..screening import screen

    data = sample_data_dir()
    out: Path = args.out
    make_private_dirs(out)  # health data (synthetic here): 0700 like every output
    clinical = data / "table1_clinical.csv"

    _say(f"[1/5] phantom cohort of Table 1, baseline and follow-up -> {out / 'cohort'}")
    cohort = out / "cohort"
    write_cohort("table1", cohort, workers=args.workers or os.cpu_count() or 1,
                 follow_up=True)

    _say(f"[2/5] screening {cohort} -> {out / 'screen'}")
    result = screen(cohort, out / "screen", workers=args.workers, progress=sys.stderr)
    _say(f"      {result.n_done} studies done, {result.n_failed} failed, "
         f"{result.n_resumed} already done")

    _say(f"[3/5] clinical records -> {out / 'bmes.sqlite'}")
    links, records = _store(out, clinical, cohort)

    _say(f"[4/5] follow-up -> {out / 'followup'}")
    follow, prov, key_path = _follow_up(out, cohort, links, records)

    _say(f"[5/5] tables and report -> {out}")
    _tables_and_report(out, data, follow, prov, key_path, records)
    feet = sorted(p for p in cohort.glob("p*_*") if p.is_dir())
    _say(f"done. Review a study in napari with: bmes view {feet[0] if feet else cohort}")
    return 0


def _store(out: Path, clinical: Path, cohort: Path) -> tuple[Any, list[Any]]:
    """Import the clinical table, register and link the studies; the links and records."""
    from ..dicom import index_folder
    from ..store import open_store

    with open_store(out / "bmes.sqlite") as store:
        report = store.import_clinical(clinical)
        _say(f"      {report.n_patients} patients, {report.n_feet} feet imported")
        for stack in index_folder(cohort).stacks:
            store.register_study(stack)
        links = store.link_studies()
        linked = [v for v in store.study_links().values() if v is not None]
        _say(f"      {len(linked)} studies linked to a clinical foot by PatientID "
             f"({len(links.linked)} new), {len(links.unlinked_studies)} unlinked "
             f"(normal controls), {len(links.unlinked_records)} feet without a study")
        return store.study_links(), list(store.clinical_records())


def _follow_up(out: Path, cohort: Path, links: Any, records: list[Any]
               ) -> tuple[Any, Any, Path]:
    """Timelines, registrations and the follow-up outputs (de-identified)."""
    from ..export import Provenance, Pseudonymizer, images_provenance, load_pseudonym_key
    from ..followup import follow_up_screened, foot_course, study_dates, write_follow_up

    key_path = out / "pseudonym.key"
    pseudo = Pseudonymizer(load_pseudonym_key(key_path))
    images, source, from_table = images_provenance(cohort, records)
    prov = Provenance(images=images, image_source=source, phantom_from_table=from_table,
                      findings_source="candidate findings of bmes screen (screen/"
                                      "involvement.csv)",
                      detection="the detector's defaults of this version (no site "
                                "settings file)", readers=("detector",))
    follow = follow_up_screened(out / "screen", dates=study_dates(cohort), links=links,
                                status="candidate")
    write_follow_up(follow, records, out / "followup", pseudonymizer=pseudo,
                    fmt="html", provenance=prov)
    courses = [foot_course(t)[-1][2] for t in follow.with_follow_up]
    regs = [r for r in follow.registrations.values() if r is not None]
    _say(f"      {len(follow.with_follow_up)} feet with a follow-up study: "
         + ", ".join(f"{courses.count(c)} {c}" for c in
                     ("resolved", "improving", "stable", "worse", "new") if courses.count(c))
         + f"; {len(regs)} registered to their baseline"
         + (f" (median rms {sorted(r.rms_mm for r in regs)[len(regs) // 2]:.1f} mm)"
            if regs else ""))
    _say(f"      {out / 'followup' / 'followup.html'}, followup_long / followup_wide "
         ".csv / .xlsx, plots/followup_timelines.png")
    return follow, prov, key_path


def _tables_and_report(out: Path, data: Path, follow: Any, prov: Any, key_path: Path,
                       records: list[Any]) -> None:
    """The baseline involvement table and the cohort report with its follow-up section."""
    from ..export import (
        involvement_rows,
        load_pseudonym_key,
        read_findings_table,
        write_cohort_report,
        write_involvement_table,
    )
    from ..followup import follow_up_section

    clinical = data / "table1_clinical.csv"
    baseline = {t.baseline.study.study_instance_uid for t in follow.timelines}
    findings = read_findings_table(out / "screen" / "involvement.csv", status="candidate",
                                   studies=baseline)
    rows = involvement_rows(records, findings)
    for suffix in (".csv", ".xlsx"):
        write_involvement_table(rows, out / f"involvement_by_foot_candidates{suffix}")
    extra = follow_up_section(follow, records, dated=False)
    rep = None
    for fmt in ("html", "markdown"):
        rep = write_cohort_report(clinical, out / "report", findings=findings,
                                  stated=data / "study_text_figures.json", fmt=fmt,
                                  pseudonym_key=load_pseudonym_key(key_path),
                                  key_path=key_path, provenance=prov, extra=extra)
        _say(f"      report: {rep.path}")
    assert rep is not None
    _say(f"      {rep.disagreement_line()}")
    for c in rep.disagreements:
        _say(f"      stated {c.stated.value:g} vs recomputed {c.recomputed} [{c.status}]: "
             f"{c.label}")

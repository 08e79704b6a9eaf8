"""Generate ``src/bmes_imaging/export/data/ps3_15_e1_1.csv``: DICOM PS3.15 Table E.1-1.

The table (every attribute of the Basic Application Level Confidentiality Profile and the
action of the profile and of each option) is not re-typed by hand. It is taken from the
machine-readable copy that the ``idiscore`` package (PyPI, maintained) generates by
scraping the standard's own page
(dicom.nema.org/medical/dicom/current/output/chtml/part15/chapter_E.html) into
``idiscore/_public_dicom.py``. This script

1. downloads the pinned idiscore wheel with pip (no install: idiscore needs Python 3.12,
   the toolkit runs on 3.11, and only its data is used), checks its SHA-256,
2. parses ``_public_dicom.py`` with :mod:`ast` (nothing of it is executed),
3. cross-checks the Basic Profile column against a second, independent scrape: the
   ``dicomfields_<release>.py`` tables of the ``dicom-anonymizer`` package (Kitware),
   and prints every difference; attributes only the newer scrape holds are added with
   its Basic Profile action (column ``source`` says which scrape a row comes from),
4. writes the CSV with its provenance in the header.

Run it when the standard changes (``python tools/deid_table.py``) and commit the CSV.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

IDISCORE = ("idiscore", "1.6.0")
IDISCORE_SHA256 = "c2b8dbb252390ea3072ed3a069fd21c0814c40dd2a7f344d9ffe15e1e6afe14a"
ANONYMIZER = ("dicom-anonymizer", "2.1.0")
OUT = Path(__file__).resolve().parents[1] / "src/bmes_imaging/export/data/ps3_15_e1_1.csv"

#: Column of the CSV -> name of the rule set in idiscore (= the standard's column).
COLUMNS = {
    "basic": "Basic Application Level Confidentiality Profile",
    "rtn_safe_priv": "Retain Safe Private Option",
    "rtn_uids": "Retain UIDs",
    "rtn_dev_id": "Retain Device Identity Option",
    "rtn_inst_id": "Retain Institution Identity Option",
    "rtn_pat_chars": "Retain Patient Characteristics Option",
    "rtn_long_full_dates": "Retain Longitudinal Temporal Information with Full Dates Option",
    "rtn_long_modif_dates":
        "Retain Longitudinal Temporal Information with Modified Dates Option",
    "clean_desc": "Clean Descriptors Option",
    "clean_struct": "Clean Structured Content Option",
    "clean_graph": "Clean Graphics Option",
}
_ACTION = {"DUMMY": "D", "EMPTY": "Z", "REMOVE": "X", "KEEP": "K", "CLEAN": "C",
           "UID": "U", "EMPTY_OR_DUMMY": "Z/D", "REMOVE_OR_EMPTY": "X/Z",
           "REMOVE_OR_DUMMY": "X/D", "REMOVE_OR_EMPTY_OR_DUMMY": "X/Z/D",
           "REMOVE_OR_EMPTY_OR_UID": "X/Z/U*"}


def _download(name: str, version: str, folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12",
                    f"{name}=={version}", "-d", str(folder)], check=True)
    wheels = list(folder.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel of {name} {version} in {folder}")
    return wheels[0]


def _tag_text(node: ast.expr) -> str | None:
    """'00100010', '50xx0010' (repeating group) or 'private' from an identifier call."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in ("SingleTag", "RepeatingGroup") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                return arg.value.lower().replace("(", "").replace(")", "").replace(",", "")
        if node.func.id == "PrivateTags":
            return "private"
    return None


def read_idiscore(source: str) -> tuple[dict[str, dict[str, str]], dict[str, str], str]:
    """{column: {tag: action}}, {tag: keyword}, scrape date, from ``_public_dicom.py``."""
    tree = ast.parse(source)
    keywords = {m.group(1).lower(): m.group(2) for m in re.finditer(
        r'(?:SingleTag|RepeatingGroup)\("([0-9A-Fa-fxX]{8})"\).*?#\s*(\w+)', source, re.DOTALL)}
    by_name: dict[str, dict[str, str]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "RawNemaRuleSet"):
            continue
        kw = {k.arg: k.value for k in node.keywords}
        name = ast.literal_eval(kw["name"])
        rules: dict[str, str] = {}
        for item in kw["rules"].elts:  # type: ignore[attr-defined]
            tag = _tag_text(item.elts[0])
            action = item.elts[1].attr
            if tag is not None:
                rules[tag] = _ACTION[action]
        by_name[name] = rules
    date = re.search(r"scrape date:\s*(\S+)", source)
    return ({col: by_name[name] for col, name in COLUMNS.items()}, keywords,
            date.group(1) if date else "unknown")


def read_anonymizer(wheel: Path) -> tuple[str, dict[str, str]]:
    """The newest ``dicomfields_<release>.py`` of dicom-anonymizer: {tag: basic action}."""
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if re.search(r"dicomfields_\d\w*\.py$", n))
        name = names[-1]
        text = z.read(name).decode()
    release = re.search(r"dicomfields_(\d\w*)\.py", name).group(1)  # type: ignore[union-attr]
    actions: dict[str, str] = {}
    for block in re.finditer(r"^(\w+)_TAGS = \[(.*?)^\]", text, re.DOTALL | re.MULTILINE):
        action = block.group(1).replace("_STAR", "*").replace("_", "/")
        for g, e in re.findall(r"\(0x([0-9A-Fa-f]{4}), 0x([0-9A-Fa-f]{4})\)", block.group(2)):
            actions[(g + e).lower()] = action
    return release, actions


def _keyword(tag: str) -> str:
    """pydicom's keyword of a tag ('' if unknown to this pydicom)."""
    from pydicom.datadict import keyword_for_tag

    return str(keyword_for_tag(int(tag, 16)) or "")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download(*IDISCORE, Path(tmp))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != IDISCORE_SHA256:
            print(f"warning: {wheel.name} sha256 {digest} (expected {IDISCORE_SHA256})",
                  file=sys.stderr)
        with zipfile.ZipFile(wheel) as z:
            source = z.read("idiscore/_public_dicom.py").decode()
        columns, keywords, scraped = read_idiscore(source)
        release, second = read_anonymizer(_download(*ANONYMIZER, Path(tmp)))
    basic = columns["basic"]
    only_second = sorted(set(second) - set(basic))
    differ = sorted(t for t in set(second) & set(basic) if second[t] != basic[t])
    print(f"{len(basic)} attributes in the Basic Profile (idiscore {IDISCORE[1]}, scraped "
          f"{scraped}); dicom-anonymizer {ANONYMIZER[1]} ({release}): {len(second)}, "
          f"{len(only_second)} more, {len(differ)} with another action")
    for t in only_second:
        print(f"  only in {release}: {t} {second[t]}")
    for t in differ:
        print(f"  differs: {t} {keywords.get(t, '')}: {basic[t]} vs {second[t]} ({release})")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as f:
        f.write("\n".join([
            "# DICOM PS3.15 Table E.1-1 (Basic Profile and options), generated by "
            "tools/deid_table.py",
            f"# from {IDISCORE[0]} {IDISCORE[1]} (PyPI, wheel sha256 {digest[:16]}...), "
            "idiscore/_public_dicom.py,",
            f"# scraped {scraped} from dicom.nema.org/medical/dicom/current/output/chtml/"
            "part15/chapter_E.html;",
            f"# cross-checked against {ANONYMIZER[0]} {ANONYMIZER[1]} dicomfields_{release}: "
            f"{len(differ)} different actions;",
            f"# its {len(only_second)} attributes newer than the idiscore scrape added "
            "(column source).",
            "# Empty option cell: the option does not change the Basic Profile action.",
            ""]))
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["tag", "keyword", *COLUMNS, "source"])
        for tag in sorted(set(basic) | set(only_second)):
            if tag in basic:
                writer.writerow([tag, keywords.get(tag, ""),
                                 *(columns[c].get(tag, "") for c in COLUMNS), "idiscore"])
            else:
                writer.writerow([tag, _keyword(tag), second[tag],
                                 *([""] * (len(COLUMNS) - 1)), f"dicom-anonymizer {release}"])
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

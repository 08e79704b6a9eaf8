"""One configuration surface: every BMES_* variable the code reads is declared and documented."""

from __future__ import annotations

import re
from pathlib import Path

from bmes_imaging.config import ENVIRONMENT, current_settings, variable

ROOT = Path(__file__).resolve().parents[2]
#: ``BMES_*`` strings in the code that are not environment variables
NOT_VARIABLES = {"BMES_EDEMA", "BMES_STORE"}  # the SEG's content label; an AE title in examples


def _names_in_code() -> set[str]:
    found: set[str] = set()
    for folder in ("src", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "config.py":
                continue
            found |= set(re.findall(r"[\"'](BMES_[A-Z0-9_]+)[\"']", path.read_text("utf-8")))
    return found - NOT_VARIABLES


def test_every_variable_read_in_the_code_is_declared() -> None:
    declared = {v.name for v in ENVIRONMENT}
    undeclared = _names_in_code() - declared
    assert not undeclared, f"declare these in bmes_imaging/config.py: {sorted(undeclared)}"
    assert len(declared) == len(ENVIRONMENT)  # no name twice


def test_every_declared_variable_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    missing = [v.name for v in ENVIRONMENT if f"`{v.name}`" not in readme]
    assert not missing, f"list these in the README's environment table: {missing}"


def test_current_settings_masks_passwords_only_where_secret() -> None:
    env = {"BMES_DB": "postgresql+psycopg://bmes:pa:ss@db.example/bmes",
           "BMES_READER": "Reader_A"}
    values = current_settings(env)
    assert values["BMES_DB"] == "postgresql+psycopg://bmes:***@db.example/bmes"
    assert values["BMES_READER"] == "Reader_A"
    assert values["BMES_CONFIG"] is None
    assert variable("BMES_DB").secret and not variable("BMES_READER").secret

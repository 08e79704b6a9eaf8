"""Every environment variable the toolkit reads, in one place.

The toolkit takes its settings from command-line options first, then from these
variables, then from the defaults listed here. Each module still reads its own variable
(so that it stays the one place that knows what the value means), but every variable
is declared here, and a test checks that no module reads a ``BMES_*`` variable that is
not declared here and listed in the README.

Examples
--------
>>> from bmes_imaging.config import ENVIRONMENT, variable
>>> variable("BMES_DB").default
'~/.local/share/bmes-imaging/bmes.sqlite'
>>> all(v.name.startswith("BMES_") for v in ENVIRONMENT)
True
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

__all__ = ["ENVIRONMENT", "EnvironmentVariable", "current_settings", "variable"]


@dataclass(frozen=True)
class EnvironmentVariable:
    """One environment variable of the toolkit.

    Attributes
    ----------
    name
        The variable's name (``BMES_...``).
    meaning
        What it sets, in one line.
    default
        What is used when it is not set (as the user would write it).
    secret
        Its value may hold a password (shown masked by :func:`current_settings`).
    """

    name: str
    meaning: str
    default: str = ""
    secret: bool = False


#: Every variable, in the order of the README's table.
ENVIRONMENT: tuple[EnvironmentVariable, ...] = (
    EnvironmentVariable("BMES_DB", "the store (SQLite path or SQLAlchemy URL)",
                        "~/.local/share/bmes-imaging/bmes.sqlite", secret=True),
    EnvironmentVariable("BMES_ANNOTATIONS", "folder of the store's label maps (older stores)",
                        "beside the SQLite file"),
    EnvironmentVariable("BMES_ATLAS_DIR", "the site's atlas library",
                        "atlases/ beside the SQLite file"),
    EnvironmentVariable("BMES_CONFIG", "site settings file (bmes validate --fit)", "none"),
    EnvironmentVariable("BMES_READER", "the reader's name recorded with each save", "none"),
    EnvironmentVariable("BMES_DETECTION_THREADS", "threads of one detection", "up to 2"),
    EnvironmentVariable("BMES_NO_NUMBA",
                        "1: the atlas registration's numpy code instead of its compiled "
                        "loops (the same masks, slower)", "compiled when numba is there"),
    EnvironmentVariable("BMES_NO_ATLAS_CACHE",
                        "1: the flexed atlas is made in each process, not kept in the cache "
                        "folder", "kept in $BMES_CACHE/atlas"),
    EnvironmentVariable("BMES_MAX_FILE_BYTES",
                        "largest DICOM file (declared or inflated) read before refusing",
                        "1 GiB"),
    EnvironmentVariable("BMES_MAX_SERIES_BYTES",
                        "largest DICOM series (declared or inflated) read before refusing",
                        "2 GiB"),
    EnvironmentVariable("BMES_BUSY_TIMEOUT_S",
                        "how long a writer waits for a store held by another", "30 s"),
    EnvironmentVariable("BMES_ORPHAN_AGE_S",
                        "age after which abandoned temporary files are removed on open",
                        "3600 s"),
    EnvironmentVariable("BMES_PSEUDONYM_KEY_FILE", "key of the pseudonyms in shared exports",
                        "~/.local/share/bmes-imaging/pseudonym.key"),
    EnvironmentVariable("BMES_PSEUDONYM_KEY", "the same as BMES_PSEUDONYM_KEY_FILE (alias)",
                        "BMES_PSEUDONYM_KEY_FILE"),
    EnvironmentVariable("BMES_LAB_RANGES", "the laboratory's 25(OH)D ranges (JSON file)",
                        "the seed study's guideline"),
    EnvironmentVariable("BMES_CACHE", "the napari plugin's and the flexed atlas' cache folder",
                        "$XDG_CACHE_HOME/bmes-imaging"),
    EnvironmentVariable("BMES_SAMPLE_STUDY", "the study napari's sample data opens",
                        "a phantom study made on first use"),
    EnvironmentVariable("BMES_SAMPLE_DATA", "the bundled sample_data folder (bmes demo)",
                        "the checkout's sample_data/"),
    EnvironmentVariable("BMES_QUEUE", "the study queue folder of the review plugin", "none"),
)

_BY_NAME = {v.name: v for v in ENVIRONMENT}


def variable(name: str) -> EnvironmentVariable:
    """The declaration of one variable.

    Parameters
    ----------
    name
        ``BMES_...`` name.

    Returns
    -------
    EnvironmentVariable

    Raises
    ------
    KeyError
        If the toolkit has no such variable.
    """
    return _BY_NAME[name]


def _masked(value: str) -> str:
    """A URL's password replaced by ``***`` (``postgresql://u:pw@h/db``)."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", value)


def current_settings(environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """The value of every variable in ``environ`` (default: this process), passwords masked.

    Parameters
    ----------
    environ
        The environment to read (default ``os.environ``).

    Returns
    -------
    dict
        Name to value, ``None`` where the variable is not set (its default applies).

    Examples
    --------
    >>> current_settings({"BMES_DB": "postgresql://bmes:s3cret@db/bmes"})["BMES_DB"]
    'postgresql://bmes:***@db/bmes'
    """
    env = os.environ if environ is None else environ
    out: dict[str, str | None] = {}
    for v in ENVIRONMENT:
        value = env.get(v.name)
        out[v.name] = _masked(value) if (value is not None and v.secret) else value
    return out

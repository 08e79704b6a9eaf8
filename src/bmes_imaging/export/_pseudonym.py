"""Stable pseudonyms for patients: a keyed hash (HMAC-SHA256) of the identifier.

The same key gives the same pseudonym for the same patient in every table, report and
DICOM object, so de-identified outputs stay linkable to each other but not to the
patient without the key. The key lives in a file only its owner can read: the file
given by ``--key FILE``, else ``$BMES_PSEUDONYM_KEY`` (or its older name
``$BMES_PSEUDONYM_KEY_FILE``), else ``~/.local/share/bmes-imaging/pseudonym.key``.
A missing key file is created with 32 random bytes, and a warning names where: a new
key gives new pseudonyms, so that never happens silently. Reports name the key file
and its fingerprint (:func:`key_fingerprint`), so two outputs can be checked to share
one key without showing it.

Examples
--------
>>> p = Pseudonymizer(b"0" * 32)
>>> p.patient("7") == p.patient("7") != p.patient("8")
True
>>> p.patient("7").startswith("P-")
True
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from .._atomic import write_bytes_atomic
from ..errors import ExportError

__all__ = ["KEY_ENV", "Pseudonymizer", "default_key_path", "key_fingerprint",
           "load_pseudonym_key"]

log = logging.getLogger(__name__)

#: Environment variables naming the key file, in order of preference.
KEY_ENV = ("BMES_PSEUDONYM_KEY", "BMES_PSEUDONYM_KEY_FILE")


def default_key_path() -> Path:
    """Where the pseudonym key is kept: ``$BMES_PSEUDONYM_KEY``, else
    ``$BMES_PSEUDONYM_KEY_FILE``, else the user data folder."""
    for name in KEY_ENV:
        env = os.environ.get(name)
        if env:
            return Path(env)
    return Path.home() / ".local" / "share" / "bmes-imaging" / "pseudonym.key"


def load_pseudonym_key(path: str | os.PathLike[str] | None = None, *,
                       create: bool = True) -> bytes:
    """Read the pseudonym key, creating a random one (mode 0600) if missing.

    Raises
    ------
    ExportError
        If the key file is missing and ``create`` is false, or shorter than 16 bytes.
    """
    key_path = Path(path) if path is not None else default_key_path()
    if not key_path.exists():
        if not create:
            raise ExportError(f"{key_path}: pseudonym key not found; pass the key file used "
                              "for earlier exports so pseudonyms stay stable")
        write_bytes_atomic(key_path, secrets.token_bytes(32), mode=0o600)
        log.warning("created a new pseudonym key %s: keep it and pass it again (--key "
                    "FILE or $BMES_PSEUDONYM_KEY) so pseudonyms stay the same", key_path)
    key = key_path.read_bytes()
    if len(key) < 16:
        raise ExportError(f"{key_path}: pseudonym key is too short ({len(key)} bytes, need "
                          ">= 16)")
    return key


def key_fingerprint(key: bytes) -> str:
    """A short public fingerprint of a key (8 hex digits): equal keys, equal fingerprints.

    Examples
    --------
    >>> key_fingerprint(b"0" * 32) == key_fingerprint(b"0" * 32) != key_fingerprint(b"1" * 32)
    True
    """
    return hmac.new(bytes(key), b"bmes-imaging key fingerprint", hashlib.sha256
                    ).hexdigest()[:8].upper()


class Pseudonymizer:
    """Maps identifiers to stable pseudonyms with a secret key.

    Parameters
    ----------
    key
        Secret key bytes (see :func:`load_pseudonym_key`).
    """

    def __init__(self, key: bytes) -> None:
        self._key = bytes(key)

    def _digest(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def patient(self, patient_id: str) -> str:
        """Pseudonym for a patient (``P-`` + 8 hex digits, upper case)."""
        return "P-" + self._digest("patient", str(patient_id).strip())[:8].upper()

    def uid(self, uid: str) -> str:
        """A replacement DICOM UID (``2.25.<int>``) derived from ``uid`` (<= 64 chars)."""
        return "2.25." + str(int(self._digest("uid", uid)[:30], 16))

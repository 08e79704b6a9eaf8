"""Who the PACS is and who we are: settings from options or a TOML file, and the error.

A settings file (``--settings pacs.toml``) holds a ``[pacs]`` table; options given on the
command line win over it::

    [pacs]
    host = "pacs.example.org"
    port = 104
    called_aet = "PACS"      # the PACS' AE title
    aet = "BMES"             # ours
    move_aet = "BMES_STORE"  # for C-MOVE: the PACS must know it (host, port)
    store_port = 11113       # where our storage SCP listens for C-MOVE
    timeout = 30
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..errors import BmesError

__all__ = ["PacsError", "PacsSettings", "load_settings", "status_text"]


class PacsError(BmesError, ConnectionError):
    """A DICOM network operation failed: the message names the peer (AE title, host,
    port) and the DIMSE status, never a patient."""


@dataclass(frozen=True)
class PacsSettings:
    """A DICOM peer and our side of the association.

    Attributes
    ----------
    host, port
        The PACS (or any DICOM node).
    called_aet
        Its AE title.
    aet
        Our AE title (calling AE).
    move_aet
        The destination AE title for C-MOVE (our storage SCP); None retrieves with C-GET.
    store_host, store_port
        Where our storage SCP listens during a C-MOVE.
    timeout
        Seconds for association, DIMSE messages and the network.
    """

    host: str = "127.0.0.1"
    port: int = 104
    called_aet: str = "ANY-SCP"
    aet: str = "BMES"
    move_aet: str | None = None
    store_host: str = "0.0.0.0"
    store_port: int = 11113
    timeout: float = 30.0

    @property
    def peer(self) -> str:
        """``AET@host:port`` of the PACS, for messages."""
        return f"{self.called_aet}@{self.host}:{self.port}"

    def check(self) -> PacsSettings:
        """Validate the values; return self.

        Raises
        ------
        PacsError
            Port out of range, AE title empty or longer than 16 characters.
        """
        for name in ("aet", "called_aet", "move_aet"):
            value = getattr(self, name)
            if value is not None and not (0 < len(value.strip()) <= 16):
                raise PacsError(f"{name} {value!r}: an AE title has 1-16 characters")
        for name in ("port", "store_port"):
            if not 0 < int(getattr(self, name)) < 65536:
                raise PacsError(f"{name} {getattr(self, name)}: expected 1-65535")
        return self


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> PacsSettings:
    """Settings from a TOML file's ``[pacs]`` table, then the non-None ``overrides``.

    Raises
    ------
    PacsError
        The file is unreadable, not TOML, or names an unknown setting.
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PacsError(f"{path}: cannot read the PACS settings: {exc}") from None
        table = data.get("pacs", data)
        known = {f.name for f in fields(PacsSettings)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise PacsError(f"{path}: unknown PACS setting(s) {', '.join(unknown)}; "
                            f"expected some of: {', '.join(sorted(known))}")
        values.update(table)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(PacsSettings(), **values).check()


def status_text(status: int, service: str = "") -> str:
    """``0xA700 (Refused: Out of Resources)``: a DIMSE status with its meaning."""
    from pynetdicom import status as st

    tables = {"find": st.QR_FIND_SERVICE_CLASS_STATUS, "get": st.QR_GET_SERVICE_CLASS_STATUS,
              "move": st.QR_MOVE_SERVICE_CLASS_STATUS, "store": st.STORAGE_SERVICE_CLASS_STATUS,
              "echo": st.VERIFICATION_SERVICE_CLASS_STATUS}
    table = {**st.GENERAL_STATUS, **tables.get(service, {})}
    meaning = table.get(int(status))
    return f"0x{int(status):04X}" + (f" ({meaning[1]})" if meaning else "")

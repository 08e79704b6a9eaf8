"""One association with the PACS (pynetdicom), and C-ECHO."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ._settings import PacsError, PacsSettings, status_text

__all__ = ["FIND", "GET", "MOVE", "VERIFICATION", "association", "echo"]

# SOP classes (PS3.4): Verification and the Study Root Query/Retrieve models
VERIFICATION = "1.2.840.10008.1.1"
FIND = "1.2.840.10008.5.1.4.1.2.2.1"
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
GET = "1.2.840.10008.5.1.4.1.2.2.3"


def _ae(settings: PacsSettings) -> Any:
    from pynetdicom import AE

    ae = AE(ae_title=settings.aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.timeout
    ae.connection_timeout = settings.timeout
    return ae


@contextmanager
def association(settings: PacsSettings, contexts: Sequence[Any], *, what: str,
                roles: Sequence[Any] = (), handlers: Sequence[Any] = ()) -> Iterator[Any]:
    """An established association with ``settings``' peer, released on exit.

    Parameters
    ----------
    contexts
        ``(abstract syntax, transfer syntaxes or None)`` pairs to request.
    what
        The operation, for messages (``"C-FIND"``...).

    Raises
    ------
    PacsError
        Rejected, aborted or unreachable peer.
    """
    ae = _ae(settings)
    for abstract, syntaxes in contexts:
        if syntaxes is None:
            ae.add_requested_context(abstract)
        else:
            ae.add_requested_context(abstract, syntaxes)
    assoc = ae.associate(settings.host, int(settings.port), ae_title=settings.called_aet,
                         ext_neg=list(roles) or None, evt_handlers=list(handlers) or None)
    if not assoc.is_established:
        why = ("rejected the association (check the AE titles: ours "
               f"{settings.aet!r}, theirs {settings.called_aet!r})" if assoc.is_rejected
               else "aborted the association" if assoc.is_aborted
               else "could not be reached")
        raise PacsError(f"{what} {settings.peer}: the peer {why}")
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def echo(settings: PacsSettings) -> float:
    """C-ECHO the peer; the round trip in seconds.

    Raises
    ------
    PacsError
        No association, or a status other than success.
    """
    start = time.perf_counter()
    with association(settings, [(VERIFICATION, None)], what="C-ECHO") as assoc:
        status = assoc.send_c_echo()
    if not status or "Status" not in status:
        raise PacsError(f"C-ECHO {settings.peer}: no response (timeout or aborted)")
    if int(status.Status) != 0:
        raise PacsError(f"C-ECHO {settings.peer}: status {status_text(status.Status, 'echo')}")
    return time.perf_counter() - start

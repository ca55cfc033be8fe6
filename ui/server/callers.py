"""Who a caller is, decided in one place: the queue's fair share (ui/server/queue.py), the
Guard's MCP checks (ui/server/security.py) and the handlers that keep something per
session (the search gallery) all ask here.

A caller is a **visitor** at an **address**:

- the visitor is the login name when there is one (a classroom student, a
  PLAYGROUND_AUTH user: every page and API client of one student counts as one), else
  the MCP agent the Guard vouched for, else the Gradio session (one browser page, one
  ``gradio_client.Client``: each draws its own ``session_hash``);
- the address is the one the Guard decided (TRUSTED_PROXIES): a whole class behind a
  school's NAT shares it, so it only bounds floods (QUEUE_PER_ADDRESS), never a visitor.

MCP agents reach the queue through Gradio's loopback client, which has one session for
every agent and connects from this machine. The Guard therefore stamps each request to
``/gradio_api/mcp`` with ``x-playground-caller``: who the agent is (its login, else its MCP
session, else its address) and its real address, signed with a key made once per process;
Gradio forwards the agent's headers with the tool's call, and the stamp is believed only
with a valid signature.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from runtime.inputs import identity

CALLER_HEADER = "x-playground-caller"


@dataclass(frozen=True)
class Caller:
    visitor: str  # "user:<login>", "mcp:<id>", "session:<hash>", "address:<address>"
    address: str  # as the Guard decided it


@functools.cache
def _key() -> bytes:
    return secrets.token_bytes(32)  # made on first use, never stored: a stamp lives as long as the process


def stamp(visitor: str, address: str) -> str:
    """The ``x-playground-caller`` value vouching for an MCP agent."""
    body = f"{visitor}\t{address}"
    return f"{hmac.new(_key(), body.encode(), hashlib.sha256).hexdigest()}\t{body}"


def _vouched(value: str | None) -> tuple[str, str] | None:
    """(visitor, address) of a valid stamp, else None (a stamp a client made up)."""
    signature, _, body = (value or "").partition("\t")
    expected = hmac.new(_key(), body.encode(), hashlib.sha256).hexdigest()
    if not body or not hmac.compare_digest(signature, expected):
        return None
    visitor, _, address = body.partition("\t")
    return visitor, address


def caller(session_hash: str | None, username: str | None, headers, address: str | None) -> Caller:
    """Who sent a request: ``headers`` a mapping (a request's headers), ``address`` the
    connection's (decided by the Guard)."""
    vouched = _vouched(headers.get(CALLER_HEADER)) if headers is not None else None
    if vouched is not None:  # an MCP agent, through Gradio's loopback: its own address
        visitor, address = vouched
    else:
        # A plain-HTTP call without a session (POST /gradio_api/call/<name>) has nothing
        # else to tell it apart: those from one address are one visitor.
        visitor = f"session:{session_hash}" if session_hash else f"address:{address or 'unknown'}"
    if username:
        visitor = "user:" + identity(str(username))
    return Caller(visitor, address or "unknown")


def of_request(request) -> Caller:
    """The caller of a ``gr.Request`` (or a Starlette/FastAPI request, or None)."""
    if request is None:
        return Caller("address:unknown", "unknown")
    client = getattr(request, "client", None)
    return caller(
        getattr(request, "session_hash", None),
        getattr(request, "username", None),
        getattr(request, "headers", None),
        getattr(client, "host", None),
    )


def of_event(event) -> Caller:
    """The caller of a job in Gradio's queue (its join request, session and login)."""
    request = event.request
    client = getattr(request, "client", None)
    session = event.session_hash if event.session_hash != event._id else None  # Gradio's stand-in for none
    return caller(session, event.username, getattr(request, "headers", None), getattr(client, "host", None))


def session_of(request) -> str | None:
    """The session a handler keeps things under (the search gallery's own images): the
    Gradio session, or for an MCP tool call the agent's (all agents share the loopback
    client's session, so one agent would see another's images)."""
    headers = getattr(request, "headers", None)
    vouched = _vouched(headers.get(CALLER_HEADER)) if headers is not None else None
    return vouched[0] if vouched is not None else getattr(request, "session_hash", None)


def loopback_login() -> tuple[str, str]:
    """The login of Gradio's own MCP client where the app has one (ui/server/security.py):
    a name and a password made from this process's key, so no one else has them."""
    secret = hmac.new(_key(), b"loopback", hashlib.sha256).hexdigest()
    return f"mcp-loopback-{secret[:12]}", secret[12:]

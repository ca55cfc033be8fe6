"""Who is asking, and how much they may ask: who a request comes from, decided in one
place, and the per-caller rate limits and allowances of public deployments.

**Who.** The queue's fair share (ui/server/queue.py), the Guard's address, rate limit
and MCP checks (ui/server/security.py), the allowances below and the handlers that keep
something per session (the search gallery) all ask here. A caller is a **visitor** at
an **address**:

- the visitor is the login name when there is one (a classroom student, a
  PLAYGROUND_AUTH user: every page and API client of one student counts as one), else
  the MCP agent the Guard vouched for, else the Gradio session (one browser page, one
  ``gradio_client.Client``: each draws its own ``session_hash``);
- the address is the one the Guard decided (``client_key``, TRUSTED_PROXIES): a whole
  class behind a school's NAT shares it, so it only bounds floods (QUEUE_PER_ADDRESS),
  never a visitor.

MCP agents reach the queue through Gradio's loopback client, which has one session for
every agent and connects from this machine. The Guard therefore stamps each request to
``/gradio_api/mcp`` with ``x-playground-caller``: who the agent is (its login, else its MCP
session, else its address) and its real address, signed with a key made once per process;
Gradio forwards the agent's headers with the tool's call, and the stamp is believed only
with a valid signature.

**How much.** ``RateLimiter`` is a sliding-window counter: at most ``count`` hits per
``period`` seconds for each key (a client address, a user name, a student). It is small
and independent of Gradio, so any part of the app can keep its own limits with it:

    limiter = RateLimiter.parse("20/minute")
    wait = limiter.hit(client_key(request))   # None: go ahead; else seconds to wait

``Allowance`` is the same for amounts a request only knows as it goes (bytes unpacked,
images added): it takes what it may use and gives back the rest.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from runtime import settings
from runtime.inputs import identity

log = logging.getLogger("playground")

# --- Who is asking ----------------------------------------------------------------------


def client_key(client_host: str | None, headers: Mapping[str, str], trusted_proxies: int = 0) -> str:
    """The address a request comes from: the connection's, or behind ``trusted_proxies``
    proxies (``TRUSTED_PROXIES``) the address the outermost of them saw, which is
    that many entries from the end of X-Forwarded-For (each proxy appends the address
    it got the request from; entries further left are whatever the client sent)."""
    if trusted_proxies > 0:
        forwarded = [part.strip() for part in headers.get("x-forwarded-for", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-min(trusted_proxies, len(forwarded))]
    return client_host or "unknown"


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


def visitor(request) -> str:
    """Who a request (a gr.Request) comes from, for per-visitor allowances: the login name,
    else the address the Guard decided (for an MCP agent, its own: ``caller``).
    Not the session: a new session would start a new allowance."""
    if request is None:
        return "local"
    who = of_request(request)
    return who.visitor if who.visitor.startswith("user:") else who.address


# --- How much they may ask ---------------------------------------------------------------

PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def parse_rate(text: str) -> tuple[int, float]:
    """ "20/minute" -> (20, 60.0). Also "5/10s", "100/hour", "1000/day"."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*\.?\d*)\s*([a-z]+)\s*", text.lower())
    if not match or match.group(3) not in PERIODS or int(match.group(1)) < 1:
        raise ValueError(
            f"A rate limit looks like '20/minute' (a count of at least 1, then second, minute, hour or day, "
            f"optionally with a number: '5/10s'), not {text!r}."
        )
    multiple = float(match.group(2)) if match.group(2) else 1.0
    if multiple <= 0:
        raise ValueError(f"The period of a rate limit must be positive, not {text!r}.")
    return int(match.group(1)), multiple * PERIODS[match.group(3)]


class RateLimiter:
    """At most ``count`` hits per ``period`` seconds per key (a sliding window: the
    hits of the last ``period`` seconds are counted, so bursts at a window's edge
    can't double the rate). Thread-safe; memory is bounded by ``max_keys``, keys
    idle for a whole period are dropped."""

    def __init__(self, count: int, period: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        if count < 1 or period <= 0:
            raise ValueError(f"A rate limit needs count >= 1 and period > 0, not {count}/{period}.")
        self.count, self.period, self.clock, self.max_keys = count, period, clock, max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, text: str, **kwargs) -> RateLimiter | None:
        """The limiter for a setting such as "20/minute"; None for an empty setting (no limit)."""
        return cls(*parse_rate(text), **kwargs) if text.strip() else None

    def hit(self, key: str) -> float | None:
        """Count one request for ``key``. None if it is allowed; else it is refused (and
        not counted) and the result is how many seconds until the next one is allowed."""
        now = self.clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self.max_keys:
                    self._forget_idle(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.period:
                hits.popleft()
            if len(hits) >= self.count:
                return min(max(hits[0] + self.period - now, 0.001), self.period)
            hits.append(now)
            return None

    def wait(self, key: str) -> float | None:
        """Like ``hit`` but counts nothing: None if a hit would be allowed now."""
        now = self.clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                return None
            while hits and hits[0] <= now - self.period:
                hits.popleft()
            return min(max(hits[0] + self.period - now, 0.001), self.period) if len(hits) >= self.count else None

    # For the server's async code (ui/server/security.py): here the same as hit and wait,
    # which never block; a limiter that asks another process runs them off the event loop.
    async def hit_async(self, key: str) -> float | None:
        return self.hit(key)

    async def wait_async(self, key: str) -> float | None:
        return self.wait(key)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.period]:
            del self._hits[key]
        if len(self._hits) >= self.max_keys:  # all busy: forget the oldest rather than grow
            oldest = min(self._hits, key=lambda k: self._hits[k][-1])
            del self._hits[oldest]


class SharedRateLimiter(RateLimiter):
    """``RateLimiter`` with its windows in the store the replicas share (SHARED_STATE,
    runtime/shared.py), so a client counted on one replica is counted on all. While the
    store can't be reached (down, hung), this replica counts in its own windows, as one
    replica would: refusing everyone would take the app from the whole class, and letting
    everyone through would lift the limit (and the login's guard against guessing)."""

    def __init__(self, count: int, period: float, name: str):
        super().__init__(count, period)
        self.name = name

    def _shared(self, key: str, weight: int) -> float | None:
        from runtime.shared import SharedStateError, SharedWindows

        try:
            refused = SharedWindows.connect().hit([(f"rate:{self.name}:{key}", self.period, self.count, weight)])
        except SharedStateError as error:
            log.warning("rate limit %s counted on this replica alone: %s", self.name, error)
            return super().hit(key) if weight else super().wait(key)
        return None if refused is None else min(refused[1], self.period)

    def hit(self, key: str) -> float | None:
        return self._shared(key, 1)

    def wait(self, key: str) -> float | None:
        return self._shared(key, 0)

    async def hit_async(self, key: str) -> float | None:
        from runtime.shared import answering, off_loop

        return await off_loop(self.hit, key) if answering() else super().hit(key)

    async def wait_async(self, key: str) -> float | None:
        from runtime.shared import answering, off_loop

        return await off_loop(self.wait, key) if answering() else super().wait(key)


def rate_limiter(text: str, name: str, factor: int = 1) -> RateLimiter | None:
    """The limiter for a setting such as "20/minute" (``factor`` times its count), shared by
    the replicas under ``name`` when SHARED_STATE is set; None for an empty setting."""
    if not text.strip():
        return None
    count, period = parse_rate(text)
    if settings.SHARED_STATE:
        return SharedRateLimiter(count * factor, period, name)
    return RateLimiter(count * factor, period)


class Allowance:
    """At most ``amount`` units (bytes unpacked, images added) per ``period`` seconds for
    each key, spent by requests that don't know beforehand how much they will use: a
    request takes what it may use (``take``), which concurrent requests of the same key
    can't take again, and gives back what it didn't use (``settle``)."""

    def __init__(
        self, amount: int, period: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ):
        if amount < 1 or period <= 0:
            raise ValueError(f"An allowance needs amount >= 1 and period > 0, not {amount}/{period}.")
        self.amount, self.period, self.clock, self.max_keys = amount, period, clock, max_keys
        self._spent: dict[str, deque[list]] = {}
        self._lock = threading.Lock()

    def left(self, key: str) -> int:
        with self._lock:
            return self.amount - self._used(key, self.clock())

    def take(self, key: str, wanted: int) -> tuple[int, Callable[[int], None]]:
        """(units granted now, at most ``wanted``; ``settle(used)`` to give back the rest)."""
        now = self.clock()
        with self._lock:
            if key not in self._spent and len(self._spent) >= self.max_keys:
                for idle in [k for k, spent in self._spent.items() if not spent or spent[-1][0] <= now - self.period]:
                    del self._spent[idle]
                if len(self._spent) >= self.max_keys:
                    del self._spent[next(iter(self._spent))]
            granted = max(0, min(wanted, self.amount - self._used(key, now)))
            entry = [now, granted]
            self._spent.setdefault(key, deque()).append(entry)

        def settle(used: int) -> None:
            with self._lock:
                entry[1] = max(0, min(used, granted))

        return granted, settle

    def _used(self, key: str, now: float) -> int:
        spent = self._spent.get(key)
        if not spent:
            return 0
        while spent and spent[0][0] <= now - self.period:
            spent.popleft()
        return sum(amount for _, amount in spent)

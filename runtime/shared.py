"""What replicas of the app share (SHARED_STATE=redis://...): sliding-window counts for the
rate limits and the classroom's limits, and the prompt log, in Redis, so that a student
who is limited on one replica is limited on all, and the teacher reads one log.

Unset, each process keeps its own (ui/server/limits.py, classroom/records.py), as one
replica should. Redis's own clock times every window, so replicas whose clocks differ
still agree; each check-and-count is one Lua script, atomic on the server.

    windows = SharedWindows.connect()                         # None without SHARED_STATE
    refused = windows.hit([("rate:runs:1.2.3.4", 60, 30, 1)])  # None: counted; else (window, wait s, used)

Every call is blocking (redis-py's client), so the server's async code makes it through
``off_loop``, on a few threads of its own: a Redis that hangs holds those requests, never
the event loop that answers everyone else (a page, a login). Each call is bounded
(SHARED_STATE_TIMEOUT, no retries), and a store that failed, or has left a call unanswered
for SHARED_STATE_STUCK seconds, is not asked at all for a while: ``SharedStateError`` at
once, and the callers fall back to what this replica keeps itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from runtime import settings

PREFIX = "playground:"
PROMPT_LOG_KEY = PREFIX + "prompt-log"

# KEYS: one sorted set per window (members "<id>:<weight>", scored by time); ARGV: per
# window its period, its limit and this request's weight (0: look, count nothing), then
# an id. Counted in every window only if every window has room; else the first refusing
# window's index (1-based) and the seconds until it has room.
_HIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i, key in ipairs(KEYS) do
  local period, limit, weight = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
  local items = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local used, oldest = 0, nil
  for j = 1, #items, 2 do
    used = used + tonumber(string.match(items[j], ':(%d+)$'))
    if oldest == nil then oldest = tonumber(items[j+1]) end
  end
  if (weight > 0 and used + weight > limit) or (weight == 0 and used >= limit) then
    return {i, tostring((oldest or now) + period - now), used}
  end
end
for i, key in ipairs(KEYS) do
  local period, weight = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i])
  if weight > 0 then
    redis.call('ZADD', key, now, ARGV[#ARGV] .. ':' .. weight)
    redis.call('EXPIRE', key, math.ceil(period) + 1)
  end
end
return {0, '0', 0}
"""


class SharedStateError(RuntimeError):
    """The shared store can't be reached: said in one sentence, never a hung request."""


class SharedWindows:
    """Sliding windows in Redis, checked and counted together in one atomic step."""

    def __init__(self, redis):
        self.redis = redis
        self._hit = redis.register_script(_HIT)

    @classmethod
    def connect(cls) -> SharedWindows | None:
        return _windows() if settings.SHARED_STATE else None

    def hit(self, windows: list[tuple[str, float, int, int]]) -> tuple[int, float, int] | None:
        """``windows``: (key, period s, limit, weight). None when counted in all of them; else
        (index of the window that refused, seconds until it has room, what it holds)."""
        keys = [PREFIX + key for key, *_ in windows]
        args = [value for _, period, limit, weight in windows for value in (period, limit, weight)]
        with _talking():
            index, wait, used = self._hit(keys=keys, args=[*args, uuid.uuid4().hex])
        return None if int(index) == 0 else (int(index) - 1, max(float(wait), 0.001), int(used))


def append_log(line: str) -> None:
    """Add one JSON line to the shared prompt log."""
    with _talking():
        _redis().rpush(PROMPT_LOG_KEY, line)


def read_log() -> list[str]:
    """The shared prompt log's lines, oldest first."""
    with _talking():
        return _redis().lrange(PROMPT_LOG_KEY, 0, -1)


async def off_loop(fn, *args):
    """``fn(*args)``, a blocking call to the store, run on the store's own threads: the
    event loop goes on serving while it waits. Few threads, apart from the ones Gradio
    runs handlers on, so a hung store can't take those either."""
    return await asyncio.get_running_loop().run_in_executor(_threads(), functools.partial(fn, *args))


@functools.cache
def _threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="shared-state")


@functools.cache
def _redis():
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # redis-py retries a timed-out call 10 times with back-off by default: a minute for one
    # request on a hung server. One try each; the callers have a fallback.
    return redis.Redis.from_url(
        settings.SHARED_STATE,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
        socket_timeout=settings.SHARED_STATE_TIMEOUT,
        socket_connect_timeout=settings.SHARED_STATE_CONNECT_TIMEOUT,
        health_check_interval=30,
    )


@functools.cache
def _windows() -> SharedWindows:
    return SharedWindows(_redis())


class _Health:
    """Whether the store is worth asking: not for SHARED_STATE_RETRY seconds after a call
    failed, nor while a call has gone unanswered for SHARED_STATE_STUCK seconds (a hung
    server: every request would wait SHARED_STATE_TIMEOUT on it)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: dict[object, float] = {}  # the calls waiting for an answer, by when they started
        self.failed_at = -float("inf")

    def trouble(self) -> str | None:
        """Why the store is not worth asking now; None when it is."""
        now = time.monotonic()
        with self.lock:
            if now - self.failed_at < settings.SHARED_STATE_RETRY:
                return "it failed a moment ago"
            if any(now - started > settings.SHARED_STATE_STUCK for started in self.calls.values()):
                return f"it has not answered for over {settings.SHARED_STATE_STUCK:g} s"
            return None

    def start(self) -> object:
        if (why := self.trouble()) is not None:
            raise _unavailable(why)
        call = object()
        with self.lock:
            self.calls[call] = time.monotonic()
        return call

    def end(self, call: object, failed: bool) -> None:
        with self.lock:
            self.calls.pop(call, None)
            if failed:
                self.failed_at = time.monotonic()


_HEALTH = _Health()


def answering() -> bool:
    """Whether the store is worth asking now (not failing, not stuck): the server's async code
    asks this first, so that while the store is stuck a request takes the fallback at once
    rather than wait for one of ``off_loop``'s threads, all of them held by the store."""
    return _HEALTH.trouble() is None


def _unavailable(why: str) -> SharedStateError:
    where = settings.SHARED_STATE.split("@")[-1]  # without a password
    return SharedStateError(
        f"The store the app's replicas share (SHARED_STATE, {where}) can't be reached ({why}); try again in a moment."
    )


@contextlib.contextmanager
def _talking():
    """One call to the store: refused at once while it is failing or stuck; a Redis failure
    (a timeout included) becomes a ``SharedStateError`` naming the store."""
    import redis

    call, failed = _HEALTH.start(), True
    try:
        yield
        failed = False
    except redis.RedisError as error:
        raise _unavailable(type(error).__name__) from None
    finally:
        _HEALTH.end(call, failed)

"""The HTTP under the OpenAI client of a model server (runtime/backends.py), which reads the
server as untrusted input: whatever it sends, one call costs at most a known budget.

- **A deadline per call** (``BACKEND_DEADLINE``): every socket read, write and connect
  of the call, its retries and its whole stream included, waits at most until then, so a
  server that trickles a byte every few seconds under the per-read timeout can't hold a
  request past it (the read's own timeout, ``BACKEND_TIMEOUT``, still applies too);
- **a bounded reply** (``BACKEND_MAX_REPLY_BYTES``): the bytes of a call's replies are
  counted as they arrive and the reply is cut past the limit; replies are asked for
  uncompressed, and a compressed one is refused, so the count is what gets parsed;
- **one origin**: a request (a redirect the client follows) to any other scheme, host or
  port than the server's is refused before it is sent, so a 307 can't re-post the
  conversation and its images elsewhere; a redirect within the server is followed.

Each request gets its own connection, whose reads know their call's deadline (keep-alive
is given up: a TCP or TLS handshake is small beside a model's answer). A call over its
budget raises ``Fault``, an ``OpenAIError``, which the client passes on without
retrying; ``backends.talking_to`` says it as a ``BackendError``.

    with calling(Call.start(seconds=300, max_bytes=16 * 2**20)):
        client.chat.completions.create(...)   # requests sent here carry this call's budget

This module imports the client's HTTP packages (httpx2, httpcore2), so it is imported only
when a model server is used.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import httpcore2
import httpx2
import openai

from runtime.messages import said


class Fault(openai.OpenAIError):
    """A call stopped because the server went over its budget or left its origin: ``code``
    and ``params`` are those of the ``BackendError`` it becomes."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code, self.params = code, params


@dataclass
class Call:
    """One call's budget: a deadline (``time.monotonic()`` seconds) and the reply bytes allowed."""

    deadline: float
    seconds: float  # the deadline as a duration, for messages
    max_bytes: int
    received: int = 0  # reply bytes so far, over all of the call's requests

    @classmethod
    def start(cls, seconds: float, max_bytes: int) -> Call:
        return cls(time.monotonic() + seconds, seconds, max_bytes)

    def left(self) -> float:
        """Seconds left; a ``Fault`` when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Fault("server_deadline", seconds=f"{self.seconds:g}")
        return left

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def count(self, nbytes: int) -> None:
        self.received += nbytes
        if self.received > self.max_bytes:
            raise Fault("server_too_large", limit=f"{self.max_bytes / 2**20:g} MB")


# The call whose requests are being sent in this thread (set by ``calling``).
_CALL: ContextVar[Call | None] = ContextVar("backend_call", default=None)


@contextlib.contextmanager
def calling(call: Call) -> Iterator[Call]:
    """Requests sent inside the block belong to ``call``. Around sending only: a stream read
    later (in another thread perhaps) keeps the budget its connection was given."""
    token = _CALL.set(call)
    try:
        yield call
    finally:
        _CALL.reset(token)


class _Stream(httpcore2.NetworkStream):
    """A socket whose every wait ends at the call's deadline as well as at its own timeout."""

    def __init__(self, stream: httpcore2.NetworkStream, call: Call):
        self.stream, self.call = stream, call

    def _within(self, timeout: float | None) -> float:
        left = self.call.left()
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self.stream.read(max_bytes, self._within(timeout))
        except httpcore2.ReadTimeout:
            self.call.left()  # the deadline, not the read's own timeout: a Fault
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self.stream.write(buffer, self._within(timeout))
        except httpcore2.WriteTimeout:
            self.call.left()
            raise

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> _Stream:
        return _Stream(self.stream.start_tls(ssl_context, server_hostname, self._within(timeout)), self.call)

    def get_extra_info(self, info: str):
        return self.stream.get_extra_info(info)


class _Backend(httpcore2.NetworkBackend):
    """Connections whose sockets are ``_Stream``s of one call."""

    def __init__(self, call: Call):
        self.call, self.backend = call, httpcore2.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None) -> _Stream:
        timeout = self.call.left() if timeout is None else min(timeout, self.call.left())
        return _Stream(self.backend.connect_tcp(host, port, timeout, local_address, socket_options), self.call)

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


class _Body(httpx2.SyncByteStream):
    """A reply's body, counted against its call as it arrives; closing it closes its connection."""

    def __init__(self, stream, pool: httpcore2.ConnectionPool, call: Call):
        self.stream, self.pool, self.call = stream, pool, call

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx():
            for piece in self.stream:
                self.call.count(len(piece))
                yield piece

    def close(self) -> None:
        with _as_httpx():
            self.stream.close()
            self.pool.close()


@contextlib.contextmanager
def _as_httpx():
    """httpcore2's errors as the httpx2 ones of the same name, which the client reads (as
    httpx2's own transport does)."""
    try:
        yield
    except httpcore2.TimeoutException as error:
        raise getattr(httpx2, type(error).__name__, httpx2.TimeoutException)(str(error)) from error
    except (httpcore2.NetworkError, httpcore2.ProtocolError, httpcore2.UnsupportedProtocol) as error:
        raise getattr(httpx2, type(error).__name__, httpx2.TransportError)(str(error)) from error


class BoundedTransport(httpx2.BaseTransport):
    """The transport of one server's client: requests to ``origin`` only, each on its own
    connection under its call's budget (a call of its own when none is set)."""

    def __init__(self, origin: str, seconds: float, max_bytes: int):
        self.origin = httpx2.URL(origin)
        self.seconds, self.max_bytes = seconds, max_bytes
        self.ssl_context = httpx2.create_ssl_context() if self.origin.scheme == "https" else None  # as the client's

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if (url.scheme, url.host, url.port) != (self.origin.scheme, self.origin.host, self.origin.port):
            where = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
            raise Fault("server_redirect", target=where)
        call = _CALL.get() or Call.start(self.seconds, self.max_bytes)
        call.left()  # a retry after the deadline is not sent
        request.headers["Accept-Encoding"] = "identity"  # counted bytes are parsed bytes
        pool = httpcore2.ConnectionPool(
            ssl_context=self.ssl_context, max_connections=1, max_keepalive_connections=0, network_backend=_Backend(call)
        )
        core = httpcore2.Request(
            method=request.method,
            url=httpcore2.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            with _as_httpx():
                reply = pool.handle_request(core)
        except BaseException:
            pool.close()
            raise
        encoding = next((value for key, value in reply.headers if key.lower() == b"content-encoding"), b"")
        if encoding.strip().lower() not in (b"", b"identity"):
            reply.close()
            pool.close()
            raise Fault("server_garbled", reason=said("reply_compressed"))
        return httpx2.Response(
            status_code=reply.status,
            headers=reply.headers,
            stream=_Body(reply.stream, pool, call),
            extensions=reply.extensions,
        )

"""What the web server lets clients do: which files it serves, who may log in, and how
often a client may ask for work (the inputs an event takes: ui/server/events.py).

- ``Guard`` is an ASGI middleware in front of Gradio. It serves files only from the
  app's own places (``assets/``, added gallery images, Gradio's upload cache): no
  other path, no ``..``, no dotfiles, no URL fetched for a client. It bounds request
  bodies, and applies the per-client rate limits (``RATE_LIMIT``, ``LOGIN_RATE_LIMIT``,
  see ``ui/server/limits.py``), answering 429 with the time to wait.
- It applies the login to the MCP server and tells MCP agents apart (``_mcp``, see
  ``ui/server/limits.py``).
- ``EventGuard`` (ui/server/events.py), the middleware behind it, checks every event's
  raw inputs before Gradio reads them and keeps the server's folders out of its results.
- ``parse_auth`` reads ``PLAYGROUND_AUTH``; ``login_kwargs`` makes Gradio's login
  check from it and from the classroom's password, if any.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import re
import secrets
import urllib.parse
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from starlette.requests import Request

from runtime import settings
from runtime.inputs import identity
from runtime.messages import catalogue
from ui.server.language import locale_of
from ui.server.limits import CALLER_HEADER, RateLimiter, client_key, loopback_login, rate_limiter, stamp
from ui.server.queue import Listeners

log = logging.getLogger("playground")
URL_LIKE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|//|\\\\)")  # http:, file:, data:, //host, \\host
# Both spellings Gradio answers: /file=<path> and the older /file/<path>.
FILE_ROUTE = re.compile(r"^(?:/gradio_api)?/file[=/](.*)$", re.DOTALL)
PROXY_ROUTE = re.compile(r"^(?:/gradio_api)?/proxy=")  # Gradio's proxy for loaded Spaces; this app loads none
# Requests that start a queued run. Queued events can't be run any other way, since the
# queue is opened with api_open=False (app.py): /run/ and /api/ only serve the UI's
# small internal events, which are not counted.
RUN_ROUTES = re.compile(r"^/gradio_api/(?:queue/join|call/.+)/?$")
UPLOAD_ROUTE = re.compile(r"^/gradio_api/(?:upload|process_recording)/?$")  # bounded by max_file_size
LOGIN_ROUTE = re.compile(r"^/login/?$")
MCP_ROUTE = re.compile(r"^(.*?)/gradio_api/mcp(?:/.*)?$")  # the tools, their schema, the SSE transport
MCP_SESSION = "mcp-session-id"
# An address may fail this many times more logins than one name from it: a class mistyping
# stays far below it, someone trying password after password under new names does not.
LOGIN_FLOOD_FACTOR = 10
# Why a file is refused: codes of the catalogue (runtime/locales/*/messages.json).
SERVED_ONLY = "file_not_served"
NOT_UPLOADED = "file_not_uploaded"
URL_REFUSED = "file_url"
# A URL of a file uploaded to this app (what Gradio's upload tool hands an MCP agent):
# the file is already here, so nothing is fetched.
OWN_FILE_URL = re.compile(r"^https?://[^/]+(?:/[^/]*)*?/gradio_api/file=(/.+)$")


# --- Password protection ----------------------------------------------------------


def parse_auth(text: str) -> list[tuple[str, str]]:
    """``PLAYGROUND_AUTH`` ("user:password,user2:password2") -> [(user, password), ...]
    for ``launch(auth=...)``; [] when empty. A password may contain ":" but not ","."""
    pairs = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        user, sep, password = entry.partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError(
                "PLAYGROUND_AUTH must look like 'user:password' or 'user1:password1,user2:password2'; "
                f"the entry for {user.strip() or '?'!r} has no user name or no password."
            )
        pairs.append((user.strip(), password))
    users = [user for user, _ in pairs]
    if len(set(users)) != len(users):
        raise ValueError(f"PLAYGROUND_AUTH names a user twice: {sorted({u for u in users if users.count(u) > 1})}.")
    return pairs


def login_kwargs(users: list[tuple[str, str]], others: dict | None = None) -> dict:
    """``auth`` and ``auth_message`` for ``launch()``: the ``users`` of PLAYGROUND_AUTH,
    plus whatever check ``others`` holds (``{"auth": check, "auth_message": ...}``, e.g.
    the classroom's password); {} when there is neither. Passwords are compared in
    constant time."""
    other = (others or {}).get("auth")
    if not users and other is None:
        return {}
    known = {user: password.encode() for user, password in users}

    loopback_user, loopback_password = loopback_login()

    def check(username: str, password: str) -> bool:
        if username == loopback_user:  # Gradio's own MCP client (see Guard._as_loopback)
            return hmac.compare_digest(password.encode(), loopback_password.encode())
        expected = known.get((username or "").strip())
        if expected is not None and hmac.compare_digest(password.encode(), expected):
            return True
        return bool(other(username, password)) if other is not None else False

    message = (others or {}).get("auth_message") or (
        "Multimodal Playground: log in with the name and password you were given. / 请输入提供给你的用户名和密码。"
    )
    return {"auth": check, "auth_message": message}


# --- Files ------------------------------------------------------------------------


def gradio_cache_dirs() -> list[Path]:
    """Where Gradio keeps uploads and the files it serves as results."""
    from gradio import utils

    return [Path(utils.get_upload_folder()), Path(os.path.abspath(utils.get_cache_folder()))]


def app_roots() -> list[Path]:
    """The app's folders that clients may read files from (``allowed_paths``): the
    example images and clips, the images added to the gallery, and the files handlers
    return (ui/server/outputs.py). Not the rest of ``assets/`` (the blocklist, a classroom
    file kept there) nor of the data dir (indexes, models, the prompt log)."""
    return [settings.EXAMPLE_IMAGES_DIR, settings.EXAMPLE_AUDIO_DIR, settings.DATA_DIR / "uploads", settings.OUTPUT_DIR]


def served_roots() -> list[Path]:
    """The only folders files are served from: the app's, and Gradio's caches."""
    return [*app_roots(), *gradio_cache_dirs()]


def serves(path: Path) -> bool:
    """Whether ``path`` lies in a folder that the app serves files from."""
    return _within(Path(os.path.realpath(path)), served_roots()) is not None


def _within(path: Path, roots: Iterable[Path]) -> Path | None:
    """The root that ``path`` (already resolved) lies in, if any."""
    for root in roots:
        root = Path(os.path.realpath(root))
        if path == root or root in path.parents:
            return root
    return None


def file_refusal(target: str, roots: Iterable[Path], outside: str = SERVED_ONLY, dotfiles: bool = False) -> str | None:
    """Why the file at ``target`` (a path a client gave) must not be served or read, as the
    code of its message in the catalogue ("file_dotdot"); None if it may be. ``outside`` is
    the reason for a path outside ``roots``."""
    if URL_LIKE.match(target):
        return URL_REFUSED
    if "\x00" in target:
        return "file_nul"
    parts = PurePosixPath(target.replace("\\", "/")).parts
    if ".." in parts:
        return "file_dotdot"
    real = Path(os.path.realpath(target))  # symbolic links resolved, relative paths from the working directory
    root = _within(real, roots)
    if root is None:
        return outside
    if not dotfiles and any(part.startswith(".") for part in real.relative_to(root).parts):
        return "file_hidden"
    return None


# --- The middleware ---------------------------------------------------------------


class Guard:
    """ASGI middleware: file policy, bounded request bodies and rate limits."""

    def __init__(
        self,
        app,
        run_limit: str = "",
        login_limit: str = "",
        trusted_proxies: int = 0,
        max_body: int = 1_000_000,
        listeners: Listeners | None = None,
    ):
        self.app = app
        self.listeners = listeners  # result streams open now, for the queue (ui/server/queue.py)
        self.runs = rate_limiter(run_limit, "runs")
        self.uploads = rate_limiter(run_limit, "uploads")  # uploads count apart from runs
        # Failed logins count per name and address together, so that one student's typos
        # (or someone guessing one name) never lock out a class behind the same address;
        # an address whose failures go far beyond any class's (name after name: guessing
        # a class password) waits as a whole.
        self.logins = rate_limiter(login_limit, "logins")  # /login only answers when there is a login
        self.login_floods = rate_limiter(login_limit, "login-floods", factor=LOGIN_FLOOD_FACTOR)
        self.trusted_proxies = trusted_proxies
        self.max_body = max_body
        self._loopback_cookie: str | None = None  # the login of Gradio's own MCP client, once made

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        # Who the client is, decided here alone (TRUSTED_PROXIES; uvicorn's own reading of
        # X-Forwarded-For is off, see ``middleware``): everything behind this middleware,
        # gr.Request.client included, sees that address.
        client = scope.get("client")
        address = client_key(client[0] if client else None, _headers(scope), self.trusted_proxies)
        peer, scope = client, {**scope, "client": (address, client[1] if client else 0)}
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]

        if match := MCP_ROUTE.match(path):
            if await self._status(scope, match.group(1) + "/gradio_api/login_check") == 401:
                return await _respond(send, 401, _login_first(scope))
            scope, send = self._stamped(scope, send, address)
        elif _headers(scope).get("x-gradio-user") == "mcp" and not RUN_ROUTES.match(path) and _own(peer):
            scope = await self._as_loopback(scope)

        if PROXY_ROUTE.match(path):
            return await _respond(send, 403, _said(scope, URL_REFUSED))
        if (match := FILE_ROUTE.match(path)) and method in ("GET", "HEAD"):
            reason = file_refusal(match.group(1), served_roots())
            if reason is not None:
                return await _respond(send, 403, _said(scope, reason))
        stream = Listeners.key(path, scope.get("query_string", b"")) if method == "GET" else None
        if stream is not None and self.listeners is not None:
            self.listeners.opened(stream)
            try:
                return await self.app(scope, receive, send)
            finally:
                self.listeners.closed(stream)

        if method == "POST":
            if LOGIN_ROUTE.match(path) and self.logins is not None:
                return await self._login(scope, receive, send, address)
            limiter = self.runs if RUN_ROUTES.match(path) else self.uploads if UPLOAD_ROUTE.match(path) else None
            if limiter is not None and (wait := await limiter.hit_async(address)) is not None:
                return await _too_many(send, "limit_requests", limiter, wait, scope)
            if not UPLOAD_ROUTE.match(path):  # uploads are bounded by max_file_size
                length = _headers(scope).get("content-length", "")
                if length.isdigit() and int(length) > self.max_body:
                    return await _respond(send, 413, _said(scope, "request_too_large", limit=self.max_body))
                return await self._call_bounded(scope, receive, send)
        return await self.app(scope, receive, send)

    # --- MCP: the login applies, and each agent is its own visitor ---

    async def _status(self, scope, path: str, method: str = "GET", body: bytes = b"", headers=None):
        """The status (and headers) Gradio answers ``path`` with, asked in-process with the
        request's own cookies: its public routes decide who is logged in."""
        sub = {
            **scope,
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers if headers is not None else scope.get("headers", []),
        }
        answer = {"status": 500, "headers": []}

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                answer.update(status=message["status"], headers=message.get("headers", []))

        await self.app(sub, receive, send)
        return answer["status"] if method == "GET" else answer

    def _stamped(self, scope, send, address: str):
        """``scope`` with the agent's stamp (``ui/server/limits.py``), which Gradio forwards
        with its tool calls, and ``send`` giving an agent without an MCP session one (MCP
        clients send it back with every request; Gradio's stateless server ignores it)."""
        headers = _headers(scope)
        issued = None if headers.get(MCP_SESSION) else secrets.token_hex(16)
        visitor = "mcp:" + (headers.get(MCP_SESSION) or issued)[:64]
        raw = [(k, v) for k, v in scope.get("headers", []) if k.lower() != CALLER_HEADER.encode()]
        scope = {**scope, "headers": [*raw, (CALLER_HEADER.encode(), stamp(visitor, address).encode())]}
        if issued is None:
            return scope, send

        async def with_session(message):
            if message["type"] == "http.response.start" and scope["method"] == "POST":
                message = {**message, "headers": [*message.get("headers", []), (MCP_SESSION.encode(), issued.encode())]}
            await send(message)

        return scope, with_session

    async def _as_loopback(self, scope):
        """A request of Gradio's own MCP client (from this process: its config, uploads and
        result stream) logged in as the app itself where the app has a login; the tool's
        call (its queue join) carries the agent's own cookie instead, so the agent's login
        decides what it may run, and the classroom counts the student."""
        if self._loopback_cookie is None:
            user, password = loopback_login()
            form = urllib.parse.urlencode({"username": user, "password": password}).encode()
            prefix = scope["path"][: scope["path"].find("/gradio_api/")] if "/gradio_api/" in scope["path"] else ""
            answer = await self._status(
                scope, prefix + "/login", "POST", form, [(b"content-type", b"application/x-www-form-urlencoded")]
            )
            cookies = [v.decode("latin-1").split(";", 1)[0] for k, v in answer["headers"] if k.lower() == b"set-cookie"]
            self._loopback_cookie = "; ".join(cookies) if answer["status"] == 200 else ""
        if not self._loopback_cookie:  # no login in this app
            return scope
        raw = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"cookie"]
        return {**scope, "headers": [*raw, (b"cookie", self._loopback_cookie.encode())]}

    async def _login(self, scope, receive, send, address: str):
        """POST /login: counted only when it fails (a whole class behind one school address
        logs in at once), per the name tried and the address together."""
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                return await _respond(send, 413, _said(scope, "request_too_large", limit=self.max_body))
        form = urllib.parse.parse_qs(body.decode("latin-1"), max_num_fields=10)
        name = identity(urllib.parse.unquote_plus((form.get("username") or [""])[0]))
        key = f"{address}\n{name}"
        for limiter, who in (
            (self.logins, "limit_login_name"),
            (self.login_floods, "limit_login_address"),
        ):
            if (wait := await limiter.wait_async(key if limiter is self.logins else address)) is not None:
                return await _too_many(send, who, limiter, wait, scope)
        replay = replaying(body, receive)

        async def failed():
            await self.logins.hit_async(key)
            await self.login_floods.hit_async(address)

        return await self.app(scope, replay, _on_failure(send, failed))

    async def _call_bounded(self, scope, receive, send):
        """Run the app with a body that stops at ``max_body`` bytes even without a
        Content-Length: past it the app sees the client leave, and the client gets 413."""
        seen, started, too_large = 0, False, False

        async def bounded_receive():
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b"")) if message["type"] == "http.request" else 0
            if seen > self.max_body:
                too_large = True
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if too_large:
                return  # the client gets the 413 below instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await _respond(send, 413, _said(scope, "request_too_large", limit=self.max_body))


def replaying(body: bytes, receive):
    """An ASGI ``receive`` that hands the app ``body``, which a middleware has read already,
    then the client's own messages (a disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _own(peer) -> bool:
    """Whether the connection ``peer`` (host, port) is one this process opened to itself:
    Gradio's MCP client, not a client behind a local tunnel."""
    import psutil

    if not peer or peer[0] not in ("127.0.0.1", "::1"):
        return False
    return any(
        c.laddr and (c.laddr.ip, c.laddr.port) == (peer[0], peer[1])
        for c in psutil.Process().net_connections(kind="tcp")
    )


def _login_first(scope) -> str:
    return _said(scope, "mcp_login")


def _said(scope, code: str, **values) -> str:
    """The catalogue's ``code`` in the language of the request ``scope``, filled in."""
    return catalogue(locale_of(Request(scope)))[code].format(**values)


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def period(seconds: float, locale: str = "en") -> str:
    """A rate limit's period in ``locale``'s words, as "at most 20 every {period}" says it:
    "minute" / "分钟", "2 hours" / "2 小时", "90 seconds" / "90 秒"."""
    words = catalogue(locale)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = int(seconds // size)
            return words[f"period_{unit}"] if count == 1 else words[f"period_{unit}s"].format(count=count)
    return words["period_seconds"].format(seconds=f"{seconds:g}")


async def _too_many(send, what: str, limiter: RateLimiter, wait: float, scope) -> None:
    """429, in the language of the page that sent the request (its cookie) or that the
    client asks for (Accept-Language), as every message (ui/server/language.py); ``what``
    is the code of what the limit counts ("limit_requests")."""
    seconds, locale = math.ceil(wait), locale_of(Request(scope))
    detail = _said(
        scope,
        "rate_limited",
        what=_said(scope, what),
        limit=limiter.count,
        period=period(limiter.period, locale),
        seconds=seconds,
    )
    await _respond(send, 429, detail, {"retry-after": str(seconds)})


async def _respond(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail, "error": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _on_failure(send, action):
    """``send``, awaiting ``action()`` once if the response's status is an error."""

    async def watched(message):
        if message["type"] == "http.response.start" and message["status"] >= 400:
            await action()
        await send(message)

    return watched


def middleware(listeners: Listeners | None = None) -> list:
    """The Guard, for ``launch(app_kwargs={"middleware": ...})`` (ui/demo.py puts the other
    middleware after it); ``listeners`` are the queue's, counted as result streams open."""
    from starlette.middleware import Middleware

    # uvicorn rewrites the client's address from X-Forwarded-For for connections from
    # FORWARDED_ALLOW_IPS (127.0.0.1 by default): behind any local tunnel, a client could
    # then pick its own address. The Guard decides alone, from TRUSTED_PROXIES, so
    # uvicorn (which Gradio starts with its defaults) trusts no one. Set before launch().
    os.environ["FORWARDED_ALLOW_IPS"] = ""
    return [
        Middleware(
            Guard,
            run_limit=settings.RATE_LIMIT,
            login_limit=settings.LOGIN_RATE_LIMIT,
            trusted_proxies=settings.TRUSTED_PROXIES,
            max_body=settings.MAX_REQUEST_BYTES,
            listeners=listeners,
        ),
    ]

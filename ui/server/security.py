"""What the web server lets clients do: which files it serves, which inputs it takes,
who may log in, and how often a client may ask for work.

- ``Guard`` is an ASGI middleware in front of Gradio. It serves files only from the
  app's own places (``assets/``, added gallery images, Gradio's upload cache): no
  other path, no ``..``, no dotfiles, no URL fetched for a client. It bounds request
  bodies, and applies the per-client rate limits (``RATE_LIMIT``, ``LOGIN_RATE_LIMIT``,
  see ``ui/server/limits.py``), answering 429 with the time to wait.
- It applies the login to the MCP server and tells MCP agents apart (``_mcp``, see
  ``ui/server/callers.py``).
- ``EventGuard``, an ASGI middleware behind it, checks every event's raw inputs before
  Gradio reads them, so an API client that sends a number as text, a path on the server
  or a URL instead of an uploaded file gets a message naming the parameter, not an empty
  error (a refused request runs ``input_refused``, which ``guard_inputs`` declares); and
  it keeps the server's folders out of text results and says what a bare Gradio failure
  may be.
- ``parse_auth`` reads ``PLAYGROUND_AUTH``; ``login_kwargs`` makes Gradio's login
  check from it and from the classroom's password, if any.
"""

from __future__ import annotations

import contextlib
import copy
import hmac
import json
import logging
import math
import os
import re
import secrets
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import gradio as gr
from starlette.requests import Request

from runtime import settings
from runtime.files import hide_paths
from runtime.inputs import identity
from runtime.messages import InputError, english
from ui.handlers import refusal
from ui.i18n import FROM_PAGE, PAGE_LOCALE, t
from ui.messages import text, translate
from ui.server.callers import CALLER_HEADER, loopback_login, stamp
from ui.server.language import from_page, locale_of
from ui.server.limits import RateLimiter, client_key, rate_limiter
from ui.server.queue import EVENT_STREAM, SESSION_STREAM, Listeners

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
SERVED_ONLY = "Only the app's own files and the results made for you are served."
NOT_UPLOADED = "The file was not uploaded to this app."
URL_REFUSED = (
    "This app doesn't fetch URLs for its clients: upload the file itself (gradio_client: handle_file; "
    "over MCP: a base64 data: URL, or Gradio's upload_file_to_gradio tool)."
)
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
    """Why the file at ``target`` (a path a client gave) must not be served or read;
    None if it may be. ``outside`` is the reason for a path outside ``roots``."""
    if URL_LIKE.match(target):
        return URL_REFUSED
    if "\x00" in target:
        return "The path contains a NUL character."
    parts = PurePosixPath(target.replace("\\", "/")).parts
    if ".." in parts:
        return "Paths with '..' are not allowed."
    real = Path(os.path.realpath(target))  # symbolic links resolved, relative paths from the working directory
    root = _within(real, roots)
    if root is None:
        return outside
    if not dotfiles and any(part.startswith(".") for part in real.relative_to(root).parts):
        return "Hidden files (dotfiles) are not served."
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
            return await _respond(send, 403, URL_REFUSED)
        if (match := FILE_ROUTE.match(path)) and method in ("GET", "HEAD"):
            reason = file_refusal(match.group(1), served_roots())
            if reason is not None:
                return await _respond(send, 403, reason)
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
                return await _too_many(send, "requests from your address", limiter, wait, scope)
            if not UPLOAD_ROUTE.match(path):  # uploads are bounded by max_file_size
                length = _headers(scope).get("content-length", "")
                if length.isdigit() and int(length) > self.max_body:
                    return await _respond(send, 413, f"The request is larger than {self.max_body:,} bytes.")
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
        """``scope`` with the agent's stamp (``ui/server/callers.py``), which Gradio forwards
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
                return await _respond(send, 413, f"The request is larger than {self.max_body:,} bytes.")
        form = urllib.parse.parse_qs(body.decode("latin-1"), max_num_fields=10)
        name = identity(urllib.parse.unquote_plus((form.get("username") or [""])[0]))
        key = f"{address}\n{name}"
        for limiter, who in (
            (self.logins, "failed login attempts for this name"),
            (self.login_floods, "failed login attempts from your address"),
        ):
            if (wait := await limiter.wait_async(key if limiter is self.logins else address)) is not None:
                return await _too_many(send, who, limiter, wait, scope)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

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
            await _respond(send, 413, f"The request is larger than {self.max_body:,} bytes.")


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
    return t("messages.mcp_login", locale_of(Request(scope)))


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = int(seconds // size)
            return f"{unit}" if count == 1 else f"{count} {unit}s"
    return f"{seconds:g} seconds"


# The Chinese for what a limit counts, and for its period (``_duration``'s units).
_COUNTED_ZH = {
    "requests from your address": "来自你的地址的请求",
    "failed login attempts for this name": "这个用户名的登录失败次数",
    "failed login attempts from your address": "来自你的地址的登录失败次数",
}
_UNITS_ZH = {"day": "天", "hour": "小时", "minute": "分钟"}


def _duration_zh(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = int(seconds // size)
            return _UNITS_ZH[unit] if count == 1 else f"{count} {_UNITS_ZH[unit]}"
    return f"{seconds:g} 秒"


async def _too_many(send, what: str, limiter: RateLimiter, wait: float, scope=None) -> None:
    """429, in the language of the page that sent the request (its cookie) or that the
    client asks for (Accept-Language), as every message (ui/server/language.py)."""
    seconds = math.ceil(wait)
    detail = english(
        "rate_limited", {"what": what, "limit": limiter.count, "period": _duration(limiter.period), "seconds": seconds}
    )
    if scope is not None and locale_of(Request(scope)) == "zh-CN":
        detail = t("messages.rate_limited", "zh-CN").format(
            what=_COUNTED_ZH.get(what, what), limit=limiter.count, period=_duration_zh(limiter.period), seconds=seconds
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
    """The middleware list for ``launch(app_kwargs={"middleware": ...})``: the Guard, then
    the events' inputs and results (``EventGuard``). ``listeners`` are the queue's (``demo.queue_share.listeners``), counted as result streams open."""
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
        Middleware(EventGuard),  # every event's inputs checked before Gradio reads them; its results said safely
    ]


# --- Inputs -----------------------------------------------------------------------
#
# Gradio reads an event's inputs before any handler runs: it downloads a URL given as a
# file, reads a file given by path without "meta" from anywhere on disk, and answers what
# it can't read with an empty error ("error": null). Gradio has no hook before that step,
# so the inputs are checked where they arrive: in the JSON body of the request that starts
# the event, by ``EventGuard``. A refused request never reaches the event's handler: it
# runs ``input_refused`` instead, a declared endpoint that raises the refusal, so the
# client reads it as every other message of the app (gradio_client's AppError, the page's
# notice, an MCP tool error).

REFUSED_HEADER = "x-playground-refused"  # set by EventGuard alone: a client's own is dropped
REFUSED_API = "input_refused"
JOIN_ROUTE = re.compile(r"^(.*?)/gradio_api/queue/join/?$")  # the page, gradio_client, Gradio's MCP client
CALL_ROUTE = re.compile(r"^(.*?)/gradio_api/call/(v2/)?([^/]+)/?$")  # the plain-HTTP API
DIRECT_ROUTE = re.compile(r"^(.*?)/gradio_api/(?:run|api)/([^/]+)/?$")  # events outside the queue


def input_refused(request: gr.Request) -> None:
    """Say why ``EventGuard`` refused this request's inputs (the event runs this instead;
    called without a refusal, it has nothing to say)."""
    said = json.loads(urllib.parse.unquote(request.headers.get(REFUSED_HEADER) or "") or "{}")
    if said.get("message"):
        raise gr.Error(said["message"], title=said.get("title"), print_exception=False)


def guard_inputs(demo: gr.Blocks) -> gr.Blocks:
    """Declare the endpoint that says why ``EventGuard`` refused an event's inputs (the
    middleware itself is in ``middleware()``)."""
    with demo:
        gr.api(input_refused, api_name=REFUSED_API, api_visibility="undocumented", concurrency_limit=None)

    return demo


class EventGuard:
    """ASGI middleware around Gradio's event routes: what a client sends an event, and
    what it reads back.

    - **Inputs**: the raw inputs of every event a client starts (the JSON body of
      ``queue/join``, ``call/<api_name>`` and ``run/<api_name>``; an MCP tool call
      reaches the first through Gradio's own client) are checked (``check_input``) before
      Gradio reads them. A refused request starts ``input_refused`` instead, carrying the
      message in the request's language; outside the queue the answer is Gradio's own
      error reply.
    - **Outputs**: in the results it streams back (``queue/data``, ``call/<api_name>/<id>``,
      the reply of ``run/<api_name>``), no text output names a folder of the server (a
      record's checkpoint folder, a message quoting a file; files go as Gradio's own
      references), and a failure with no message (Gradio could not read an input or
      prepare a handler's result: its traceback is in the log) says so in the page's
      language instead of a bare "Error".

    The event is found in Gradio's public records (``Blocks.fns``, read only); the events
    started through the queue are remembered by id until their result is sent. Every
    named endpoint is queued (the queue is opened with api_open=False), so an MCP tool
    call comes through here too (Gradio's MCP server would run an event outside the queue
    in-process, past any middleware: the app gives no such event a name)."""

    def __init__(self, app, remembered: int = 10_000):
        self.app = app
        self.events: OrderedDict[str, object] = OrderedDict()  # event id -> its BlockFunction
        self.remembered = remembered

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != REFUSED_HEADER.encode()]
        scope = {**scope, "headers": headers}
        blocks = getattr(scope.get("app"), "get_blocks", lambda: None)()
        path, method = scope["path"], scope["method"]
        if blocks is None:
            return await self.app(scope, receive, send)
        if method == "GET" and (SESSION_STREAM.match(path) or EVENT_STREAM.match(path)):
            return await self.app(scope, receive, self._said_safely(scope, send))
        if method == "POST" and (JOIN_ROUTE.match(path) or CALL_ROUTE.match(path) or DIRECT_ROUTE.match(path)):
            return await self._start(blocks, scope, receive, send)
        return await self.app(scope, receive, send)

    async def _start(self, blocks, scope, receive, send):
        path = scope["path"]
        body = b""
        while True:  # bounded by the Guard (MAX_REQUEST_BYTES)
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        fn = _event_of(blocks, path, payload) if isinstance(payload, dict) else None
        refused = None
        if fn is not None:
            with _in_language(scope):
                refused = _refusal_of(blocks, fn, path, payload)
            body = json.dumps(payload).encode()  # the checks may have turned an agent's files into uploads
        if refused is not None:
            said = urllib.parse.quote(json.dumps({"message": refused.message, "title": refused.title}))
            if DIRECT_ROUTE.match(path):  # what Gradio answers a gr.Error with there
                return await _reply(send, 500, {"error": refused.message, "title": refused.title, "visible": True})
            if match := CALL_ROUTE.match(path):
                scope = {**scope, "path": f"{match.group(1)}/gradio_api/call/{REFUSED_API}"}
                scope["raw_path"] = scope["path"].encode()
                payload = {"data": []}
            else:
                index = next(i for i, f in blocks.fns.items() if f.api_name == REFUSED_API)
                payload = {**payload, "fn_index": index, "data": [], "event_data": None, "trigger_id": None}
            body = json.dumps(payload).encode()
            scope = {**scope, "headers": [*scope["headers"], (REFUSED_HEADER.encode(), said.encode())]}
            fn = None
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        if fn is None:
            return await self.app(scope, replay, send)
        if DIRECT_ROUTE.match(path):
            return await self.app(scope, replay, _whole_reply(send, lambda reply: _said(scope, fn, reply)))
        return await self.app(scope, replay, _whole_reply(send, lambda reply: self._remember(reply, fn)))

    def _remember(self, reply: dict, fn) -> dict:
        """A queued event's id (``reply``, Gradio's answer to its start), for its results."""
        if isinstance(reply, dict) and isinstance(reply.get("event_id"), str):
            self.events[reply["event_id"]] = fn
            while len(self.events) > self.remembered:
                self.events.popitem(last=False)
        return reply

    def _said_safely(self, scope, send):
        """``send`` for a result stream (server-sent events), each message rewritten by ``_said``."""
        pending = b""
        stream = EVENT_STREAM.match(scope["path"])

        async def rewrite(message):
            nonlocal pending
            if message["type"] != "http.response.body":
                return await send(message)
            pending += message.get("body", b"")
            *complete, pending = pending.split(b"\n\n")
            if not message.get("more_body", False) and pending:
                complete, pending = [*complete, pending], b""
            out = b"".join(self._said_event(scope, chunk, stream) + b"\n\n" for chunk in complete)
            if out or not message.get("more_body", False):
                await send({**message, "body": out})

        return rewrite

    def _said_event(self, scope, chunk: bytes, stream) -> bytes:
        """One server-sent event of a result stream, rewritten (``_said``)."""
        lines = chunk.split(b"\n")
        for i, line in enumerate(lines):
            if not line.startswith(b"data: "):
                continue
            try:
                data = json.loads(line[6:])
            except ValueError:
                continue
            if stream is not None:  # call/<api_name>/<id>: the outputs, or the error, alone
                fn = self.events.get(stream.group(1))
                kind = next((k for k in lines if k.startswith(b"event: ")), b"")[7:]
                if kind in (b"complete", b"error"):
                    self.events.pop(stream.group(1), None)
                message = {"output": data if kind == b"error" else {"data": data}, "success": kind != b"error"}
                said = _said(scope, fn, message["output"], message["success"])
                data = said if kind == b"error" else said.get("data")
            elif isinstance(data, dict) and data.get("msg") in ("process_completed", "process_generating"):
                fn = self.events.get(data.get("event_id"))
                if data["msg"] == "process_completed":
                    self.events.pop(data.get("event_id"), None)
                if isinstance(data.get("output"), dict):
                    data["output"] = _said(scope, fn, data["output"], data.get("success", True))
            else:
                continue  # heartbeats, estimates: as they are
            lines[i] = b"data: " + json.dumps(data).encode()
        return b"\n".join(lines)


def _said(scope, fn, output, success: bool = True):
    """``output`` (a result as Gradio sends it: {"data": [...]} or an error) with the
    server's folders hidden in its text outputs, and a message for an error without one."""
    if not isinstance(output, dict):
        return output
    if "error" in output or not success:
        if output.get("error") is None:
            with _in_language(scope):
                output = {**output, "error": text("event_failed")}
            output["visible"] = True
        return output
    data = output.get("data")
    if fn is not None and isinstance(data, list):
        for i, block in enumerate(fn.outputs[: len(data)]):
            if isinstance(block, TEXT_OUTPUTS):
                data[i] = _hide_paths(data[i])
    return output


@contextlib.contextmanager
def _in_language(scope):
    """Messages written meanwhile are in the language of the request ``scope`` (its page's
    cookie, else Accept-Language), as a handler's are."""
    request = Request(scope)
    language, page = PAGE_LOCALE.set(locale_of(request)), FROM_PAGE.set(from_page(request))
    try:
        yield
    finally:
        PAGE_LOCALE.reset(language)
        FROM_PAGE.reset(page)


def _whole_reply(send, rewrite):
    """``send`` for a small JSON reply: held until complete, then ``rewrite(reply)`` sent."""
    start, chunks = None, []

    async def held(message):
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            return await send(message)
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        with contextlib.suppress(ValueError):  # not JSON: sent as it is
            body = json.dumps(rewrite(json.loads(body))).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return held


def _event_of(blocks, path: str, payload: dict):
    """The event (a ``BlockFunction`` of ``blocks.fns``) that a POST of ``payload`` to
    ``path`` starts; None for one Gradio doesn't know (it answers that itself)."""
    fns = blocks.fns
    match = CALL_ROUTE.match(path) or DIRECT_ROUTE.match(path)
    api_name = match.group(match.lastindex) if match else None
    if match is None or api_name == "predict":  # the page names its event by number
        fn = fns.get(payload.get("fn_index")) if isinstance(payload.get("fn_index"), int) else None
    else:
        fn = next((f for f in fns.values() if f.api_name == api_name), None)
    return None if fn is None or fn.api_name == REFUSED_API else fn


def _refusal_of(blocks, fn, path: str, payload: dict) -> gr.Error | None:
    """Why the inputs ``payload`` gives the event ``fn`` are refused, or None. Checks every
    input in place (an agent's list of files becomes uploads)."""
    match = CALL_ROUTE.match(path) or DIRECT_ROUTE.match(path)
    api_name = match.group(match.lastindex) if match else None
    data = _positional(blocks, fn, api_name, payload, path)
    if not isinstance(data, list):
        return None  # not a list of inputs: Gradio refuses the body itself
    names = list(getattr(fn, "input_parameter_names", None) or [])
    session = payload.get("session_hash") if isinstance(payload.get("session_hash"), str) else None
    try:
        if len(data) < len(fn.inputs):
            raise refusal(
                InputError("input_unreadable", detail=f"{len(fn.inputs)} values are needed, {len(data)} were given")
            )
        for i, (component, value) in enumerate(zip(fn.inputs, data, strict=False)):
            if getattr(component, "stateful", False):
                continue  # a gr.State: Gradio ignores what a client sends for it
            name = names[i] if i < len(names) and names[i] else f"input {i + 1}"
            check_input(_in_session(blocks, session, component), value, name)
            _readable(component, value)
    except gr.Error as error:
        return error
    return None


def _positional(blocks, fn, api_name: str | None, payload: dict, path: str):
    """The event's inputs, one per component of ``fn.inputs``, as Gradio will read them
    (the same objects as in ``payload``, so a check that changes one changes the body)."""
    call = CALL_ROUTE.match(path)
    if call is not None and call.group(2):  # call/v2: inputs by parameter name, defaults filled in
        info = blocks.get_api_info()["named_endpoints"].get(f"/{api_name}", {})
        from gradio_client import utils as client_utils

        try:
            values = client_utils.construct_args(info.get("parameters", []), (), dict(payload))
        except (TypeError, ValueError):
            return None  # Gradio refuses the arguments itself
        return _with_skipped(fn, values)  # the body's own objects: what a check changes is sent on
    data = payload.get("data")
    return _with_skipped(fn, data) if call is not None and isinstance(data, list) else data


def _with_skipped(fn, data: list) -> list:
    """``data`` as the plain-HTTP API sends it (no value for inputs it skips) with None in
    their places, as Gradio fills them."""
    if len(data) == len(fn.inputs):
        return data
    shown = [block for block in fn.inputs if not getattr(block, "skip_api", False)]
    if len(data) != len(shown):
        return data
    values = iter(data)
    return [None if getattr(block, "skip_api", False) else next(values) for block in fn.inputs]


def _in_session(blocks, session: str | None, component):
    """``component`` as the session ``session`` has it: an event may have changed its
    range or choices for that session. Gradio keeps those in its state holder and has no
    public accessor for them, so it is read here (never written); a session it doesn't
    hold sees the component as built."""
    holder = getattr(blocks, "state_holder", None)
    if not session or holder is None or session not in holder:
        return component
    key = next((key for key, block in blocks.blocks.items() if block is component), None)
    return holder[session].get(key, component) if key is not None else component


def _readable(component, value) -> None:
    """Refuse ``value`` if Gradio could not read it as ``component``'s data (what it would
    answer with an empty error)."""
    model = getattr(component, "data_model", None)
    if model is None or value is None:
        return
    try:
        model.model_validate(copy.deepcopy(value), context={"validate_meta": True})
    except Exception as error:  # noqa: BLE001 (pydantic's and Gradio's own, said the same way)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise refusal(InputError("input_unreadable", detail=first_line)) from None


async def _reply(send, status: int, content: dict) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


TEXT_OUTPUTS = (gr.JSON, gr.Code, gr.Markdown, gr.Textbox, gr.Label, gr.HTML, gr.Dataframe)


def _hide_paths(value):
    """``value`` (a payload: text, lists, dicts) with every string's server folders hidden."""
    if isinstance(value, str):
        return hide_paths(value)
    if isinstance(value, list):
        return [_hide_paths(item) for item in value]
    if isinstance(value, dict):
        return {key: _hide_paths(item) for key, item in value.items()}
    if hasattr(value, "root"):  # a pydantic root model: gr.JSON's payload
        value.root = _hide_paths(value.root)
    return value


def _refuse(name: str, message: str = "", component=None, code: str | None = None, **params) -> None:
    """Refuse the input ``name``: with a ``code`` (runtime/locales/*/messages.json), said in the
    page's language, naming the control by its label on the page; else ``message``, in English."""
    if code is None:
        raise refusal(f"`{name}`: {message}")
    key = getattr(getattr(component, "label", None), "key", None)
    error = InputError(code, name=name, **params)
    raise refusal(translate(error, labels={name: key} if key else None))


def check_input(component, value, name: str) -> None:
    """Refuse ``value`` for ``component`` (the parameter ``name``) with a clear message."""
    if value is None:
        return
    if isinstance(component, gr.File) and isinstance(value, list):
        value[:] = [_file_from_text(item) for item in value]  # an MCP agent's list of files
    if _takes_files(component):
        _check_files(value, name, gradio_cache_dirs()[:1])  # the upload folder
    if isinstance(component, (gr.Number, gr.Slider)):
        low, high = component.minimum, component.maximum
        bounds = {"low": "−∞" if low is None else f"{low:g}", "high": "∞" if high is None else f"{high:g}"}
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _refuse(name, component=component, code="number_expected", value=_show(value))
        if not math.isfinite(value):
            _refuse(name, component=component, code="number_range", **bounds, value=str(value))
        if _whole(component) and float(value) != int(value):  # Gradio would round it silently
            _refuse(name, component=component, code="number_whole", value=f"{value:g}")
        if (low is not None and value < low) or (high is not None and value > high):  # refused, never clamped
            _refuse(name, component=component, code="number_bounds", **bounds, value=f"{value:g}")
    elif isinstance(component, gr.Textbox) and not isinstance(value, str):
        _refuse(name, component=component, code="text_expected", value=_show(value))
    elif isinstance(component, gr.Checkbox) and not isinstance(value, bool):
        _refuse(name, component=component, code="flag_type", value=_show(value))
    elif isinstance(component, (gr.Dropdown, gr.Radio)) and not getattr(component, "allow_custom_value", False):
        allowed = [choice[1] for choice in component.choices]
        chosen = value if getattr(component, "multiselect", False) and isinstance(value, list) else [value]
        if any(item not in allowed for item in chosen):
            _refuse(name, f"must be one of {allowed}, not {_show(value)}.")
    elif isinstance(component, gr.CheckboxGroup):
        allowed = [choice[1] for choice in component.choices]
        if not isinstance(value, list) or any(item not in allowed for item in value):
            _refuse(name, f"must be a list of some of {allowed}, not {_show(value)}.")
    elif isinstance(component, gr.Chatbot) and (
        not isinstance(value, list)
        or any(not isinstance(m, dict) or m.get("role") not in ("user", "assistant") for m in value)
    ):
        _refuse(name, 'must be a list of messages {"role": "user" or "assistant", "content": [...]}, as returned.')
    elif _takes_files(component) and not isinstance(value, (dict, list)):
        _refuse(name, f"must be a file uploaded to this app (gradio_client: handle_file(path)), not {_show(value)}.")


def _file_from_text(item):
    """A list of files as an MCP agent sends it: each a base64 ``data:`` URL or the URL of
    a file uploaded here (Gradio's MCP server turns these into files for a single file,
    not inside a list). A ``data:`` URL becomes an upload, saved as Gradio saves one; the
    file checks that follow apply to both. Anything else is left for them to refuse."""
    if not isinstance(item, str):
        return item
    if item.startswith("data:"):
        from gradio import processing_utils

        try:
            path = processing_utils.save_base64_to_cache(item, str(gradio_cache_dirs()[0]))
        except Exception:  # noqa: BLE001 (any undecodable data: URL is refused the same way)
            raise refusal("A file given as a data: URL could not be decoded.") from None
        return {"path": path, "meta": {"_type": "gradio.FileData"}}
    if OWN_FILE_URL.match(item):
        return {"path": None, "url": item, "meta": {"_type": "gradio.FileData"}}  # _check_files reads it
    return item


def _whole(component) -> bool:
    """Whether a number control takes whole numbers only: a Number with precision 0, or
    a Slider whose steps from a whole minimum are whole."""
    if isinstance(component, gr.Number):
        return component.precision == 0
    step, low = component.step, component.minimum
    return step is not None and float(step).is_integer() and (low is None or float(low).is_integer())


def _takes_files(component) -> bool:
    """Components whose value is read as files. (Gradio itself refuses a file object in
    any other component's value unless it was uploaded.)"""
    # A Chatbot's value (a conversation sent back by an API client) holds its messages' files.
    return isinstance(component, (gr.Image, gr.File, gr.Audio, gr.Video, gr.Gallery, gr.Model3D, gr.Chatbot))


def _check_files(value, name: str, upload_dirs: list[Path]) -> None:
    """Every file reference in ``value`` (a dict with a "path" or "url", at any depth)
    must be a file uploaded to this app."""
    if isinstance(value, list):
        for item in value:
            _check_files(item, name, upload_dirs)
    elif isinstance(value, dict):
        for key in ("path", "url"):  # a URL of a file uploaded here stands for that file
            if isinstance(value.get(key), str) and (own := OWN_FILE_URL.match(value[key])):
                value["path"], value["url"] = urllib.parse.unquote(own.group(1)), None
        path, url = value.get("path"), value.get("url")
        if isinstance(url, str) and url.lower().startswith("data:"):  # Gradio would decode it instead of the path
            _refuse(name, "Send files as uploads, not as data: URLs.")
        if path is not None:
            if not isinstance(path, str):
                _refuse(name, f"the file path must be text, not {_show(path)}.")
            # A file uploaded by a client may be named ".photo.png": it's theirs to send.
            reason = file_refusal(path, upload_dirs, outside=NOT_UPLOADED, dotfiles=True)
            if reason is not None:
                hint = "" if reason == URL_REFUSED else " Upload the file first (gradio_client: handle_file(path))."
                _refuse(name, reason + hint)
        elif url is not None:
            _refuse(name, URL_REFUSED)
        for key, item in value.items():
            if key not in ("path", "url", "meta") and isinstance(item, (dict, list)):
                _check_files(item, name, upload_dirs)


def _show(value) -> str:
    text = repr(value)
    return (text if len(text) <= 60 else text[:57] + "...") + f" ({type(value).__name__})"

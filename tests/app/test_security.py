"""Access: which files the server serves, password protection, per-client rate limits,
a bounded queue and bounded request bodies. The app runs as a user would start it for a
classroom: `PLAYGROUND_AUTH`, `RATE_LIMIT` and friends set in its environment."""

import http.client
import http.server
import json
import os
import threading
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from runtime.messages import english
from tests.conftest import IMAGES, ROOT
from tools.loadtest import loopback_client, start_app
from ui.server.limits import RateLimiter, client_key, parse_rate
from ui.server.security import Guard, file_refusal, parse_auth

USERS = {"student": "s3cret", "teacher": "apple:pie 42"}  # a password may hold ":" and spaces
CAT = str(IMAGES / "cat.jpg")


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """The app with a password, a rate limit of 6 runs a minute per address, a queue of
    2 and small request bodies, behind one trusted proxy (so tests can act as several
    clients by X-Forwarded-For). Yields (url, data directory)."""
    data_dir = tmp_path_factory.mktemp("classroom")
    env = {
        "PLAYGROUND_AUTH": ",".join(f"{u}:{p}" for u, p in USERS.items()),
        "RATE_LIMIT": "6/minute",
        "LOGIN_RATE_LIMIT": "5/minute",
        "TRUSTED_PROXIES": "1",
        "QUEUE_MAX_SIZE": "2",
        "MAX_REQUEST_BYTES": "20000",
    }
    with start_app(env=env, data_dir=data_dir) as (url, _):
        yield url, data_dir


def session(url: str, address: str, user: str | None = "student") -> httpx.Client:
    """An HTTP session from ``address``, logged in as ``user``."""
    http_client = httpx.Client(base_url=url, headers={"X-Forwarded-For": address}, timeout=60)
    if user is not None:
        http_client.post("login", data={"username": user, "password": USERS[user]}).raise_for_status()
    return http_client


def as_client(url: str, address: str, user: str = "student") -> Client:
    """A gradio_client from ``address``, logged in as ``user`` (through ``session``: the
    client's own login would not send the X-Forwarded-For header)."""
    cookies = "; ".join(f"{k}={v}" for k, v in session(url, address, user).cookies.items())
    return loopback_client(url, headers={"X-Forwarded-For": address, "Cookie": cookies})


# --- Password protection --------------------------------------------------------------


def test_without_a_login_nothing_is_served(classroom):
    url, _ = classroom
    anonymous = session(url, "10.1.0.1", user=None)
    assert anonymous.get(f"gradio_api/file={CAT}").status_code == 401
    assert anonymous.post("gradio_api/call/v2/search_by_text", json={"query": "a cat"}).status_code == 401
    with pytest.raises(Exception, match="(?i)login|auth|401"):
        Client(url, verbose=False)


def test_users_log_in_and_wrong_passwords_are_refused(classroom):
    url, _ = classroom
    for user in USERS:
        assert isinstance(
            as_client(url, f"10.1.1.{len(user)}", user).predict(query="a cat", api_name="/search_by_text"), list
        )
    wrong = httpx.post(
        f"{url}login", data={"username": "student", "password": "S3CRET"}, headers={"X-Forwarded-For": "10.1.1.9"}
    )
    assert wrong.status_code == 400


def test_password_guessing_is_slowed_down(classroom):
    url, _ = classroom
    codes = [
        httpx.post(
            f"{url}login",
            data={"username": "teacher", "password": f"guess{i}"},
            headers={"X-Forwarded-For": "10.1.2.1"},
        ).status_code
        for i in range(7)
    ]
    assert codes[:5] == [400] * 5 and codes[5:] == [429, 429]
    # Even the right password waits now, from that address; another address is not affected.
    assert (
        httpx.post(
            f"{url}login",
            data={"username": "teacher", "password": USERS["teacher"]},
            headers={"X-Forwarded-For": "10.1.2.1"},
        ).status_code
        == 429
    )
    session(url, "10.1.2.2", "teacher")


def test_a_class_behind_one_address_can_all_log_in(classroom):
    # Only failed logins count: more successful ones than the limit (5) from one address.
    url, _ = classroom
    for _ in range(8):
        session(url, "10.1.3.1", "student")


# --- Rate limits ----------------------------------------------------------------------


def test_a_client_over_its_rate_limit_waits_and_others_do_not(classroom):
    url, _ = classroom
    busy = as_client(url, "10.2.0.1")
    for _ in range(6):
        busy.predict(query="a cat", top_k=1, api_name="/search_by_text")
    with pytest.raises(httpx.HTTPStatusError, match="429"):
        busy.predict(query="a cat", top_k=1, api_name="/search_by_text")
    # Plain HTTP sees why, and for how long.
    refused = session(url, "10.2.0.1").post("gradio_api/call/v2/search_by_text", json={"query": "a cat"})
    assert refused.status_code == 429
    assert "Too many requests" in refused.json()["detail"] and "6 every minute" in refused.json()["detail"]
    assert 0 < int(refused.headers["retry-after"]) <= 60
    # Another client is served as usual.
    assert as_client(url, "10.2.0.2").predict(query="a cat", top_k=1, api_name="/search_by_text")


# --- The queue and request sizes --------------------------------------------------------


def test_a_full_queue_answers_busy_and_the_app_recovers(classroom):
    url, _ = classroom
    clients = [as_client(url, f"10.3.0.{i}") for i in range(7)]
    jobs = [
        c.submit(prompt="a red fox", width=128, height=128, num_inference_steps=2, api_name="/text_to_image")
        for c in clients
    ]
    outcomes = []
    for job in jobs:
        try:
            job.result(timeout=300)
            outcomes.append("ok")
        except Exception as error:  # noqa: BLE001 (the queue's answer is what is tested)
            outcomes.append(str(error))
    assert "ok" in outcomes
    assert any("Queue is full" in outcome for outcome in outcomes), outcomes
    assert as_client(url, "10.3.1.1").predict(query="a cat", top_k=1, api_name="/search_by_text")


def test_request_bodies_are_bounded(classroom):
    url, _ = classroom
    http_client = session(url, "10.4.0.1")
    too_big = http_client.post("gradio_api/call/v2/text_to_image", json={"prompt": "fox " * 10_000})
    assert too_big.status_code == 413 and "larger than 20,000 bytes" in too_big.json()["detail"]

    # The same without a Content-Length (chunked): stopped while it is read.
    def chunks():
        yield b'{"prompt": "'
        for _ in range(100):
            yield b"fox " * 100
        yield b'"}'

    chunked = http_client.post(
        "gradio_api/call/v2/text_to_image", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413
    assert http_client.post("gradio_api/call/v2/search_by_text", json={"query": "a cat"}).status_code == 200


# --- Files ----------------------------------------------------------------------------


def raw_get(url: str, path: str, cookies: dict) -> int:
    """GET ``path`` exactly as written (no client-side normalisation of '..')."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(
        "GET",
        path,
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "X-Forwarded-For": "10.5.0.1"},
    )
    status = connection.getresponse().status
    connection.close()
    return status


def test_only_the_apps_own_files_are_served(classroom):
    url, data_dir = classroom
    uploads = data_dir / "uploads" / "shared"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "photo.jpg").write_bytes(Path(CAT).read_bytes())
    (uploads / ".secret.jpg").write_bytes(Path(CAT).read_bytes())
    (uploads / "link.jpg").symlink_to("/etc/hostname")
    http_client = session(url, "10.5.0.1")
    cookies = dict(http_client.cookies)

    allowed = [str(IMAGES / "cat.jpg"), "assets/images/cat.jpg", str(uploads / "photo.jpg")]
    refused = [
        "/etc/passwd",  # absolute path outside
        "../../../../etc/passwd",  # ..
        "assets/../app.py",
        "%2e%2e/%2e%2e/etc/passwd",  # .. percent-encoded
        str(uploads / ".secret.jpg"),  # dotfile inside an allowed folder
        str(ROOT / ".git" / "HEAD"),  # dot-folder of the app
        str(uploads / "link.jpg"),  # a link out of an allowed folder
        str(data_dir / "app.log"),  # the app's own data, not meant for clients
        str(data_dir / "tiny-models" / "sd" / "model_index.json"),
        str(ROOT / "app.py"),  # the app's source
        "http://127.0.0.1:1/",  # no fetching for clients
        "file:///etc/passwd",
        "//example.com/x.png",
    ]
    for path in allowed:
        assert raw_get(url, f"/gradio_api/file={path}", cookies) == 200, path
    for path in refused:
        assert raw_get(url, f"/gradio_api/file={path}", cookies) in (403, 404), path
        assert raw_get(url, f"/file={path}", cookies) in (403, 404), path
    for path in (
        "/assets/../../../../etc/passwd",
        "/static/../../../etc/passwd",
        "/gradio_api/file=/etc/passwd%00.jpg",
    ):
        assert raw_get(url, path, cookies) in (400, 403, 404), path
    for path in ("/gradio_api/proxy=http://127.0.0.1:1/x.png", "/gradio_api/proxy=https://example.com/x.png"):
        assert raw_get(url, path, cookies) == 403, path  # never a fetch on a client's behalf


def test_a_url_given_as_a_file_is_never_fetched(app_url, client):
    hits = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(Path(CAT).read_bytes())

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        internal = f"http://127.0.0.1:{server.server_port}/cat.jpg"
        for payload in ({"path": internal, "meta": {"_type": "gradio.FileData"}}, {"path": None, "url": internal}):
            with pytest.raises(AppError, match="fetch URLs"):
                client.predict(image=payload, api_name="/caption")
        assert httpx.get(f"{app_url}gradio_api/file={internal}").status_code == 403
        time.sleep(0.5)
        assert hits == []
    finally:
        server.shutdown()


# --- The building blocks ----------------------------------------------------------------


def test_parse_auth():
    assert parse_auth("") == []
    assert parse_auth(" ana:pw1 , ben:p:w ") == [("ana", "pw1"), ("ben", "p:w")]
    for bad in ("ana", "ana:", ":pw", "ana:1,ana:2"):
        with pytest.raises(ValueError, match="PLAYGROUND_AUTH"):
            parse_auth(bad)


def test_rate_limiter_windows_and_keys():
    now = [0.0]
    limiter = RateLimiter(2, 10, clock=lambda: now[0])
    assert limiter.hit("a") is None and limiter.hit("a") is None
    assert limiter.hit("a") == pytest.approx(10)
    assert limiter.hit("b") is None  # per key
    now[0] = 9.5
    assert limiter.hit("a") == pytest.approx(0.5)
    now[0] = 10.0
    assert limiter.hit("a") is None  # the first hit left the window


def test_rate_limiter_memory_is_bounded():
    now = [0.0]
    limiter = RateLimiter(1, 1, clock=lambda: now[0], max_keys=100)
    for i in range(10_000):
        now[0] += 0.001
        limiter.hit(f"client-{i}")
    assert len(limiter._hits) <= 100  # noqa: SLF001


def test_parse_rate_refuses_nonsense():
    assert parse_rate("20/minute") == (20, 60) and parse_rate("5/10s") == (5, 10)
    for bad in ("", "20", "0/minute", "20/fortnight", "-1/s", "1/0s"):
        with pytest.raises(ValueError, match="rate limit"):
            parse_rate(bad)
    assert RateLimiter.parse("") is None


def test_client_key_trusts_only_the_proxies_it_is_told_about():
    headers = {"x-forwarded-for": "6.6.6.6, 1.2.3.4"}  # the client wrote the first, our proxy the last
    assert client_key("10.0.0.1", headers, 0) == "10.0.0.1"
    assert client_key("10.0.0.1", headers, 1) == "1.2.3.4"
    assert client_key("10.0.0.1", {}, 1) == "10.0.0.1"


def test_file_refusal(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(b"x")
    assert file_refusal(str(root / "sub" / "a.png"), [root]) is None
    assert file_refusal(str(root / "sub" / ".." / "sub" / "a.png"), [root]) == "file_dotdot"
    assert file_refusal(str(root / ".cache" / "a.png"), [root]) == "file_hidden"
    assert file_refusal(str(root / ".cache" / "a.png"), [root], dotfiles=True) is None
    assert file_refusal("https://example.com/a.png", [root]) == "file_url"
    assert file_refusal(str(tmp_path / "elsewhere.png"), [root]) == "file_not_served"
    assert "'..'" in english("file_dotdot", {}) and "dotfiles" in english("file_hidden", {})  # the catalogue's words
    # A root may itself sit under a dot-folder (~/.cache/...): only what is below it counts.
    hidden_root = tmp_path / ".cache" / "app"
    hidden_root.mkdir(parents=True)
    assert file_refusal(str(hidden_root / "a.png"), [hidden_root]) is None


async def _call(app, method: str, path: str, body_chunks=(b"",), headers=()):
    """Drive an ASGI app with one request; return (status, body)."""
    chunks = list(body_chunks)
    sent = []

    async def receive():
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers), "client": ("1.2.3.4", 5)}
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_guard_middleware_alone():
    import asyncio

    async def inner(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    guard = Guard(inner, run_limit="2/minute", max_body=10)
    run = asyncio.run
    assert run(_call(guard, "POST", "/gradio_api/queue/join", [b"{}"]))[0] == 200
    assert run(_call(guard, "POST", "/gradio_api/queue/join", [b"{}"]))[0] == 200
    status, body = run(_call(guard, "POST", "/gradio_api/queue/join", [b"{}"]))
    assert status == 429 and "Too many requests" in json.loads(body)["detail"]
    assert run(_call(guard, "POST", "/gradio_api/upload", [b"x" * 100]))[0] == 200  # uploads: max_file_size's job
    unlimited = Guard(inner, max_body=10)
    assert run(_call(unlimited, "POST", "/gradio_api/run/predict", [b"x" * 8]))[0] == 200
    assert run(_call(unlimited, "POST", "/gradio_api/run/predict", [b"x" * 8, b"x" * 8]))[0] == 413  # chunked
    assert run(_call(unlimited, "POST", "/other", [b"x"], [(b"content-length", b"11")]))[0] == 413
    assert run(_call(guard, "GET", "/gradio_api/file=/etc/passwd"))[0] == 403
    assert run(_call(guard, "GET", f"/gradio_api/file={os.path.abspath(CAT)}"))[0] == 200


def test_the_guard_refuses_in_the_clients_language():
    import asyncio

    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    guard, chinese = Guard(inner, max_body=10), [(b"accept-language", b"zh-CN,zh;q=0.9")]
    big = [(b"content-length", b"11")]

    def detail(path, headers=(), method="GET"):
        return json.loads(asyncio.run(_call(guard, method, path, [b"x"], list(headers)))[1])["detail"]

    assert detail("/gradio_api/file=/etc/passwd") == "Only the app's own files and the results made for you are served."
    assert detail("/gradio_api/file=/etc/passwd", chinese) == "只提供应用自己的文件和为你生成的结果。"
    assert detail("/gradio_api/file=a/../b.png", chinese) == "不允许含有“..”的路径。"
    assert detail("/gradio_api/proxy=https://x", chinese).startswith("这个应用不替客户端获取 URL")
    assert detail("/other", big, "POST") == "The request is larger than 10 bytes."
    assert detail("/other", [*big, *chinese], "POST") == "请求超过了 10 字节。"


def test_model_endpoints_cannot_skip_the_queue(app_url):
    # Gradio opens /run/<api_name> (and /api/) to plain POSTs unless the queue is
    # opened with api_open=False: that would bypass its bound and concurrency limit.
    for route in ("run", "api"):
        response = httpx.post(f"{app_url}gradio_api/{route}/search_by_text", json={"data": ["a cat", 1, "tiny-clip"]})
        assert response.status_code == 404 and "join the queue" in response.text


def test_traffic_monitoring_is_not_served_to_visitors(app_url):
    """Gradio serves per-endpoint counts at /monitoring/summary to anyone by default: what
    every other visitor is doing. Off unless MONITORING=on."""
    for path in ("monitoring", "monitoring/summary"):
        response = httpx.get(f"{app_url}{path}")
        assert response.status_code == 403, (path, response.text[:200])
        assert "caption" not in response.text


def test_login_kwargs_joins_the_users_and_the_classrooms_password():
    from ui.server.security import login_kwargs

    assert login_kwargs([], {}) == {}
    check = login_kwargs([("ana", "pw:1")])["auth"]
    assert check("ana", "pw:1") and check(" ana ", "pw:1") and not check("ana", "PW:1") and not check("ben", "pw:1")
    classroom = {"auth": lambda name, password: bool(name) and password == "class", "auth_message": "Class login"}
    joined = login_kwargs([("ana", "pw:1")], classroom)
    assert joined["auth"]("ana", "pw:1") and joined["auth"]("any student", "class") and not joined["auth"]("ana", "x")
    assert joined["auth_message"] == "Class login"

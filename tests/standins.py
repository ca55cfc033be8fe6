"""Local stand-ins for the Hugging Face Hub and ModelScope, for the download tests.

Each is a small HTTP server on 127.0.0.1 serving folders (the tiny checkpoints that
runtime/tiny.py builds) under Hub ids, with the routes the real clients call, so that
``HF_ENDPOINT=<url>`` (huggingface_hub 2.4) or ``MODELSCOPE_ENDPOINT=<url>`` (modelscope
1.40 through modelscope_hub) downloads them through the libraries' own code:

Hub (huggingface_hub/hf_api.py, file_download.py, _snapshot_download.py):
- ``HEAD /``: the app's one quick reachability check (runtime/hub.py);
- ``GET /api/models/{repo}/revision/{rev}``: ``repo_info``, whose ``sha`` pins the commit;
- ``GET /api/models/{repo}/tree/{commit}?recursive=...``: ``list_repo_tree``, one page (no
  ``Link`` header), entries with ``path``, ``size``, ``oid`` and ``lfs`` for weights, never
  ``xetHash``, so the plain HTTP path runs, not hf_xet;
- ``HEAD``/``GET /{repo}/resolve/{rev}/{file}``: ``X-Repo-Commit``, ``ETag`` (``X-Linked-Etag``
  and ``X-Linked-Size`` for LFS files, as the Hub sends them), ``Content-Length``; ``Range``
  requests answered ``206`` with ``Content-Range``, which is how a cut download resumes.
  Errors carry the Hub's ``X-Error-Code`` (``RepoNotFound``, ``GatedRepo``).

ModelScope (modelscope_hub/_legacy_api.py, _download.py):
- ``GET /api/v1/models/{repo}/repo/files?Revision=..&Recursive=True``: ``{"Data": {"Files": [...]}}``
  with ``Path``, ``Type``, ``Size``, ``Sha256``;
- ``GET /api/v1/models/{repo}/repo?Revision=..&FilePath=..``: the file.

``faults`` breaks a repository on purpose (``"404"``, ``"401"``, ``"gated"``, ``"500"``,
``("cut", file)``: the first GET of ``file`` stops halfway; ``("cut", file, "then 503")``:
and every GET of it after that is answered 503 until ``faults`` is cleared), and ``requests`` records what was asked, so a test can
check that a download resumed with ``Range`` or never started.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Server:
    """A threading HTTP server on a free loopback port; ``url``, ``stop()``."""

    CHUNK = 16384

    def __init__(self, repos: dict[str, Path]):
        self.repos = {repo: _files(Path(folder)) for repo, folder in repos.items()}
        self.faults: dict[str, object] = {}
        self.pace = 0.0  # seconds to wait after each CHUNK of a file sent: a slow line, to watch progress
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Range header)
        self._cut_done: set[tuple[str, str]] = set()
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                stand_in.requests.append(("HEAD", self.path, self.headers.get("Range", "")))
                stand_in.handle(self, head=True)

            def do_GET(self):
                stand_in.requests.append(("GET", self.path, self.headers.get("Range", "")))
                stand_in.handle(self, head=False)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def downloads(self, name: str = "") -> list[tuple[str, str, str]]:
        """The GET requests for a file (any, or one whose path ends with ``name``), not the API's listings."""
        found = []
        for method, path, wanted in self.requests:
            path = unquote(path)
            file = path.split("FilePath=")[-1] if "FilePath=" in path else path.split("?")[0]
            if method == "GET" and ("/resolve/" in path or "FilePath=" in path) and file.endswith(name):
                found.append((method, path, wanted))
        return found

    # --- answers ---

    @staticmethod
    def send(handler, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        handler.send_response(status)
        headers = {"Content-Length": str(len(body)), **(headers or {})}
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def send_json(self, handler, data, head: bool = False) -> None:
        self.send(handler, 200, json.dumps(data).encode(), {"Content-Type": "application/json"}, head)

    def refuse(self, handler, repo: str, head: bool) -> bool:
        """Answer a broken repository's request as the real server would; False when it isn't broken."""
        fault = self.faults.get(repo)
        if fault is None or isinstance(fault, tuple):
            return False
        status, code = {
            "404": (404, "RepoNotFound"),
            "401": (401, "RepoNotFound"),
            "gated": (403, "GatedRepo"),
            "500": (500, ""),
            "503": (503, ""),
        }[str(fault)]
        headers = {"X-Error-Code": code, "X-Error-Message": "stand-in"} if code else {}
        self.send(handler, status, json.dumps({"error": code or "server error"}).encode(), headers, head)
        return True

    def serve_file(self, handler, repo: str, name: str, head: bool, extra: dict) -> None:
        files = self.repos.get(repo, {})
        if name not in files:
            self.send(handler, 404, b"", {"X-Error-Code": "EntryNotFound", **extra}, head)
            return
        data = files[name].read_bytes()
        headers = {"ETag": f'"{_git_sha1(data)}"', "Accept-Ranges": "bytes", **extra}
        if name.endswith(LFS_SUFFIXES):
            headers.update({"X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Linked-Size": str(len(data))})
        fault = self.faults.get(repo)
        broken = isinstance(fault, tuple) and fault[1] == name and not head
        if broken and (repo, name) in self._cut_done and fault[2:] == ("then 503",):  # after the cut, it fails
            self.send(handler, 503, b"busy", {}, head)
            return
        if broken and (repo, name) not in self._cut_done:
            self._cut_done.add((repo, name))  # send the headers of the whole file, half its bytes, then hang up
            handler.send_response(200)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        status, body = 200, data
        if (wanted := handler.headers.get("Range", "")).startswith("bytes="):
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            status, body = 206, data[start:]
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if not self.pace or head or len(body) < self.CHUNK:
            self.send(handler, status, body, headers, head)
            return
        self.send(handler, status, b"", {**headers, "Content-Length": str(len(body))}, head=True)  # headers only
        for at in range(0, len(body), self.CHUNK):  # a slow line: a chunk, then a pause
            handler.wfile.write(body[at : at + self.CHUNK])
            handler.wfile.flush()
            time.sleep(self.pace)

    def clear_faults(self) -> None:
        self.faults.clear()
        self._cut_done.clear()


class HubStandIn(_Server):
    """The Hugging Face Hub's download routes, for ``HF_ENDPOINT``."""

    def handle(self, handler, head: bool) -> None:
        parsed = urlparse(handler.path)
        path = unquote(parsed.path)
        if path == "/":
            self.send(handler, 200, b"stand-in hub", head=head)
            return
        if path.startswith("/api/models/"):
            rest = path.removeprefix("/api/models/")
            repo = "/".join(rest.split("/")[:2])
            if self.refuse(handler, repo, head):
                return
            if repo not in self.repos:
                self.send(handler, 404, b"{}", {"X-Error-Code": "RepoNotFound"}, head)
            elif "/revision/" in rest:
                siblings = [{"rfilename": name} for name in self.repos[repo]]
                self.send_json(
                    handler,
                    {
                        "id": repo,
                        "modelId": repo,
                        "sha": COMMIT,
                        "private": False,
                        "gated": False,
                        "siblings": siblings,
                    },
                    head,
                )
            elif "/tree/" in rest:
                self.send_json(
                    handler, [self.tree_entry(name, p.read_bytes()) for name, p in self.repos[repo].items()], head
                )
            else:
                self.send(handler, 404, b"{}", {}, head)
            return
        parts = path.lstrip("/").split("/")
        if len(parts) >= 5 and parts[2] == "resolve":  # owner/name/resolve/rev/file...
            repo, name = "/".join(parts[:2]), "/".join(parts[4:])
            if self.refuse(handler, repo, head):
                return
            if repo not in self.repos:
                self.send(handler, 404, b"", {"X-Error-Code": "RepoNotFound"}, head)
                return
            self.serve_file(handler, repo, name, head, {"X-Repo-Commit": COMMIT})
            return
        self.send(handler, 404, b"", {}, head)

    @staticmethod
    def tree_entry(name: str, data: bytes) -> dict:
        entry = {"type": "file", "path": name, "size": len(data), "oid": _git_sha1(data)}
        if name.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry


class ModelScopeStandIn(_Server):
    """ModelScope's download routes, for ``MODELSCOPE_ENDPOINT``."""

    def handle(self, handler, head: bool) -> None:
        parsed = urlparse(handler.path)
        path, query = unquote(parsed.path), parse_qs(parsed.query)
        if not path.startswith("/api/v1/models/"):
            self.send(handler, 404, b"{}", {}, head)
            return
        rest = path.removeprefix("/api/v1/models/")
        repo = "/".join(rest.split("/")[:2])
        if self.refuse(handler, repo, head):
            return
        if repo not in self.repos:
            body = json.dumps({"Code": 10010205001, "Message": f"model {repo} not found", "Success": False})
            self.send(handler, 404, body.encode(), {"Content-Type": "application/json"}, head)
        elif rest.endswith("/repo/files"):
            files = [
                {
                    "Path": name,
                    "Name": name.rsplit("/", 1)[-1],
                    "Type": "blob",
                    "Size": p.stat().st_size,
                    "Sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                }
                for name, p in self.repos[repo].items()
            ]
            self.send_json(handler, {"Code": 200, "Success": True, "Data": {"Files": files}}, head)
        elif rest.endswith("/repo") and "FilePath" in query:
            self.serve_file(handler, repo, query["FilePath"][0], head, {})
        else:
            self.send(handler, 404, b"{}", {}, head)

"""A real HTTP proxy in front of a model server, for producing its faults on purpose:
each request takes the next behaviour from a script (then the default, "pass"):

- "pass": forwarded as it is, streamed back as it comes;
- ("delay", s): forwarded after s seconds (a slow server);
- ("status", code): answered with that status and an OpenAI-style error body;
- "garbage": 200 with a body that is not JSON;
- ("cut", n): forwarded, but the connection is closed after n bytes of the answer's body;
- ("reply", (content_type, body)): that body instead of the server's (what another server sends);
- ("trickle", (content_type, pieces, s)): a 200 whose body's pieces come s seconds apart;
- ("flood", (content_type, piece, count)): a 200 whose body is ``piece`` ``count`` times, made as sent;
- ("redirect", (code, location)): that redirect.

``bodies`` keeps the body of each request (what a server was sent).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FaultProxy:
    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.script: list = []
        self.seen: list[str] = []  # the behaviour each request got
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._handle()

            def do_POST(self):
                self._handle()

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    behaviour = proxy.script.pop(0) if proxy.script else "pass"
                    proxy.seen.append(behaviour if isinstance(behaviour, str) else behaviour[0])
                    proxy.bodies.append(body)
                kind, arg = (behaviour, None) if isinstance(behaviour, str) else behaviour
                if kind == "redirect":
                    self.send_response(arg[0])
                    self.send_header("Location", arg[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if kind in ("trickle", "flood"):
                    pieces = arg[1] if kind == "trickle" else (arg[1] for _ in range(arg[2]))
                    self._chunked(arg[0], pieces, pause=arg[2] if kind == "trickle" else 0)
                    return
                if kind == "status":
                    self._reply(arg, json.dumps({"error": {"message": f"scripted {arg}", "type": "server"}}).encode())
                    return
                if kind == "reply":
                    self._reply(200, arg[1], arg[0])
                    return
                if kind == "garbage":
                    self._reply(200, b"{this is not json", "application/json")
                    return
                if kind == "delay":
                    time.sleep(arg)
                self._forward(body, cut=arg if kind == "cut" else None)

            def _reply(self, status: int, body: bytes, kind: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _chunked(self, kind: str, pieces, pause: float):
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for piece in pieces:
                        time.sleep(pause)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:  # the client hung up: what it was meant to do
                    self.close_connection = True

            def _forward(self, body: bytes, cut: int | None):
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                while piece := answer.read1(4096):
                    if cut is not None and sent + len(piece) > cut:
                        piece = piece[: max(cut - sent, 0)]
                        if piece:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)  # mid-stream: no last chunk, the socket just closes
                        upstream.close()
                        return
                    sent += len(piece)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                upstream.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

"""A stand-in for what sits in front of a BRMS in real deployments (an ingress, a proxy),
for tests of answers that are not the BRMS's own.

It forwards to the BRMS while ``mode`` is ``"proxy"``; switched to another mode it answers
every request itself: an HTML 404 page as an ingress does for an unknown host or path, a
bare status, a BRMS-style unknown-route 404, or the BRMS's own "Project not found". Binds 127.0.0.1 on a free port; leaving the
context stops it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Optional

import httpx

HTML_404 = b"<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center></body></html>"


class Ingress:
    """``with Ingress(upstream) as ingress: ingress.url; ingress.mode = "html404"``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "proxy"  # or "html404", "route404", "project404", or an HTTP status code such as 401 or 502
        self.requests = 0
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "Ingress":
        ingress = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                ingress.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                mode = ingress.mode
                if mode == "proxy":
                    self._forward(body)
                elif mode == "html404":
                    self._answer(404, "text/html", HTML_404)
                elif mode == "route404":
                    message = f"Route {self.command}:{self.path} not found"
                    self._answer(404, "application/json", json.dumps(
                        {"statusCode": 404, "error": "Not Found", "message": message}).encode())
                elif mode == "project404":  # the BRMS's own wording, e.g. for a project outside the PAT
                    self._answer(404, "application/json", json.dumps(
                        {"statusCode": 404, "error": "Not Found", "message": "Project not found"}).encode())
                else:
                    self._answer(int(mode), "text/plain", b"refused by the ingress")

            def _forward(self, body: bytes) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.request(self.command, ingress.upstream + self.path, headers=headers,
                                       content=body or None, timeout=30)
                self._answer(answer.status_code, answer.headers.get("content-type", ""), answer.content)

            def _answer(self, status: int, content_type: str, payload: bytes) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *_args: object) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

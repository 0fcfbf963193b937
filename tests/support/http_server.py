"""A programmable HTTP server on 127.0.0.1 for adapter tests.

Tests register routes that answer with exact bytes, status and headers, with an
optional delay or a trickled body, so the real SDK clients (httpx, polygon,
alpaca-py) can be driven through the faults seen in the field. Every request is
recorded for assertions.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """One canned answer.

    Attributes:
        status: HTTP status code.
        body: Raw body bytes (or a str / JSON-able object, encoded as UTF-8 JSON).
        headers: Extra headers; Content-Type defaults to application/json.
        delay_s: Sleep before answering (simulates a slow backend).
        trickle_s: Sleep between body bytes (a server that trickles).
        hang: Accept and never answer (until the server stops).
    """

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    trickle_s: float = 0.0
    hang: bool = False

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


@dataclass
class Request:
    """A request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Handler = Callable[[Request], Reply]


class LocalServer:
    """Threaded HTTP server with routes matched by method and path regex.

    Routes registered later win, so a test can override a default. A route's
    answer is a `Reply`, a list of replies consumed in order (the last repeats),
    or a callable taking the `Request`.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._routes: list[tuple[str, re.Pattern[str], Any]] = []
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(
        self, method: str, path: str, answer: Reply | list[Reply] | Handler
    ) -> None:
        """Answer `method` requests whose path fully matches the regex `path`."""
        if isinstance(answer, list):
            answer = list(answer)
        self._routes.insert(0, (method.upper(), re.compile(path), answer))

    def json(
        self, method: str, path: str, body: Any, status: int = 200, **kw: Any
    ) -> None:
        """Shortcut: answer with a JSON body."""
        self.route(method, path, Reply(status=status, body=body, **kw))

    def calls(self, path_regex: str, method: str | None = None) -> list[Request]:
        """Return the recorded requests whose path matches."""
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.requests
            if pattern.fullmatch(r.path) and (method is None or r.method == method)
        ]

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _resolve(self, request: Request) -> Reply:
        for method, pattern, answer in self._routes:
            if method == request.method and pattern.fullmatch(request.path):
                if isinstance(answer, list):
                    return answer.pop(0) if len(answer) > 1 else answer[0]
                if callable(answer):
                    return answer(request)
                return answer
        return Reply(404, {"detail": "Not Found"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                server.requests.append(request)
                reply = server._resolve(request)
                if reply.hang:
                    server._stop.wait()
                    return
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self._write(reply)

            def _write(self, reply: Reply) -> None:
                payload = reply.payload()
                headers = {"Content-Type": "application/json", **reply.headers}
                headers["Content-Length"] = str(len(payload))
                phrase = self.responses.get(reply.status, ("",))[0]
                head = [f"HTTP/1.1 {reply.status} {phrase}"]
                head += [f"{key}: {value}" for key, value in headers.items()]
                raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                # One write for head and body: split writes meet delayed ACKs.
                try:
                    if not reply.trickle_s:
                        self.wfile.write(raw + payload)
                        return
                    self.wfile.write(raw)
                    for i in range(len(payload)):
                        self.wfile.write(payload[i : i + 1])
                        self.wfile.flush()
                        if server._stop.wait(reply.trickle_s):
                            return
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

        return _Handler

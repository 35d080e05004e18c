"""A plain file server on the loopback interface, for download tests.

``GET /<name>`` answers ``200`` with the bytes of ``files[name]`` (the request
path without its leading ``/`` and its query), or with ``default`` for any
other name when one is given, else ``404``. ``HEAD`` answers the same status
and headers without the body. Every request's path is recorded, so a test can
show that a cached or offline fetch makes none. A test that needs a damaged
download passes damaged bytes; ``stall_s`` makes a server that accepts the
request and then says nothing (for timeouts). Nothing of ours is replaced: the
code under test talks HTTP to ``127.0.0.1``.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FileServer:
    """Serves fixed bytes by path on ``127.0.0.1`` (a free port), recording every request.

    Args:
        files: ``{path without the leading "/": body}``; ``None`` serves nothing.
        default: Body for every path not in ``files``; ``None`` makes those a 404.
        stall_s: When > 0, each request is recorded and then left unanswered for
            this many seconds (or until :meth:`close`), and the connection is
            closed without a status line.

    Attributes:
        base_url: ``http://127.0.0.1:<port>``, no trailing slash.
        requests: The path (with any query) of every ``GET``/``HEAD``, in order.

    The server runs from construction; use it as a context manager or call
    :meth:`close`. After closing, connections to ``base_url`` are refused.
    """

    def __init__(self, files: dict[str, bytes] | None = None, *, default: bytes | None = None, stall_s: float = 0.0) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.default = default
        self.stall_s = float(stall_s)
        self.requests: list[str] = []
        self._closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API; HEAD too)
                outer.requests.append(self.path)
                if outer.stall_s > 0:
                    outer._closing.wait(outer.stall_s)
                    self.close_connection = True
                    return
                body = outer.files.get(urlsplit(self.path).path.lstrip("/"), outer.default)
                if body is None:
                    self.send_error(404)  # http.server sends no body for HEAD
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # daemon handler threads
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "") -> str:
        """``base_url`` joined with ``path`` (a leading ``/`` is optional)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def close(self) -> None:
        """Stop serving (idempotent) and release stalled requests; later
        connections are refused."""
        self._closing.set()
        if self.server.socket.fileno() != -1:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self) -> FileServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

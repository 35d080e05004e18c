"""A fake Hugging Face Hub on the loopback interface, for download tests.

It speaks the part of the Hub's protocol that ``huggingface_hub`` (and through
it diffusers and transformers) uses to fetch files:

* ``HEAD``/``GET /{repo}/resolve/{revision}/{path}`` for ``revision`` ``main``
  or the repository's commit, answered with the ``X-Repo-Commit`` and ``ETag``
  headers (``hf_hub_download``);
* ``GET /api/models/{repo}/revision/main`` and ``/api/models/{repo}/tree/{commit}``
  (``snapshot_download``).

Anything else is a 404 with ``X-Error-Code`` ``EntryNotFound`` (a known repo)
or ``RepoNotFound``. Point ``HF_ENDPOINT`` at ``FakeHub.url`` in a fresh
interpreter (``huggingface_hub`` reads it at import); nothing of ours or of
``huggingface_hub`` is replaced.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def folder_files(folder: Path, prefix: str = "") -> dict[str, bytes]:
    """Every file under ``folder`` as ``{prefix + relative posix path: bytes}``."""
    return {prefix + p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class FakeHub:
    """Serves the files of one or more model repositories, recording every request.

    Args:
        repos: ``{repo_id: {path in the repo: content}}``.

    Attributes:
        url: ``http://127.0.0.1:<port>``, the value for ``HF_ENDPOINT``.
        requests: ``"METHOD /path?query"`` of every request, in order.
    """

    def __init__(self, repos: dict[str, dict[str, bytes]] | None = None) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commits: dict[str, str] = {}
        self.requests: list[str] = []
        for repo_id, files in (repos or {}).items():
            self.publish(repo_id, files)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, data) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _not_found(self, code: str) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _answer(self, with_body: bool) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                path = self.path.split("?")[0]
                for repo_id, files in hub.repos.items():
                    commit = hub.commits[repo_id]
                    if path == f"/api/models/{repo_id}/revision/main":  # repo_info (snapshot_download)
                        return self._json({"id": repo_id, "sha": commit, "siblings": [{"rfilename": n} for n in files]})
                    if path == f"/api/models/{repo_id}/tree/{commit}":  # list_repo_tree (snapshot_download)
                        return self._json([{"type": "file", "path": n, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                                           for n, b in files.items()])  # fmt: skip
                    for revision in ("main", commit):
                        prefix = f"/{repo_id}/resolve/{revision}/"
                        if path.startswith(prefix):
                            name = path[len(prefix):]
                            if name not in files:
                                return self._not_found("EntryNotFound")
                            body = files[name]
                            self.send_response(200)
                            self.send_header("X-Repo-Commit", commit)
                            self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                            self.send_header("Content-Length", str(len(body)))
                            self.send_header("Content-Type", "application/octet-stream")
                            self.end_headers()
                            if with_body:
                                self.wfile.write(body)
                            return None
                return self._not_found("RepoNotFound")

            def do_HEAD(self) -> None:  # noqa: N802 (http.server API)
                self._answer(with_body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(with_body=True)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, repo_id: str, files: dict[str, bytes]) -> None:
        """Replace the repository's files: a new commit (sha1 of the sorted
        contents) and new ETags (sha256 of each file)."""
        self.repos[repo_id] = dict(files)
        self.commits[repo_id] = hashlib.sha1(b"".join(files[k] for k in sorted(files))).hexdigest()

    def close(self) -> None:
        """Stop serving (idempotent); later requests fail to connect."""
        if self.server.socket.fileno() != -1:
            self.server.shutdown()
            self.server.server_close()

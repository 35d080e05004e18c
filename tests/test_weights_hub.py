"""Hub-sourced weights: download, safetensors conversion, and revalidation of
the conversion when the file on the Hub changes.

A small HTTP server on the loopback interface speaks the part of the Hub's
file protocol that ``huggingface_hub`` uses (``HEAD``/``GET
/{repo}/resolve/{revision}/{file}`` with the ``X-Repo-Commit`` and ``ETag``
headers). Each load runs in a fresh interpreter with ``HF_ENDPOINT`` pointing
at it, so ``huggingface_hub`` is configured exactly as a user would configure
a mirror; nothing of ours is replaced.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from mcld.weights import read_state_dict

REPO_ID = "fake-org/mcld"
REPO_ROOT = Path(__file__).resolve().parents[1]

LOAD_SCRIPT = """
import json, sys, warnings
from mcld.models import PoseGuider
from mcld.weights import load_component_weights
warnings.simplefilter("error")  # a fallback to a stale or broken cache would warn
module = load_component_weights("pose_guider", PoseGuider(conditioning_embedding_channels=32), sys.argv[1],
                                cache_dir=sys.argv[2])
print(json.dumps(module.conv_in.bias.tolist()))
"""


class FakeHub:
    """Serves one file of one repo; ``publish`` replaces its content (new commit, new ETag)."""

    def __init__(self) -> None:
        self.content, self.etag, self.commit = b"", "", ""
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, with_body: bool) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                if self.path != f"/{REPO_ID}/resolve/main/pose_guider.pth":
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", hub.commit)
                self.send_header("ETag", f'"{hub.etag}"')
                self.send_header("Content-Length", str(len(hub.content)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if with_body:
                    self.wfile.write(hub.content)

            def do_HEAD(self) -> None:  # noqa: N802 (http.server API)
                self._answer(with_body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(with_body=True)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, state_dict: dict) -> None:
        buffer = io.BytesIO()
        torch.save(state_dict, buffer)
        self.content = buffer.getvalue()
        self.etag = hashlib.sha256(self.content).hexdigest()
        self.commit = hashlib.sha1(self.content).hexdigest()

    def close(self) -> None:
        if self.server.socket.fileno() != -1:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture()
def hub():
    server = FakeHub()
    yield server
    server.close()


def _load(tmp_path: Path, endpoint: str, offline: bool = False) -> list:
    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1" if offline else "0",
               HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH=str(REPO_ROOT))
    env.pop("TRANSFORMERS_OFFLINE", None)
    proc = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, REPO_ID, str(tmp_path / "cache")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_hub_conversion_is_reused_and_refreshed_when_the_hub_file_changes(tmp_path, hub, mcld_golden_dir):
    original = read_state_dict(mcld_golden_dir / "pose_guider.pth")
    updated = {k: v + 1 for k, v in original.items()}
    bias = original["conv_in.bias"].tolist()

    hub.publish(original)
    assert _load(tmp_path, hub.url) == bias  # downloaded, checked, converted
    assert sum(r.startswith("GET") for r in hub.requests) == 1

    hub.requests.clear()
    assert _load(tmp_path, hub.url) == bias  # the conversion, after one HEAD; no download
    assert [r.split()[0] for r in hub.requests] == ["HEAD"]

    hub.publish(updated)  # a new upload of the same file
    hub.requests.clear()
    assert _load(tmp_path, hub.url) == updated["conv_in.bias"].tolist()
    assert sum(r.startswith("GET") for r in hub.requests) == 1

    hub.requests.clear()  # offline: the (new) conversion is used without asking the Hub
    assert _load(tmp_path, hub.url, offline=True) == updated["conv_in.bias"].tolist()
    assert hub.requests == []

    hub.close()  # Hub unreachable while online: the conversion still stands
    assert _load(tmp_path, hub.url) == updated["conv_in.bias"].tolist()

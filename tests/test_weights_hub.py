"""Hub-sourced weights: download, safetensors conversion, and revalidation of
the conversion when the file on the Hub changes.

A small HTTP server on the loopback interface (``tests.helpers.fake_hub``)
speaks the part of the Hub's file protocol that ``huggingface_hub`` uses
(``HEAD``/``GET /{repo}/resolve/{revision}/{file}`` with the ``X-Repo-Commit``
and ``ETag`` headers). Each load runs in a fresh process with ``HF_ENDPOINT`` pointing
at it, so ``huggingface_hub`` is configured exactly as a user would configure
a mirror; nothing of ours is replaced. The online loads are children forked from
one interpreter that imported the modules under that environment and ran nothing
else (``tests.helpers.forked_python``: the imports, ~10 s each, are done once);
the offline load needs ``HF_HUB_OFFLINE=1`` at import, so it gets an interpreter
of its own.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mcld.weights import read_state_dict
from tests.helpers.fake_hub import FakeHub
from tests.helpers.forked_python import ForkedPython

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


def _publish(hub: FakeHub, state_dict: dict) -> None:
    """A new upload of ``pose_guider.pth`` (new commit, new ETag)."""
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    hub.publish(REPO_ID, {"pose_guider.pth": buffer.getvalue()})


@pytest.fixture()
def hub():
    server = FakeHub()
    yield server
    server.close()


def _env(tmp_path: Path, endpoint: str, offline: bool) -> dict:
    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1" if offline else "0",
               HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH=str(REPO_ROOT))
    env.pop("TRANSFORMERS_OFFLINE", None)
    return env


def _bias(proc: subprocess.CompletedProcess) -> list:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load(tmp_path: Path, endpoint: str, offline: bool = False) -> list:
    """One load in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, REPO_ID, str(tmp_path / "cache")],
                          env=_env(tmp_path, endpoint, offline), capture_output=True, text=True, timeout=300)  # fmt: skip
    return _bias(proc)


def test_hub_conversion_is_reused_and_refreshed_when_the_hub_file_changes(tmp_path, hub, mcld_golden_dir):
    original = read_state_dict(mcld_golden_dir / "pose_guider.pth")
    updated = {k: v + 1 for k, v in original.items()}
    bias = original["conv_in.bias"].tolist()

    online = ForkedPython(_env(tmp_path, hub.url, offline=False), preload=["mcld.models", "mcld.weights"])
    try:
        _publish(hub, original)
        assert _bias(online.run(LOAD_SCRIPT, REPO_ID, str(tmp_path / "cache"))) == bias  # downloaded, checked, converted
        assert sum(r.startswith("GET") for r in hub.requests) == 1

        hub.requests.clear()
        assert _bias(online.run(LOAD_SCRIPT, REPO_ID, str(tmp_path / "cache"))) == bias  # the conversion, after one HEAD; no download
        assert [r.split()[0] for r in hub.requests] == ["HEAD"]

        _publish(hub, updated)  # a new upload of the same file
        hub.requests.clear()
        assert _bias(online.run(LOAD_SCRIPT, REPO_ID, str(tmp_path / "cache"))) == updated["conv_in.bias"].tolist()
        assert sum(r.startswith("GET") for r in hub.requests) == 1

        hub.requests.clear()  # offline: the (new) conversion is used without asking the Hub
        assert _load(tmp_path, hub.url, offline=True) == updated["conv_in.bias"].tolist()
        assert hub.requests == []

        hub.close()  # Hub unreachable while online: the conversion still stands
        assert _bias(online.run(LOAD_SCRIPT, REPO_ID, str(tmp_path / "cache"))) == updated["conv_in.bias"].tolist()
    finally:
        online.close()

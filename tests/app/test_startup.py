"""mcld.startup: the one Hub reachability check and the start-up report.

The Hub is a loopback HTTP server (127.0.0.1) or a closed port; nothing leaves
the machine.
"""

from __future__ import annotations

import socket
import time

import pytest

from mcld.startup import ComponentStatus, HubStatus, Startup, check_hub
from tests.helpers.file_server import FileServer


@pytest.fixture
def fake_hub():
    """A loopback server with no files: every request, the HEAD of check_hub included, is a 404."""
    with FileServer() as server:
        yield server.base_url


def test_an_answering_hub_is_reachable_even_with_an_error_status(fake_hub, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MCLD_OFFLINE", raising=False)
    status = check_hub(fake_hub, timeout_s=5)
    assert status.reachable and status.endpoint == fake_hub and status.reason == ""


def test_a_closed_port_is_unreachable_at_once(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MCLD_OFFLINE", raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    start = time.monotonic()
    status = check_hub(f"http://127.0.0.1:{port}", timeout_s=2)
    assert not status.reachable and "URLError" in status.reason
    assert time.monotonic() - start < 2


def test_a_silent_server_is_unreachable_after_the_timeout(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MCLD_OFFLINE", raising=False)
    with socket.socket() as listener:  # accepts the connection, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        start = time.monotonic()
        status = check_hub(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout_s=0.5)
        elapsed = time.monotonic() - start
    assert not status.reachable and "timed out" in status.reason.lower()
    assert 0.4 < elapsed < 3


def test_offline_setting_means_no_request(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    status = check_hub("http://127.0.0.1:9", timeout_s=5)
    assert not status.reachable and status.reason == "HF_HUB_OFFLINE is set" and status.elapsed_s == 0.0


def test_generate_message_names_what_is_missing_and_the_tiny_mode():
    failed = [
        ComponentStatus("mcld", "MCLD weights", False, "not on disk.", "https://huggingface.co/Lotior/mcld"),
        ComponentStatus("parser", "Human parser (SCHP)", False, "damaged.", "https://huggingface.co/yisol/IDM-VTON", "coarse parsing (MediaPipe)"),
    ]
    offline = Startup("full", HubStatus(False, "https://huggingface.co", "URLError: no route"), components=failed)
    message = offline.generate_unavailable
    assert "cannot be downloaded here" in message and "no route" in message
    assert "MCLD weights" in message and "Human parser" not in message  # the parser has a fallback
    assert "make demo-tiny" in message and "MCLD_TINY=1" in message
    assert failed[1].line().startswith("**Human parser (SCHP)** did not load: damaged.")
    assert "Using coarse parsing (MediaPipe) instead." in failed[1].line()
    assert Startup("tiny", None, pose_transfer=object()).generate_unavailable is None

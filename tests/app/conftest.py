"""Start ``app.py`` once (tiny weights, loopback, free port) for the app tests."""

from __future__ import annotations

import pytest

from tools.appserver import run_app


@pytest.fixture(scope="session")
def app_url(test_output_dir):
    """URL of a running ``MCLD_TINY=1 python app.py`` (stopped at session end)."""
    log_path = test_output_dir / "app_server.log"
    try:
        server = run_app(log_path, timeout_s=180)
        url, _proc = server.__enter__()
    except RuntimeError as err:
        pytest.fail(str(err))
    try:
        yield url
    finally:
        server.__exit__(None, None, None)

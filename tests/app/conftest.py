"""Start ``app.py`` once (tiny weights, loopback, free port) for the app tests,
and ``app.py`` imported in-process for handler tests."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tools.appserver import REPO_ROOT, run_app


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


@pytest.fixture(scope="session")
def app_module():
    """``app.py`` imported as a module in tiny mode (``tests/app`` shadows the name ``app``)."""
    old = os.environ.get("MCLD_TINY")
    os.environ["MCLD_TINY"] = "1"
    try:
        spec = importlib.util.spec_from_file_location("mcld_space_app", REPO_ROOT / "app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if old is None:
            os.environ.pop("MCLD_TINY", None)
        else:
            os.environ["MCLD_TINY"] = old
    assert module.TINY
    return module


# Headless Chromium (Debian package, ``make browser``) driven by Playwright: one
# page per test module, shared by the browser tests.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def page(app_url):
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium not installed (make browser)")
    with pytest.importorskip("playwright.sync_api").sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(app_url)
        pg.wait_for_selector("#tiny-banner")
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def shots(test_output_dir) -> Path:
    folder = test_output_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder

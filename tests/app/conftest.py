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
# browser per test module, a fresh page (a fresh Gradio session) per test, so
# that every browser test sets up its own state and runs alone with ``-k``.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Upper bound of one wait on page state (a loaded 2-core machine); tests wait
#: on elements and text, never on fixed sleeps.
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium not installed (make browser)")
    with pytest.importorskip("playwright.sync_api").sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url: str, ready: str = "#weights-status", viewport=(1400, 1000)):
    """A new page on ``url`` (its own Gradio session), once ``ready`` is on it."""
    pg = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(url)
    pg.wait_for_selector(ready)
    return pg


@pytest.fixture
def new_page(browser):
    """``new_page(url, ready, viewport)``: more pages (other servers, other
    window sizes), each closed after the test."""
    pages = []

    def make(url: str, ready: str = "#weights-status", viewport=(1400, 1000)):
        pages.append(open_page(browser, url, ready, viewport))
        return pages[-1]

    yield make
    for pg in pages:
        pg.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh page of the tiny-mode app (closed after the test)."""
    pg = open_page(browser, app_url, "#tiny-banner")
    yield pg
    pg.close()


@pytest.fixture(scope="module")
def shots(test_output_dir) -> Path:
    folder = test_output_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder

"""Page helpers shared by the browser tests: find Gradio components by ``elem_id``,
upload files into them, and wait on what they show (never on a fixed sleep)."""
from __future__ import annotations

from pathlib import Path


def upload(page, elem_id: str, path: Path) -> None:
    """Set ``path`` as the file of the upload component ``#elem_id``."""
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))


def page_text(page, elem_id: str) -> str:
    """The visible text of ``#elem_id``."""
    return page.locator(f"#{elem_id}").inner_text()


def wait_text(page, elem_id: str, text: str) -> None:
    """Wait until ``#elem_id`` shows ``text``; on timeout say what it showed.

    Raises:
        AssertionError: the text never appeared (Playwright's timeout), naming
            the expected text and what the element showed instead.
    """
    try:
        page.wait_for_function(
            "([id, t]) => (document.getElementById(id) || {innerText: ''}).innerText.includes(t)", arg=[elem_id, text]
        )
    except Exception as err:  # playwright's TimeoutError: name what was expected and what is there
        raise AssertionError(f"#{elem_id} never showed {text!r}; it shows {page_text(page, elem_id)!r}") from err

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


def set_number(page, elem_id: str, value: int, *, tries: int = 5, timeout_ms: int = 10_000) -> None:
    """Type ``value`` into the number box of ``#elem_id`` until the page shows it.

    A box typed into while Gradio is still mounting it (an accordion that has
    just opened, on a loaded machine) can be re-rendered with its old value, so
    the value is typed again until it sticks, up to ``tries`` times.

    Raises:
        AssertionError: the box never kept ``value``; names what it shows.
    """
    box = page.locator(f"#{elem_id} input[type=number]").first
    check = f"(v) => {{ const b = document.querySelector('#{elem_id} input[type=number]'); return b && b.value === v; }}"
    for _ in range(tries):
        box.fill(str(value))
        box.press("Enter")
        try:
            page.wait_for_function(check, arg=str(value), timeout=timeout_ms)
            return
        except Exception:  # playwright's TimeoutError: type it again
            continue
    raise AssertionError(f"#{elem_id} never kept {value!r}; it shows {box.input_value()!r}")

"""Region editing in headless Chromium (Playwright), tiny-weights mode.

A source and two extra photos: the upper garment from Photo 2, the lower
garment from Photo 3, parsing-guided attention on, a photo target; asserts the
parsing overlays, the result and its caption, and saves screenshots to
``test-output/screenshots/``.
"""

from __future__ import annotations


import pytest

from tests.app.pages import page_text, upload


pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api")

PARSER_NAMES = ("coarse parsing (MediaPipe)", "parsing (SCHP")


def _wait_parsed(page, k: int) -> str:
    """Wait for photo ``k``'s parsing overlay and its note naming the parser; return the note."""
    page.wait_for_selector(f"#edit-parsing-{k} img", state="visible")
    page.wait_for_function(
        "([id, names]) => names.some(n => (document.querySelector(id) || {innerText: ''}).innerText.includes(n))",
        arg=[f"#edit-parsing-note-{k}", list(PARSER_NAMES)],
    )
    return page_text(page, f"edit-parsing-note-{k}")


def _choose(page, elem_id: str, option: str) -> None:
    box = page.locator(f"#{elem_id} input[role=combobox]")
    box.click()
    page.locator(f"#{box.get_attribute('aria-controls')} [role=option][aria-label='{option}']").click()
    page.wait_for_function(
        "([id, v]) => document.querySelector(id + ' input[role=combobox]').value === v", arg=[f"#{elem_id}", option]
    )


def test_edit_with_three_photos(page, shots, images_dir):
    # Source (step 1) and target pose (step 2).
    upload(page, "source-image", images_dir / "reference_img_0.png")
    page.wait_for_function("document.querySelector('#source-note').innerText.includes('1 person')")
    upload(page, "target-image", images_dir / "reference_img_1.png")
    page.wait_for_selector("#target-iuv img", state="visible")
    page.wait_for_function("document.querySelector('#target-note').innerText.includes('1 person')")

    # Open "Edit regions": the source is already parsed; add two photos.
    page.locator("#edit-regions").get_by_text("3. Edit regions").first.click()
    source_note = _wait_parsed(page, 1)
    assert "Source" in source_note and "face" in source_note
    assert not page.locator("#edit-photo-3").is_visible(), "Photo 3 must appear only after 'Add photo'"
    upload(page, "edit-photo-2", images_dir / "reference_img_2.png")
    page.locator("#edit-add-photo").click()
    page.wait_for_selector("#edit-photo-3", state="visible")
    upload(page, "edit-photo-3", images_dir / "reference_img_4.png")
    notes = {k: _wait_parsed(page, k) for k in (2, 3)}
    assert "upper garment" in notes[2] and "lower garment" in notes[3], notes
    for k in (1, 2, 3):
        # The overlay's label names the parser ("coarse parsing (MediaPipe)" for the fallback) in full.
        label = page.locator(f"#edit-parsing-{k} [data-testid=block-label]")
        page.wait_for_function(
            "([sel, names]) => names.some(n => document.querySelector(sel).innerText.includes(n))",
            arg=[f"#edit-parsing-{k} [data-testid=block-label]", list(PARSER_NAMES)],
        )
        assert label.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), f"label of photo {k} is cut off"
        box = page.locator(f"#edit-parsing-{k} img").first.bounding_box()
        assert box["width"] > 150 and box["height"] > 250, (k, box)  # readable, not a thumbnail
    legend = page_text(page, "parsing-legend")
    assert all(region in legend for region in ("face", "hair", "upper garment", "lower garment", "shoes"))

    # Upper garment from Photo 2, lower garment from Photo 3, parsing attention on.
    _choose(page, "edit-upper-garment", "Photo 2")
    _choose(page, "edit-lower-garment", "Photo 3")
    page.locator("#edit-parsing-attention input[type=checkbox]").check()
    page.locator("#edit-regions").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "10_edit_three_photos_ready.png"), full_page=True)

    page.locator("#edit-generate").click()
    page.wait_for_function("document.querySelector('#run-status').innerText.includes('Done')")
    status = page_text(page, "run-status")
    assert "upper garment: Photo 2" in status and "lower garment: Photo 3" in status, status
    assert "parsing attention" in status and "tiny" in status
    page.wait_for_selector("#results img", state="visible")
    page.wait_for_selector("#edit-texture img", state="visible")
    caption = page.locator("#results").inner_text()
    assert "upper garment: Photo 2" in caption, caption
    page.screenshot(path=str(shots / "11_edit_three_photos_result.png"), full_page=True)
    page.locator("#edit-regions").screenshot(path=str(shots / "12_edit_section.png"))


def test_edit_region_from_an_empty_slot_shows_our_message(page, shots, images_dir):
    upload(page, "source-image", images_dir / "reference_img_0.png")
    page.wait_for_function("document.querySelector('#source-note').innerText.includes('1 person')")
    page.locator("#edit-regions").get_by_text("3. Edit regions").first.click()
    _choose(page, "edit-shoes", "Photo 5")
    page.locator("#edit-generate").click()
    toast = page.get_by_text("no photo was uploaded as Photo 5")
    toast.first.wait_for(state="visible")
    page.wait_for_function("document.querySelector('#run-status').innerText.includes('no photo was uploaded as Photo 5')")
    page.screenshot(path=str(shots / "13_edit_empty_slot_error.png"))
    assert "Traceback" not in page.locator("body").inner_text()
    pills = page.evaluate("() => [...document.querySelectorAll('.wrap span.error')].filter(e => !e.closest('[data-testid=toast-body]')).length")
    assert pills == 0, f"{pills} outputs in an error state"


def test_add_photo_up_to_five_photos_in_one_row(page, shots):
    page.locator("#edit-regions").get_by_text("3. Edit regions").first.click()
    for k in (3, 4, 5):
        page.locator("#edit-add-photo").click()
        page.wait_for_selector(f"#edit-photo-{k}", state="visible")
    page.wait_for_selector("#edit-add-photo", state="hidden")  # no slot left
    tops = [page.locator(f"#edit-photo-{k}").bounding_box()["y"] for k in range(1, 6)]
    assert max(tops) - min(tops) < 2, f"the five photos do not share one row: {tops}"
    for close in page.locator("[data-testid=toast-close]").all():
        close.click()  # earlier warnings/errors would cover the slots
    page.wait_for_selector("[data-testid=toast-body]", state="detached")
    page.locator("#edit-regions").screenshot(path=str(shots / "14_edit_five_photo_slots.png"))

"""The Space in headless Chromium (Playwright), tiny-weights mode.

Drives every pose source (photo, click in a two-person photo, gallery), the
Mirror checkbox, Generate and the Conditions accordion, asserting what the
page shows and saving screenshots to ``test-output/screenshots/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def two_people(tmp_path_factory, images_dir) -> Path:
    """Two shared photos pasted side by side (left: reference_img_2, right: reference_img_1)."""
    a = Image.open(images_dir / "reference_img_2.png").convert("RGB")
    b = Image.open(images_dir / "reference_img_1.png").convert("RGB")
    canvas = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), "white")
    canvas.paste(a, (0, 0))
    canvas.paste(b, (a.width, 0))
    path = tmp_path_factory.mktemp("two_people") / "two_people.png"
    canvas.save(path)
    return path


def _upload(page, elem_id: str, path: Path) -> None:
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))


def _wait_image(page, elem_id: str) -> None:
    page.wait_for_selector(f"#{elem_id} img", state="visible")


def _text(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").inner_text()


def test_banner_and_status_say_tiny_mode(page, shots):
    assert "Tiny random weights: outputs are noise, for testing the pipeline only" in _text(page, "tiny-banner")
    assert "tiny" in _text(page, "weights-status").lower()
    page.screenshot(path=str(shots / "00_start.png"), full_page=True)


def test_source_and_target_photo(page, shots, images_dir):
    _upload(page, "source-image", images_dir / "reference_img_0.png")
    _wait_image(page, "source-overlay")
    page.wait_for_function("document.querySelector('#source-note').innerText.includes('1 person')")
    _upload(page, "target-image", images_dir / "reference_img_3.png")
    _wait_image(page, "target-overlay")
    _wait_image(page, "target-iuv")
    page.wait_for_function("document.querySelector('#target-note').innerText.includes('1 person')")
    page.screenshot(path=str(shots / "01_source_and_target_photo.png"), full_page=True)


def test_click_picks_person_in_two_person_photo(page, shots, two_people):
    page.locator("#target-image button[aria-label='Remove Image']").first.click()
    _upload(page, "target-image", two_people)
    page.wait_for_function("document.querySelector('#target-note').innerText.includes('2 people')")
    # Click only once the new overlay has loaded (a click on a loading image has no coordinates).
    page.wait_for_function(
        "(() => { const i = document.querySelector('#target-overlay img'); return i && i.complete && i.naturalWidth > 0; })()"
    )
    img = page.locator("#target-overlay img").first
    before = img.get_attribute("src")
    box = img.bounding_box()
    # Click the person not chosen yet; the note and the highlighted box follow.
    want = "1" if "using person 2" in _text(page, "target-note") else "2"
    x = box["x"] + box["width"] * (0.25 if want == "1" else 0.75)
    page.mouse.click(x, box["y"] + box["height"] * 0.5)
    page.wait_for_function(f"document.querySelector('#target-note').innerText.includes('using person {want}')")
    page.wait_for_function(
        "(s) => document.querySelector('#target-overlay img').getAttribute('src') !== s", arg=before
    )
    page.screenshot(path=str(shots / "02_two_people_clicked.png"), full_page=True)


def test_mirror_updates_iuv(page, shots):
    iuv_before = page.locator("#target-iuv img").first.get_attribute("src")
    page.locator("#mirror input[type=checkbox]").check()
    page.wait_for_function("document.querySelector('#target-note').innerText.includes('Mirrored')")
    assert page.locator("#target-iuv img").first.get_attribute("src") != iuv_before
    page.screenshot(path=str(shots / "03_mirrored.png"), full_page=True)


def test_generate_from_photo_shows_result_and_conditions(page, shots):
    page.locator("#advanced").get_by_text("Advanced").first.click()
    page.get_by_role("button", name="Randomise seed").click()
    page.wait_for_function("document.querySelector('#seed input').value !== '42'")
    seed = page.locator("#seed input").first.input_value()
    page.locator("#generate").click()
    page.wait_for_selector("#results img", state="visible")
    page.wait_for_function("document.querySelector('#run-status').innerText.includes('Done')")
    status = _text(page, "run-status")
    assert f"seed {seed} " in status and "mirror" in status and "tiny" in status
    # The caption (the settings) wraps instead of being cut with an ellipsis.
    caption = page.locator("#results .caption-label").first
    assert f"seed {seed}" in caption.inner_text()
    assert caption.evaluate("(el) => el.scrollWidth <= el.clientWidth + 1"), "result caption is cut"
    page.locator("#conditions").get_by_text("Conditions").first.click()
    page.wait_for_function("document.querySelectorAll('#conditions img').length >= 5")
    page.locator("#results").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "04_result_and_conditions.png"), full_page=True)


def test_gallery_pose_generate(page, shots):
    page.get_by_role("tab", name="Gallery").click()
    page.locator("#pose-gallery button img").nth(2).click()
    page.wait_for_function("document.querySelector('#gallery-pose textarea, #gallery-pose input').value.length > 0")
    chosen = page.locator("#gallery-pose textarea, #gallery-pose input").first.input_value()
    page.wait_for_function("document.querySelector('#target-note').innerText.includes('pose-only')")
    page.locator("#generate").click()
    page.wait_for_function(f"document.querySelector('#run-status').innerText.includes('gallery: {chosen}')")
    assert page.locator("#results img").count() >= 2
    page.screenshot(path=str(shots / "05_gallery_pose_result.png"), full_page=True)


def test_comparison_sheet_of_the_results(page, shots):
    results = page.locator("#results img").count()
    assert results >= 2  # the photo and the gallery generations above
    page.locator("#sheet-button").click()
    page.locator("#sheet-file a").first.wait_for(state="visible")
    assert f"mcld_sheet_{results}_results_" in page.locator("#sheet-file").inner_text()
    page.locator("#sheet-file").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "06_comparison_sheet.png"), full_page=True)

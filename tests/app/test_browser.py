"""The Space in headless Chromium (Playwright).

Every test opens its own page (its own Gradio session) and sets up what it
needs, so any one runs alone with ``-k``. Tests wait on page state (elements,
text, image sizes), never on fixed sleeps; screenshots in
``test-output/screenshots/`` are evidence only, the asserts decide.

Most tests use the tiny-mode app; the offline full-mode start and the start
with a broken parser file each launch their own server.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.appserver import run_app

from tests.app.pages import page_text, set_number, upload, wait_text

pytestmark = pytest.mark.browser

pytest.importorskip("playwright.sync_api")

#: Textless "Error" pills of Gradio's status trackers (toasts excluded), as "element id: text".
ERROR_PILLS_JS = """() => [...document.querySelectorAll('.wrap span.error')]
    .filter(e => !e.closest('[data-testid=toast-body]') && e.offsetParent !== null)
    .map(e => (e.closest('[id]') || {id: '?'}).id + ': ' + e.innerText)"""


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


@pytest.fixture
def busy_core():
    """``python -c "while True: pass"`` beside the test (stopped after it)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield proc
    proc.terminate()
    proc.wait(timeout=10)


def _wait_image(page, elem_id: str) -> dict:
    """Wait for a loaded image in ``#elem_id``; return its natural size and src."""
    page.wait_for_function(
        "(id) => { const i = document.querySelector('#' + id + ' img'); return i && i.complete && i.naturalWidth > 0; }",
        arg=elem_id,
    )
    return page.locator(f"#{elem_id} img").first.evaluate(
        "i => ({width: i.naturalWidth, height: i.naturalHeight, src: i.getAttribute('src')})"
    )


def _error_pills(page) -> list[str]:
    return page.evaluate(ERROR_PILLS_JS)


def _image_array(src: str, base_url: str) -> np.ndarray:
    url = src if src.startswith("http") else base_url.rstrip("/") + "/" + src.lstrip("/")
    with urllib.request.urlopen(url, timeout=30) as resp:
        return np.asarray(Image.open(io.BytesIO(resp.read())).convert("RGB"), dtype=np.float32)


def _photo_pair(page, images_dir, target: str = "reference_img_3.png") -> None:
    """Source reference_img_0 and a photo target, detected and previewed."""
    upload(page, "source-image", images_dir / "reference_img_0.png")
    wait_text(page, "source-note", "1 person")
    upload(page, "target-image", images_dir / target)
    _wait_image(page, "target-overlay")
    wait_text(page, "target-note", "computed with Generate")
    _wait_image(page, "target-iuv")


def _set_steps(page, steps: int) -> None:
    page.locator("#advanced").get_by_text("Advanced").first.click()
    set_number(page, "steps", steps)


def _generate(page, expect: str = "Done") -> str:
    page.locator("#generate").click()
    wait_text(page, "run-status", expect)
    page.wait_for_function("!document.querySelector('#generate').disabled")
    return page_text(page, "run-status")


def test_banner_and_status_say_tiny_mode(page, shots):
    assert "Tiny random weights: outputs are noise, for testing the pipeline only" in page_text(page, "tiny-banner")
    assert "tiny" in page_text(page, "weights-status").lower()
    page.screenshot(path=str(shots / "00_start.png"), full_page=True)


def test_generate_is_visible_without_scrolling_at_1400x900(new_page, app_url, shots):
    pg = new_page(app_url, "#tiny-banner", viewport=(1400, 900))
    box = pg.locator("#generate").bounding_box()
    assert box is not None and box["y"] + box["height"] <= 900, f"Generate is below the fold: {box}"
    pg.screenshot(path=str(shots / "00_fold_1400x900.png"))


def test_source_and_target_photo_preview_without_a_gpu_call(page, shots, images_dir):
    _photo_pair(page, images_dir)
    assert "1 person" in page_text(page, "target-note")
    preview = _wait_image(page, "target-iuv")
    assert (preview["width"], preview["height"]) == (352, 512), preview
    assert not _error_pills(page)
    page.screenshot(path=str(shots / "01_source_and_target_photo.png"), full_page=True)


def test_click_picks_person_in_two_person_photo(page, shots, two_people):
    upload(page, "target-image", two_people)
    wait_text(page, "target-note", "2 people")
    info = _wait_image(page, "target-overlay")  # a click on a loading image has no coordinates
    img = page.locator("#target-overlay img").first
    box = img.bounding_box()
    want = "1" if "using person 2" in page_text(page, "target-note") else "2"
    page.mouse.click(box["x"] + box["width"] * (0.25 if want == "1" else 0.75), box["y"] + box["height"] * 0.5)
    wait_text(page, "target-note", f"using person {want}")
    page.wait_for_function("(s) => document.querySelector('#target-overlay img').getAttribute('src') !== s", arg=info["src"])
    page.screenshot(path=str(shots / "02_two_people_clicked.png"), full_page=True)


def test_mirror_updates_the_preview(page, shots, images_dir):
    _photo_pair(page, images_dir)
    before = _wait_image(page, "target-iuv")["src"]
    page.locator("#mirror input[type=checkbox]").check()
    wait_text(page, "target-note", "Mirrored")
    page.wait_for_function("(s) => document.querySelector('#target-iuv img').getAttribute('src') !== s", arg=before)
    page.screenshot(path=str(shots / "03_mirrored.png"), full_page=True)


def test_generate_from_photo_shows_result_and_conditions(page, shots, images_dir):
    _photo_pair(page, images_dir)
    page.locator("#mirror input[type=checkbox]").check()
    wait_text(page, "target-note", "Mirrored")
    page.locator("#advanced").get_by_text("Advanced").first.click()
    page.get_by_role("button", name="Randomise seed").click()
    page.wait_for_function("document.querySelector('#seed input').value !== '42'")
    seed = page.locator("#seed input").first.input_value()
    page.locator("#generate").click()
    page.wait_for_function("document.querySelector('#generate').disabled")  # no second job while this one runs
    wait_text(page, "run-status", "Done")
    page.wait_for_function("!document.querySelector('#generate').disabled")
    status = page_text(page, "run-status")
    assert f"seed {seed} " in status and "mirror" in status and "tiny" in status, status
    caption = page.locator("#results .caption-label").first
    assert f"seed {seed}" in caption.inner_text()
    assert caption.evaluate("(el) => el.scrollWidth <= el.clientWidth + 1"), "result caption is cut"
    page.locator("#conditions").get_by_text("Conditions").first.click()
    page.wait_for_function("document.querySelectorAll('#conditions img').length >= 5")
    page.locator("#results").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "04_result_and_conditions.png"), full_page=True)


def _choose_gallery_pose(page, nth: int) -> str:
    page.get_by_role("tab", name="Gallery").click()
    name = page.locator("#pose-gallery .caption-label").nth(nth).inner_text().split(" · ")[0].strip()
    page.locator("#pose-gallery button img").nth(nth).click()
    wait_text(page, "target-note", name)
    return name


def test_gallery_pose_generate(page, shots, images_dir):
    upload(page, "source-image", images_dir / "reference_img_0.png")
    wait_text(page, "source-note", "1 person")
    chosen = _choose_gallery_pose(page, 2)
    assert page.locator("#gallery-pose textarea, #gallery-pose input").first.input_value() == chosen
    assert f"Gallery pose {chosen}:" in page_text(page, "target-note")
    # The captions sit under the thumbnails (they covered their bottom part).
    thumb = page.locator("#pose-gallery button img").first.bounding_box()
    caption = page.locator("#pose-gallery .caption-label").first.bounding_box()
    assert caption["y"] >= thumb["y"] + thumb["height"] - 1, (thumb, caption)
    status = _generate(page, f"gallery: {chosen}")
    assert "Done" in status
    page.screenshot(path=str(shots / "05_gallery_pose_result.png"), full_page=True)


def test_comparison_sheet_of_the_results(page, shots, images_dir):
    upload(page, "source-image", images_dir / "reference_img_0.png")
    wait_text(page, "source-note", "1 person")
    _choose_gallery_pose(page, 0)
    _set_steps(page, 1)
    for seed in ("1", "2"):
        page.locator("#seed input").first.fill(seed)
        _generate(page, f"seed {seed} ")
    assert page.locator("#results img").count() == 2
    page.locator("#sheet-button").click()
    page.locator("#sheet-file a").first.wait_for(state="visible")
    assert "mcld_sheet_2_results_" in page.locator("#sheet-file").inner_text()
    page.locator("#sheet-file").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "06_comparison_sheet.png"), full_page=True)


def test_a_failed_generate_keeps_the_earlier_result_and_shows_no_error_pill(page, shots, images_dir):
    _photo_pair(page, images_dir)
    _set_steps(page, 1)
    _generate(page)
    result = _wait_image(page, "results")
    page.locator("#seed input").first.fill("")  # an empty Seed: Generate refuses with a sentence
    status = _generate(page, "Seed is empty")
    toast = page.get_by_text("Seed is empty").first
    assert toast.is_visible()
    assert "⚠️" in status, status
    assert page.locator("#results img").count() == 1 and page.locator("#results img").first.is_visible()
    assert _wait_image(page, "results")["src"] == result["src"], "the earlier result is no longer shown"
    for elem_id in ("source-overlay", "target-overlay", "target-iuv"):
        assert page.locator(f"#{elem_id} img").first.is_visible(), f"#{elem_id} lost its picture"
    assert _error_pills(page) == [], f"outputs in an error state: {_error_pills(page)}"
    page.screenshot(path=str(shots / "07_failed_generate_after_a_good_one.png"), full_page=True)


def test_gallery_opened_and_clicked_at_once_20_times_with_a_busy_core(page, shots, images_dir, app_url, busy_core):
    from mcld.gallery import gallery_target, load_gallery, precompute_gallery_iuvs
    from mcld.pose_transfer import iuv_to_display

    gallery = precompute_gallery_iuvs(load_gallery(), None, fetch_mirror_table=False)  # as the tiny app's start-up
    expected = {p.name: iuv_to_display(gallery_target(p).iuv).astype(np.float32) for p in gallery}
    upload(page, "source-image", images_dir / "reference_img_0.png")
    wait_text(page, "source-note", "1 person")
    _set_steps(page, 1)
    page.get_by_role("tab", name="Gallery").click()
    page.locator("#pose-gallery .caption-label").first.wait_for()
    names = [c.split(" · ")[0] for c in page.locator("#pose-gallery .caption-label").all_inner_texts()]
    assert sorted(n.strip() for n in names) == sorted(expected), names
    for k in range(20):
        nth = k % len(names)
        want = names[nth].strip()
        page.get_by_role("tab", name="From a photo").click()
        page.get_by_role("tab", name="Gallery").click()
        page.locator("#pose-gallery button img").nth(nth).click()  # at once, while the tab-open events run
        wait_text(page, "target-note", f"Gallery pose {want}:")
        page.wait_for_function(
            "(v) => document.querySelector('#gallery-pose textarea, #gallery-pose input').value === v", arg=want
        )
        # The IUV preview shows the clicked pose: nearest of all gallery IUVs.
        shown = _image_array(_wait_image(page, "target-iuv")["src"], app_url)
        distance = {name: float(np.abs(shown - iuv).mean()) for name, iuv in expected.items()}
        nearest = min(distance, key=distance.get)
        assert nearest == want, f"try {k}: clicked {want}, the preview shows {nearest} ({distance})"
        status = _generate(page, f"gallery: {want}")
        assert status.count("gallery:") == 1 and f"gallery: {want}" in status, f"try {k}: {status}"
        assert f"Gallery pose {want}:" in page_text(page, "target-note"), f"try {k}: the note changed after Generate"
    page.screenshot(path=str(shots / "08_gallery_race_20_clicks.png"), full_page=True)


# ----------------------------------------------------------- own servers
@pytest.fixture(scope="module")
def offline_full_url(test_output_dir, tmp_path_factory):
    """Full mode, ``HF_HUB_OFFLINE=1``, empty caches: nothing can be downloaded."""
    cache = tmp_path_factory.mktemp("offline_full")
    env = {"HF_HOME": str(cache / "hf"), "MCLD_CACHE": str(cache / "mcld"), "MCLD_INSIGHTFACE_ROOT": str(cache / "none")}
    with run_app(test_output_dir / "app_server_offline_full.log", timeout_s=240, tiny=False, extra_env=env) as (url, _):
        yield url


def test_offline_full_mode_start_says_so_and_the_cpu_parts_work(new_page, offline_full_url, shots, images_dir):
    pg = new_page(offline_full_url)
    status = page_text(pg, "weights-status")
    assert "cannot be downloaded here" in status and "make demo-tiny" in status and "MCLD_TINY=1" in status, status
    upload(pg, "target-image", images_dir / "reference_img_3.png")
    overlay = _wait_image(pg, "target-overlay")  # MediaPipe needs no weights
    assert overlay["width"] > 0
    wait_text(pg, "target-note", "1 person")
    upload(pg, "source-image", images_dir / "reference_img_0.png")
    wait_text(pg, "source-note", "1 person")
    pg.locator("#generate").click()
    wait_text(pg, "run-status", "cannot be downloaded here")
    assert "make demo-tiny" in page_text(pg, "run-status")
    assert _error_pills(pg) == [], _error_pills(pg)
    pg.screenshot(path=str(shots / "20_offline_full_mode.png"), full_page=True)


@pytest.fixture(scope="module")
def broken_parser_url(test_output_dir, tmp_path_factory):
    """Tiny mode with a corrupt SCHP parser file in the Hub cache."""
    hub = tmp_path_factory.mktemp("broken_parser") / "hub"
    revision = hashlib.sha1(b"broken parser").hexdigest()
    repo = hub / "models--yisol--IDM-VTON"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    onnx = repo / "snapshots" / revision / "humanparsing" / "parsing_atr.onnx"
    onnx.parent.mkdir(parents=True)
    onnx.write_bytes(b"this is not an ONNX model" * 100)
    env = {"HF_HUB_CACHE": str(hub)}
    with run_app(test_output_dir / "app_server_broken_parser.log", timeout_s=240, extra_env=env) as (url, _):
        yield url


def test_a_broken_parser_file_is_named_and_the_app_generates_with_the_fallback(new_page, broken_parser_url, shots, images_dir):
    pg = new_page(broken_parser_url, "#tiny-banner")
    assert "Human parser (SCHP)" in page_text(pg, "weights-status")
    pg.locator("#startup-details").get_by_text("did not load").first.click()
    wait_text(pg, "startup-failed", "damaged")
    details = page_text(pg, "startup-failed")
    assert "yisol/IDM-VTON" in details and "coarse parsing (MediaPipe)" in details, details
    pg.screenshot(path=str(shots / "21_broken_parser_named.png"), full_page=True)
    _photo_pair(pg, images_dir)
    pg.locator("#edit-regions").get_by_text("3. Edit regions").first.click()
    wait_text(pg, "edit-parsing-note-1", "coarse parsing (MediaPipe)")
    _set_steps(pg, 1)
    status = _generate(pg)
    assert "Done" in status and _error_pills(pg) == []
    pg.screenshot(path=str(shots / "22_broken_parser_generates.png"), full_page=True)


@pytest.fixture(scope="module")
def head_cut_photo(tmp_path_factory, images_dir, detector) -> Path:
    """``shared/images/test.jpg`` with the rows above the chin line of its face box removed."""
    photo = np.asarray(Image.open(images_dir / "test.jpg").convert("RGB"))
    (person,) = detector.detect_people(photo)
    assert person.face_box is not None
    path = tmp_path_factory.mktemp("head_cut") / "head_cut.png"
    Image.fromarray(np.ascontiguousarray(photo[int(np.ceil(person.face_box[3])) :])).save(path)
    return path


def test_a_head_cut_photo_detection_and_parsing_agree_and_say_no_face(page, shots, head_cut_photo):
    from mcld.annotators.mediapipe_pose import NO_FACE_NOTE

    upload(page, "source-image", head_cut_photo)
    wait_text(page, "source-note", "1 person found in the source photo.")
    assert NO_FACE_NOTE in page_text(page, "source-note")
    page.locator("#edit-regions").get_by_text("3. Edit regions").first.click()
    wait_text(page, "edit-parsing-note-1", "Regions:")
    note = page_text(page, "edit-parsing-note-1")
    assert "1 person" in note and "No person" not in note, note
    assert "face," not in note.split("Regions:")[1], f"parsing found a face the detection did not: {note}"
    assert _error_pills(page) == []
    page.screenshot(path=str(shots / "09_head_cut_photo.png"), full_page=True)


def test_compare_runs_a_2x2_grid_and_shows_the_sheet_with_its_headers(page, shots, images_dir):
    """Issue 11: two gallery poses x two seeds in the Compare section; the
    status names the sheet's size and headers, and the shown sheet has that size."""
    import re

    from mcld.gallery import load_gallery

    names = [p.name for p in load_gallery()[:2]]  # the section's default poses
    upload(page, "source-image", images_dir / "reference_img_0.png")
    wait_text(page, "source-note", "1 person")
    _set_steps(page, 1)
    page.locator("#compare").get_by_text("4. Compare").first.click()
    page.locator("#compare-run").click()
    wait_text(page, "compare-status", "Done: 4 images")
    status = page_text(page, "compare-status")
    assert f"Headers: seed 0; seed 1; {names[0]}; {names[1]}." in status, status
    width, height = (int(v) for v in re.search(r"sheet (\d+)x(\d+) px", status).groups())
    page.wait_for_function("() => (document.querySelector('#compare-sheet img') || {naturalWidth: 0}).naturalWidth > 0")
    natural = page.locator("#compare-sheet img").first.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert natural == [width, height], f"the shown sheet is {natural}, the status says {width}x{height}"
    assert _error_pills(page) == [], _error_pills(page)
    page.locator("#compare-sheet").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "14_compare_2x2_grid.png"), full_page=True)

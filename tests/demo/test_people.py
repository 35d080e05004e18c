"""mcld.demo people helpers: detecting, picking by a click, and the click's
coordinates (CPU, a model-less locator)."""

from __future__ import annotations

import pytest

from mcld.demo import DemoInputError, click_position, detect_photo, pick_in_photo, source_crop
from mcld.errors import InputImageError


def test_pick_on_an_unreadable_file_is_a_readable_error(locator, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png")
    for what in ("source", "target"):
        with pytest.raises(InputImageError, match="not an image we can read"):
            pick_in_photo(locator, str(bad), 10, 10, what)


def test_click_on_an_overlay_still_loading_asks_to_click_again(locator, images_dir):
    # The browser sends index [null, null] for a click on an image that has not loaded yet.
    photo = str(images_dir / "reference_img_0.png")
    assert click_position([None, None]) == (None, None) and click_position(None) == (None, None)
    with pytest.raises(DemoInputError, match=r"^The photo was still loading: click the person again\.$"):
        pick_in_photo(locator, photo, None, None, "source")
    with pytest.raises(DemoInputError, match="still loading"):
        pick_in_photo(locator, photo, None, 5, "target")
    with pytest.raises(DemoInputError, match=r"^Upload a target photo first\.$"):
        pick_in_photo(locator, None, 1, 2, "target")
    x, y = click_position([100, 120])
    overlay, index, note = pick_in_photo(locator, photo, x, y, "source")
    assert (x, y) == (100.0, 120.0) and index == 0 and note.startswith("1 person found in the source photo.")
    assert overlay.ndim == 3 and overlay.dtype.name == "uint8"


def test_detect_draws_the_people_and_chooses_the_largest(locator, images_dir):
    photo = images_dir / "reference_img_1.png"
    overlay, index, note = detect_photo(locator, str(photo), "target")
    assert index == 0 and note.startswith("1 person found in the target photo.")
    from PIL import Image

    assert overlay.shape == (*Image.open(photo).size[::-1], 3)
    assert detect_photo(locator, None, "source") == (None, -1, "")


def test_source_crop_falls_back_to_the_largest_person(locator, images_dir):
    photo = str(images_dir / "reference_img_0.png")
    assert source_crop(locator, None, -1) is None
    crop = source_crop(locator, photo, 5)  # an index the photo lacks (a click in an earlier photo)
    assert crop.person_index == 0 and crop.crop.shape == (512, 352, 3)

"""The comparison sheet: captioned results side by side, aspect kept."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mcld.contact_sheet import MAX_SHEET_IMAGES, contact_sheet


def test_tiles_keep_aspect_and_captions_are_drawn(images_dir):
    photos = [Image.open(images_dir / name) for name in ("reference_img_0.png", "reference_img_1.png")]
    tall = Image.new("RGB", (176, 256), (255, 0, 0))  # a 256x176 result
    sheet = contact_sheet([*photos, tall], ["seed 1 | ddim", "seed 2 | euler", "a red tile"], columns=2, tile_height=128)
    array = np.asarray(sheet)
    # 2 columns, 2 rows; tiles are as wide as the widest scaled image.
    widths = [round(p.width * 128 / p.height) for p in (*photos, tall)]
    assert sheet.width == 2 * (max(widths) + 8) + 8
    # The red tile (third, second row) is 88 px wide after scaling: red, never stretched to the tile width.
    y0 = 8 + (sheet.height - 8) // 2
    row = array[y0 + 64]
    red = np.nonzero((row[:, 0] > 200) & (row[:, 1] < 50) & (row[:, 2] < 50))[0]
    assert abs(len(red) - 88) <= 2
    # Caption text: dark pixels in the band under the first tile, none under the image itself.
    band = array[8 + 128 + 4 : 8 + 128 + 4 + 16, 8 : 8 + max(widths)]
    assert (band.min(axis=2) < 100).sum() > 30


def test_long_captions_are_cut_and_bad_arguments_named():
    tiles = [Image.new("RGB", (88, 128), "gray")] * 2
    line = 13 + 3  # default font size + line gap
    short = contact_sheet(tiles, ["x", "y"])
    assert contact_sheet(tiles, ["word " * 200, "y"], caption_lines=2).height - short.height == line
    assert contact_sheet(tiles, ["word " * 200, "y"], caption_lines=4).height - short.height == 3 * line
    for kwargs, message in (
        (dict(images=[]), "at least one"),
        (dict(images=tiles * (MAX_SHEET_IMAGES // 2 + 1)), "at most"),
        (dict(images=tiles, captions=["one"]), "captions"),
        (dict(images=tiles, columns=0), "columns"),
    ):
        with pytest.raises(ValueError, match=message):
            contact_sheet(**kwargs)

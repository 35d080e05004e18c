"""Condition ablations of the pipeline (``MCLDPipeline.__call__(ablations=...)``)
and parsing-guided reference attention (``reference_attention_mask`` /
``PoseTransfer.generate(parsing_attention=True)``), on tiny random weights.

Each ablation must (1) leave the call bit-identical when off, (2) change the
step-0 noise prediction of the conditional rows when on, and (3) change only
the condition it names (checked on the stage contexts the IP-attention reads,
the reference bank, the ReferenceNet context and the pose features).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mcld.models.attention_processors import PartAttentionMask, ReferenceAttentionQuery
from mcld.pipeline_mcld import ABLATIONS
from mcld.pose_transfer import PoseTransfer, iuv_to_pipeline_image, smpl_uv_part_map

SIZE = 64  # model resolution: the smallest the tiny UNet takes
STEPS = 1


@pytest.fixture(scope="module")
def pt():
    return PoseTransfer.tiny(seed=0, model_size=SIZE)


@pytest.fixture(scope="module")
def conditions(pt, images_dir):
    source = pt.prepare_source(images_dir / "reference_img_0.png")
    target = pt.prepare_target(images_dir / "reference_img_1.png")
    return source, target


def _call(pt, conditions, **kwargs):
    source, target = conditions
    debug: dict = {}
    out = pt.pipeline(
        source_image=Image.fromarray(source.crop),
        texture_map=Image.fromarray(source.texture),
        target_iuv=iuv_to_pipeline_image(target.iuv),
        face_embeds=np.ones((1, 512), np.float32),  # non-zero, so face tokens differ from zeros
        num_inference_steps=STEPS,
        guidance_scale=3.5,
        height=SIZE,
        width=SIZE,
        generator=torch.Generator().manual_seed(3),
        output_type="np",
        debug_capture=debug,
        **kwargs,
    )
    return out, debug


@pytest.fixture(scope="module")
def plain(pt, conditions):
    return _call(pt, conditions)


def _split(context: torch.Tensor):
    """``(2, L, D)`` CFG context -> uncond row, cond row."""
    return context[0], context[1]


@pytest.mark.parametrize("name", ABLATIONS)
def test_ablation_changes_only_its_condition(pt, conditions, plain, name):
    base_out, base = plain
    out, dbg = _call(pt, conditions, ablations=(name,))
    faces = pt.pipeline.num_face_tokens
    # Step-0 noise prediction: uncond row bit-identical, cond row changed.
    raw0, raw = base["noise_pred_raw_steps"][0], dbg["noise_pred_raw_steps"][0]
    if name == "reference_attention":
        # Same plain self-attention for the uncond rows, but computed in one
        # batched SDPA with the cond rows (no bank) instead of per half: equal
        # up to float32 rounding.
        torch.testing.assert_close(raw[0], raw0[0], rtol=0, atol=1e-4)
    else:
        assert torch.equal(raw[0], raw0[0])
    assert (raw[1] - raw0[1]).abs().max() > 1e-3
    assert torch.equal(dbg["pose_fea"], base["pose_fea"])
    assert not np.array_equal(out.images, base_out.images)
    for stage in ("down", "mid", "up"):
        new_u, new_c = _split(dbg[f"enc_{stage}_step0"])
        old_u, old_c = _split(base[f"enc_{stage}_step0"])
        assert torch.equal(new_u, old_u)  # uncond contexts are zeros either way
        # Face tokens (the IP-attention face input): zeros = uncond only for that ablation.
        if name == "face_tokens":
            assert torch.equal(new_c[-faces:], new_u[-faces:]) and old_c[-faces:].abs().max() > 0
        else:
            assert torch.equal(new_c[-faces:], old_c[-faces:])
        # CLIP tokens: [src] (down), [src, tex] (mid), [tex] (up).
        names = {"down": ["source"], "mid": ["source", "texture"], "up": ["texture"]}[stage]
        for k, token in enumerate(names):
            ablated = (name, token) in {("source_clip", "source"), ("texture_clip", "texture")}
            if ablated:
                assert torch.equal(new_c[k], torch.zeros_like(new_c[k])) and old_c[k].abs().max() > 0
            else:
                assert torch.equal(new_c[k], old_c[k])
    # Reference path: the ReferenceNet context carries CLIP(source); the bank it writes.
    if name == "reference_attention":
        assert dbg["refbank"] == {} and base["refbank"]
    else:
        ctx, ctx0 = dbg["ref_unet_encoder_hidden_states"], base["ref_unet_encoder_hidden_states"]
        if name == "source_clip":
            assert torch.equal(ctx, torch.zeros_like(ctx)) and ctx0.abs().max() > 0
            assert any(not torch.equal(dbg["refbank"][k], v) for k, v in base["refbank"].items())
        else:
            assert torch.equal(ctx, ctx0)
            assert all(torch.equal(dbg["refbank"][k], v) for k, v in base["refbank"].items())


def test_no_ablation_is_bit_identical_to_the_plain_call(pt, conditions, plain):
    base_out, base = plain
    for empty in ((), [], None):
        out, dbg = _call(pt, conditions, ablations=empty, reference_attention_mask=None)
        assert np.array_equal(out.images, base_out.images)
        assert torch.equal(out.latents, base_out.latents)
        assert torch.equal(dbg["noise_pred_raw_steps"][0], base["noise_pred_raw_steps"][0])


def test_unknown_ablation_is_refused_before_any_model_runs(pt, conditions):
    with pytest.raises(ValueError, match="unknown ablations \\['faces'\\]"):
        _call(pt, conditions, ablations=("faces",))
    assert pt.pipeline.reference_bank.entries == {}


def test_part_attention_mask_rule():
    target = np.zeros((4, 4), np.int64)
    target[:2] = 2  # top half: torso front; bottom half: background
    ref = np.zeros((4, 4), np.int64)
    ref[:, :2] = 2  # left half of the texture holds part 2
    ref[:, 2:] = 15
    mask_fn = PartAttentionMask(target, ref)
    query = ReferenceAttentionQuery("x", 16, (4, 4), 16, (16,), ((4, 4),), batch_size=2)
    mask = mask_fn(query)
    assert mask.shape == (2, 16, 32) and mask.dtype == torch.bool
    assert mask[:, :, :16].all()  # own tokens always
    ref_cols = mask[0, :, 16:].reshape(4, 4, 4, 4)  # (query y, x, ref y, x)
    assert ref_cols[2:].all()  # background queries read everything
    assert ref_cols[:2, :, :, :2].all() and not ref_cols[:2, :, :, 2:].any()  # part 2 reads part-2 texels only
    with pytest.raises(ValueError, match="integer"):
        PartAttentionMask(target.astype(np.float32), ref)


def test_parsing_attention_changes_the_cond_rows_and_is_restored(pt, conditions, plain):
    base_out, base = plain
    _, target = conditions
    mask_fn = PartAttentionMask(target.iuv[..., 0], smpl_uv_part_map())
    assert pt.pipeline.reference_bank.attention_mask_fn is None
    out, dbg = _call(pt, conditions, reference_attention_mask=mask_fn)
    raw0, raw = base["noise_pred_raw_steps"][0], dbg["noise_pred_raw_steps"][0]
    assert torch.equal(raw[0], raw0[0]) and (raw[1] - raw0[1]).abs().max() > 0
    for stage in ("down", "mid", "up"):
        assert torch.equal(dbg[f"enc_{stage}_step0"], base[f"enc_{stage}_step0"])
    assert pt.pipeline.reference_bank.attention_mask_fn is None  # installed for the call only


def test_smpl_uv_part_map_covers_every_part():
    parts = smpl_uv_part_map()
    assert parts.shape == (512, 512) and parts.dtype == np.uint8
    assert set(np.unique(parts)) == set(range(25))


def test_generate_records_ablations_and_parsing_attention(pt, conditions):
    source, target = conditions
    plain = pt.generate(source, target, num_inference_steps=STEPS, seed=1)
    assert "ablations" not in plain.settings and "parsing_attention" not in plain.settings
    ablated = pt.generate(source, target, num_inference_steps=STEPS, seed=1, ablations=["texture_clip", "face_tokens"])
    assert ablated.settings["ablations"] == ["face_tokens", "texture_clip"]
    parsed = pt.generate(source, target, num_inference_steps=STEPS, seed=1, parsing_attention=True)
    assert parsed.settings["parsing_attention"] is True
    for other in (ablated, parsed):
        assert np.asarray(other.image_512).tolist() != np.asarray(plain.image_512).tolist()

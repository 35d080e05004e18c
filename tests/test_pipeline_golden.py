"""MCLDPipeline against the tiny golden set produced by running upstream MCLD.

Loads the golden checkpoints as they are (upstream file format and names),
calls the pipeline with the manifest's ``pipeline_call`` settings on the
README's input tensors (``inputs/*.npy``), captures every intermediate with
the pipeline's ``debug_capture`` hook and compares EVERY array of
``golden.npz`` with the manifest's per-array suggested tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mcld.pipeline_mcld import MCLDPipelineOutput
from mcld.tiny import load_pipeline_from_upstream_folder

# golden array -> how to read it from our run; the frame axis upstream keeps
# (B, C, 1, h, w) is dropped by reshaping the golden array to our shape.
STEP_LISTS = ("unet_input_steps", "noise_pred_raw_steps", "noise_pred_guided_steps", "latents_steps")
DIRECT = (
    "init_noise", "clip_pixel_values_source", "clip_pixel_values_texture", "clip_embeds_source",
    "clip_embeds_texture", "face_tokens", "vae_enc_input", "vae_enc_mean", "ref_latents",
    "ref_unet_encoder_hidden_states", "pose_guider_input", "pose_fea", "enc_down_step0", "enc_mid_step0",
    "enc_up_step0", "timesteps", "vae_decode_input", "vae_decode_output", "image", "post_256x176_uint8",
    "post_512x352_uint8",
)
DIAGNOSTIC = "diag_noise_pred_raw_step0_fp32bank"


def _inputs(golden_dir):
    return {k: torch.from_numpy(np.load(golden_dir / "inputs" / f"{k}.npy"))
            for k in ("ref_image", "pose_image", "clip_image", "clip_image2", "face_emb")}


def _call(pipe, golden_dir, manifest, **extra):
    call = manifest["pipeline_call"]
    inputs = _inputs(golden_dir)
    capture = {}
    out = pipe(
        # README convention: clip_image = ToTensor(source) * 255; our API takes [0, 1].
        source_image=inputs["clip_image"] / 255,
        texture_map=inputs["ref_image"],
        target_iuv=inputs["pose_image"],
        face_embeds=inputs["face_emb"].numpy(),
        num_inference_steps=call["num_inference_steps"],
        guidance_scale=call["guidance_scale"],
        height=call["height"],
        width=call["width"],
        eta=call["eta"],
        generator=torch.Generator().manual_seed(call["generator_seed"]),
        output_type="pt",
        debug_capture=capture,
        **extra,
    )
    return out, capture


@pytest.fixture(scope="module")
def golden(mcld_golden_dir):
    return np.load(mcld_golden_dir / "golden.npz")


@pytest.fixture(scope="module")
def pipe(mcld_golden_dir):
    return load_pipeline_from_upstream_folder(mcld_golden_dir, execution_mode="reference")


@pytest.fixture(scope="module")
def run(pipe, mcld_golden_dir, mcld_manifest):
    return _call(pipe, mcld_golden_dir, mcld_manifest)


@pytest.fixture(scope="module")
def ours(run, mcld_manifest):
    """Every golden array name -> our tensor."""
    out, cap = run
    arrays = {name: cap[name] for name in DIRECT}
    for i, block in enumerate(mcld_manifest["reference_bank"]["writer_blocks_dfs_order"]):
        arrays[mcld_manifest["reference_bank"]["golden_arrays"][i]] = cap["refbank"][block]
    for name in STEP_LISTS:
        arrays[name] = torch.stack(cap[name])
    arrays["noise_pred_step0_uncond"] = cap["noise_pred_raw_steps"][0][0:1]
    arrays["noise_pred_step0_cond"] = cap["noise_pred_raw_steps"][0][1:2]
    arrays["final_latents"] = out.latents
    arrays["input_ref_image"] = cap["input_ref_image"][:, 0]
    arrays["input_pose_image"] = cap["input_pose_image"]
    arrays["input_clip_image"] = cap["input_source_image"][:, 0] * 255
    arrays["input_clip_image2"] = cap["input_ref_image"][:, 0] * 255
    arrays["input_face_emb"] = cap["input_face_emb"]
    return arrays


def _compare(name, ours_tensor, golden_array, manifest):
    atol = manifest["tolerances_suggested"]["per_array"][name]["suggested_atol"]
    mine = ours_tensor.detach().cpu().numpy()
    assert mine.size == golden_array.size, f"{name}: size {mine.shape} vs golden {golden_array.shape}"
    mine = mine.reshape(golden_array.shape)
    diff = np.abs(mine.astype(np.float64) - golden_array.astype(np.float64)).max()
    assert diff <= atol, f"{name}: max abs diff {diff:.3g} > atol {atol:.3g}"


def test_every_golden_array_is_covered(golden, ours, mcld_manifest):
    expected = set(golden.files) - {DIAGNOSTIC}
    assert expected == set(ours), f"not compared: {sorted(expected - set(ours))}; extra: {sorted(set(ours) - expected)}"
    assert expected <= set(mcld_manifest["tolerances_suggested"]["per_array"])


@pytest.mark.parametrize("name", sorted(set(DIRECT) | set(STEP_LISTS) | {
    "noise_pred_step0_uncond", "noise_pred_step0_cond", "final_latents", "input_ref_image", "input_pose_image",
    "input_clip_image", "input_clip_image2", "input_face_emb"} | {f"refbank_{i:02d}" for i in range(10)}))
def test_matches_golden(name, golden, ours, mcld_manifest):
    if name not in golden.files:
        pytest.fail(f"{name} not in golden.npz")
    _compare(name, ours[name], golden[name], mcld_manifest)


def test_output_fields(run, mcld_manifest):
    out, _ = run
    call = mcld_manifest["pipeline_call"]
    assert isinstance(out, MCLDPipelineOutput)
    assert out.images.shape == (1, 3, call["height"], call["width"]) and out.images.dtype == torch.float32
    assert out.images_512x352.shape == (1, 3, 512, 352) and out.images_512x352.dtype == torch.uint8
    assert out.images_256x176.shape == (1, 3, 256, 176)


def test_fp32_bank_option_reproduces_diagnostic(pipe, golden, mcld_golden_dir, mcld_manifest):
    """Keeping the bank in float32 reproduces upstream's patched fp32-bank run,
    and is measurably different from upstream's float16 bank."""
    _, cap = _call(pipe, mcld_golden_dir, mcld_manifest, reference_bank_dtype=torch.float32)
    step0 = cap["noise_pred_raw_steps"][0]
    _compare("noise_pred_raw_steps", step0, golden[DIAGNOSTIC], mcld_manifest)
    fp16_cond = golden["noise_pred_step0_cond"].reshape(1, *step0.shape[1:])
    effect = np.abs(step0[1:2].numpy() - fp16_cond).max()
    assert effect > mcld_manifest["tolerances_suggested"]["per_array"]["noise_pred_step0_cond"]["suggested_atol"]


def test_pil_inputs_preprocess_like_upstream_dataset(pipe, golden, mcld_golden_dir, mcld_manifest):
    """The PNG inputs through our PIL path give the exact tensors upstream's dataset gave."""
    call = mcld_manifest["pipeline_call"]
    source, texture, iuv = pipe.prepare_images(
        Image.open(mcld_golden_dir / "inputs" / "source.png"),
        Image.open(mcld_golden_dir / "inputs" / "texture.png"),
        Image.open(mcld_golden_dir / "inputs" / "pose_iuv.png"),
        call["height"],
        call["width"],
    )
    _compare("input_clip_image", source[:, 0] * 255, golden["input_clip_image"], mcld_manifest)
    _compare("input_ref_image", texture[:, 0], golden["input_ref_image"], mcld_manifest)
    _compare("input_pose_image", iuv, golden["input_pose_image"], mcld_manifest)

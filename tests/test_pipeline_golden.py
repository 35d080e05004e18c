"""MCLDPipeline against the tiny golden set produced by running upstream MCLD.

Loads the golden checkpoints as they are (upstream file format and names),
calls the pipeline with the manifest's ``pipeline_call`` settings (size,
steps, guidance, eta, seed) on the manifest's input tensors
(``inputs.pipeline_tensors``), captures every intermediate through the
pipeline's ``debug_hook`` (an ``IntermediateCapture``) and compares EVERY non-diagnostic array of
``golden.npz`` within its tolerance from the manifest.

Tolerances: ``tolerances_suggested.per_array[name]`` records, per array, the
thread-count spread and the cross-CPU spread of upstream's own code and the
``suggested_atol`` its note derives from them (the largest of 10x the thread
spread, 4x the cross-CPU spread and a floor); that number is used as given.
An array without a complete entry is a data error that fails the test,
naming the array and the manifest file. Nothing here is a numeric tolerance
constant.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mcld.pipeline_mcld import IntermediateCapture, MCLDPipelineOutput
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
#: The diagnostic array of the fp32-bank ablation (README: "DIAGNOSTIC (not upstream behaviour)").
FP32_BANK_DIAGNOSTIC = "diag_noise_pred_raw_step0_fp32bank"


def _diagnostic_arrays(golden_dir) -> set:
    """Arrays the golden README marks as DIAGNOSTIC (not upstream behaviour): not compared as upstream."""
    names = set()
    for line in (golden_dir / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[3].startswith("DIAGNOSTIC"):
            names.add(cells[0])
    return names


def _inputs(golden_dir, manifest):
    """The exact tensors upstream's pipeline received (manifest ``inputs``)."""
    files = list(manifest["inputs"]["pipeline_tensors"]) + [manifest["inputs"]["face_emb"].split()[0]]
    arrays = {}
    for rel in files:
        name = rel.rsplit("/", 1)[-1].removesuffix(".npy")
        arrays[name] = torch.from_numpy(np.load(golden_dir / rel))
    return arrays


def _call(pipe, golden_dir, manifest, **extra):
    call = manifest["pipeline_call"]
    inputs = _inputs(golden_dir, manifest)
    capture = IntermediateCapture()
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
        debug_hook=capture,
        **extra,
    )
    return out, capture.store


def tolerance(manifest: dict, name: str, manifest_path) -> float:
    """Absolute tolerance of golden array ``name``: the manifest's ``suggested_atol``.

    Args:
        manifest: The parsed ``manifest.json``.
        name: Golden array name.
        manifest_path: Path of the manifest (for the error message).

    Returns:
        ``suggested_atol``, which the manifest derives from the recorded
        ``thread_spread`` and ``cross_cpu_spread`` (it must cover both).

    Raises:
        pytest.fail.Exception: If the entry, one of its three fields, or the
            coverage of the recorded spreads is missing (a data error).
    """
    entry = manifest.get("tolerances_suggested", {}).get("per_array", {}).get(name)
    if entry is None:
        pytest.fail(f"data error: {name} has no tolerances_suggested.per_array entry in {manifest_path}")
    missing = [k for k in ("thread_spread", "cross_cpu_spread", "suggested_atol") if k not in entry]
    if missing:
        pytest.fail(f"data error: {name} lacks {missing} in tolerances_suggested.per_array of {manifest_path}")
    atol = float(entry["suggested_atol"])
    spread = max(float(entry["thread_spread"]), float(entry["cross_cpu_spread"]))
    if atol < spread:
        pytest.fail(f"data error: {name} suggested_atol {atol:.3g} < its recorded spread {spread:.3g} in {manifest_path}")
    return atol


@pytest.fixture(scope="module")
def golden(mcld_golden_dir):
    return np.load(mcld_golden_dir / "golden.npz")


@pytest.fixture(scope="module")
def compared(golden, mcld_golden_dir) -> list:
    """Every golden array compared as upstream behaviour (all but the DIAGNOSTIC ones)."""
    return sorted(set(golden.files) - _diagnostic_arrays(mcld_golden_dir))


@pytest.fixture(scope="module")
def atol(mcld_manifest, mcld_golden_dir):
    path = mcld_golden_dir / "manifest.json"
    return lambda name: tolerance(mcld_manifest, name, path)


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
    bank = mcld_manifest["reference_bank"]
    for block, name in zip(bank["writer_blocks_dfs_order"], bank["golden_arrays"], strict=True):
        arrays[name] = cap["refbank"][block]
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


def _mismatch(name, ours_tensor, golden_array, atol) -> str:
    """'' if ``ours_tensor`` matches ``golden_array`` within ``atol``, else the failure text."""
    mine = ours_tensor.detach().cpu().numpy()
    if mine.size != golden_array.size:
        return f"{name}: size {mine.shape} vs golden {golden_array.shape}"
    mine = mine.reshape(golden_array.shape)
    diff = np.abs(mine.astype(np.float64) - golden_array.astype(np.float64)).max()
    return "" if diff <= atol else f"{name}: max abs diff {diff:.3g} > atol {atol:.3g}"


def _compare(name, ours_tensor, golden_array, atol):
    failure = _mismatch(name, ours_tensor, golden_array, atol)
    assert not failure, failure


def test_every_golden_array_is_covered(compared, ours, atol):
    assert set(compared) == set(ours), (
        f"not compared: {sorted(set(compared) - set(ours))}; extra: {sorted(set(ours) - set(compared))}"
    )
    for name in compared:
        atol(name)  # a data error fails here, naming the array and the manifest


def test_matches_golden(compared, golden, ours, atol):
    """Every compared array within its manifest tolerance (all failures listed together)."""
    failures = [_mismatch(name, ours[name], golden[name], atol(name)) for name in compared if name in ours]
    assert not any(failures), "\n".join(f for f in failures if f)


def test_missing_tolerance_is_a_data_error(mcld_manifest, mcld_golden_dir):
    """An array whose entry lacks a recorded spread fails, naming it and the manifest."""
    name = sorted(mcld_manifest["tolerances_suggested"]["per_array"])[0]
    broken = {"tolerances_suggested": {"per_array": {name: {
        k: v for k, v in mcld_manifest["tolerances_suggested"]["per_array"][name].items() if k != "cross_cpu_spread"
    }}}}
    path = mcld_golden_dir / "manifest.json"
    with pytest.raises(pytest.fail.Exception, match=rf"{name} lacks \['cross_cpu_spread'\].*manifest.json"):
        tolerance(broken, name, path)
    with pytest.raises(pytest.fail.Exception, match=rf"{name} has no .*manifest.json"):
        tolerance({"tolerances_suggested": {"per_array": {}}}, name, path)


def test_output_fields(run, golden, mcld_manifest):
    out, _ = run
    call = mcld_manifest["pipeline_call"]
    assert isinstance(out, MCLDPipelineOutput)
    assert out.images.shape == (1, 3, call["height"], call["width"]) and out.images.dtype == torch.float32
    assert out.images_512x352.shape == golden["post_512x352_uint8"].shape and out.images_512x352.dtype == torch.uint8
    assert out.images_256x176.shape == golden["post_256x176_uint8"].shape


def test_fp32_bank_option_reproduces_diagnostic(pipe, golden, mcld_golden_dir, mcld_manifest, atol):
    """Keeping the bank in float32 reproduces upstream's patched fp32-bank run,
    and is measurably different from upstream's float16 bank."""
    if FP32_BANK_DIAGNOSTIC not in golden.files:
        pytest.fail(f"data error: {FP32_BANK_DIAGNOSTIC} not in {mcld_golden_dir / 'golden.npz'}")
    _, cap = _call(pipe, mcld_golden_dir, mcld_manifest, reference_bank_dtype=torch.float32)
    step0 = cap["noise_pred_raw_steps"][0]
    _compare("noise_pred_raw_steps", step0, golden[FP32_BANK_DIAGNOSTIC], atol("noise_pred_raw_steps"))
    fp16_cond = golden["noise_pred_step0_cond"].reshape(1, *step0.shape[1:])
    effect = np.abs(step0[1:2].numpy() - fp16_cond).max()
    assert effect > atol("noise_pred_step0_cond")


def test_pil_inputs_preprocess_like_upstream_dataset(pipe, golden, mcld_golden_dir, mcld_manifest, atol):
    """The PNG inputs through our PIL path give the exact tensors upstream's dataset gave."""
    call = mcld_manifest["pipeline_call"]
    inputs = mcld_manifest["inputs"]
    source, texture, iuv = pipe.prepare_images(
        Image.open(mcld_golden_dir / inputs["source_png"].split()[0]),
        Image.open(mcld_golden_dir / inputs["texture_png"].split()[0]),
        Image.open(mcld_golden_dir / inputs["pose_iuv_png"].split()[0]),
        call["height"],
        call["width"],
    )
    _compare("input_clip_image", source[:, 0] * 255, golden["input_clip_image"], atol("input_clip_image"))
    _compare("input_ref_image", texture[:, 0], golden["input_ref_image"], atol("input_ref_image"))
    _compare("input_pose_image", iuv, golden["input_pose_image"], atol("input_pose_image"))

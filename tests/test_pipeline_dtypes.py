"""MCLDPipeline in half precision and with the fast-path options, on the CPU.

The Space runs float16 weights on CUDA; the golden tests run float32. These
tests run the tiny pipeline in bfloat16 / float16 on the CPU (the same code
paths: every input cast to the consuming module's dtype, noise drawn in float32
by the CPU generator then cast) and check the per-request state is released.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mcld.pipeline_mcld import MCLDPipeline
from mcld.tiny import build_tiny_pipeline

SIZE, STEPS = 64, 2


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(0)
    return dict(
        source_image=torch.rand(1, 3, 48, 40, generator=g),
        texture_map=torch.rand(1, 3, SIZE, SIZE, generator=g),
        target_iuv=torch.rand(1, 3, SIZE, SIZE, generator=g),
        face_embeds=torch.randn(1, 512, generator=g).double().numpy() * 20,  # raw insightface scale, float64
    )


def _run(pipe, inputs, **kwargs):
    args = dict(inputs, height=SIZE, width=SIZE, num_inference_steps=STEPS, output_type="pt",
                generator=torch.Generator().manual_seed(3))
    args.update(kwargs)
    return pipe(**args)


@pytest.mark.parametrize("mode", ["reference", "fast"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_pipeline_runs_with_consistent_dtypes(inputs, mode, dtype):
    pipe = build_tiny_pipeline(seed=0, execution_mode=mode, torch_dtype=dtype)
    debug = {}
    out = _run(pipe, inputs, debug_capture=debug)
    assert out.latents.dtype == torch.float32 and torch.isfinite(out.latents).all()
    assert out.images.dtype == torch.float32 and 0 <= out.images.min() and out.images.max() <= 1
    assert out.images_512x352.dtype == torch.uint8
    for name in ("clip_embeds_source", "clip_embeds_texture", "face_tokens", "pose_guider_input", "pose_fea",
                 "ref_latents", "ref_unet_encoder_hidden_states", "init_noise", "vae_decode_input",
                 "vae_enc_input", "enc_down_step0", "enc_mid_step0", "enc_up_step0"):
        assert debug[name].dtype == dtype, name
    # The CLIP processor output and the face embedding used stay float32 (CPU inputs).
    assert debug["clip_pixel_values_source"].dtype == torch.float32
    assert debug["input_face_emb"].dtype == torch.float32
    # Upstream noise semantics: drawn in float32 by the CPU generator, then cast.
    noise = torch.randn(1, 4, SIZE // 8, SIZE // 8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(debug["init_noise"], noise.to(dtype))
    bank_dtypes = {t.dtype for t in debug["refbank"].values()}
    assert bank_dtypes == {dtype}
    # Per-request state is released and nothing kept a graph.
    assert not pipe.reference_bank.entries and not pipe.reference_bank.written
    assert not pipe.reference_bank.projection_cache and pipe.pose_injector.features is None
    assert not out.latents.requires_grad and not out.images.requires_grad


def test_half_precision_close_to_float32(inputs):
    full = _run(build_tiny_pipeline(seed=0, execution_mode="fast"), inputs)
    half = _run(build_tiny_pipeline(seed=0, execution_mode="fast", torch_dtype=torch.bfloat16), inputs)
    # bfloat16 has 8 mantissa bits; the tiny model's images stay close.
    assert (full.images - half.images).abs().mean() < 0.05


def test_channels_last_fast_path_matches_fast_mode(inputs):
    """channels_last must not disturb the conv_in hook or the attention processors."""
    pipe = build_tiny_pipeline(seed=0, execution_mode="fast")
    plain = _run(pipe, inputs)
    pipe.enable_fast_path(channels_last=True)
    assert pipe.denoising_unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    tuned = _run(pipe, inputs)
    torch.testing.assert_close(tuned.latents, plain.latents, atol=1e-4, rtol=0)


def test_from_mcld_checkpoints_float16_reads_the_float16_cache(tmp_path, mcld_golden_dir, mcld_manifest, inputs):
    """A float16 start converts once to float16 safetensors; the second start
    assigns those tensors to the meta-built modules: every component is float16
    (IP projections included) and the pipeline runs."""
    kwargs = dict(
        vae=mcld_golden_dir / "vae",
        image_encoder=mcld_golden_dir / "image_encoder",
        pose_guider_config=mcld_manifest["modules"]["pose_guider"]["kwargs"],
        face_resampler_config=mcld_manifest["modules"]["image_proj_model"]["kwargs"],
        cache_dir=tmp_path,
        torch_dtype=torch.float16,
    )
    first = MCLDPipeline.from_mcld_checkpoints(mcld_golden_dir, **kwargs)
    assert len(list(tmp_path.rglob("*.fp16.safetensors"))) == 4
    second = MCLDPipeline.from_mcld_checkpoints(mcld_golden_dir, **kwargs)
    for pipe in (first, second):
        for name in ("vae", "image_encoder", "reference_unet", "denoising_unet", "pose_guider", "face_resampler"):
            assert {p.dtype for p in getattr(pipe, name).parameters()} == {torch.float16}, name
    a = first.denoising_unet.state_dict()
    b = second.denoising_unet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    out = _run(second, inputs, height=64, width=64)
    assert torch.isfinite(out.latents).all()


class _CopyLog(TorchDispatchMode):
    """Records every ``aten._to_copy`` (what ``Tensor.to`` runs): the dtype of
    each tensor moved to another device, and the device of each tensor cast."""

    def __init__(self) -> None:
        super().__init__()
        self.moved_dtypes: list[torch.dtype] = []
        self.cast_devices: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._to_copy.default:
            src, device, dtype = args[0], kwargs.get("device"), kwargs.get("dtype")
            if device is not None and torch.device(device) != src.device:
                self.moved_dtypes.append(src.dtype)
            if dtype is not None and dtype != src.dtype:
                self.cast_devices.append(src.device.type)
        return func(*args, **kwargs)


def test_to_device_dtype_casts_before_moving():
    """A float32 checkpoint bound for a float16 GPU is cast before the move
    (half the transfer, no float32 copy on the GPU). Checked on the real tensor
    copies: every floating tensor that changes device (CPU -> meta here) is
    already bfloat16, and every cast runs on the CPU."""
    pipe = build_tiny_pipeline(seed=0)
    with _CopyLog() as log:
        pipe.to_device_dtype("meta", torch.bfloat16)
    moved_floats = {d for d in log.moved_dtypes if d.is_floating_point}
    assert moved_floats == {torch.bfloat16}, moved_floats
    assert log.cast_devices and set(log.cast_devices) == {"cpu"}
    for name in ("vae", "image_encoder", "reference_unet", "denoising_unet", "pose_guider", "face_resampler"):
        module = getattr(pipe, name)
        assert (module.dtype, module.device.type) == (torch.bfloat16, "meta"), name


def test_half_vae_overflow_decodes_again_in_float32(inputs, monkeypatch):
    """A float16 VAE that overflows must not give a silently black image: the
    sample is decoded again in float32; a float32 failure raises."""
    from mcld.errors import NaNOutputError

    pipe = build_tiny_pipeline(seed=0, execution_mode="fast", torch_dtype=torch.float16)
    real_decode = pipe.vae.decode
    dtypes = []

    def overflowing(z, *args, **kwargs):
        dtypes.append(pipe.vae.dtype)
        out = real_decode(z, *args, **kwargs)
        if pipe.vae.dtype == torch.float16:
            out.sample[:, :, :4] = float("inf")
        return out

    monkeypatch.setattr(pipe.vae, "decode", overflowing)
    out = _run(pipe, inputs)
    assert dtypes == [torch.float16, torch.float32]
    assert pipe.vae.dtype == torch.float16  # restored
    assert torch.isfinite(out.images).all() and out.images.std() > 0

    def always_nan(z, *args, **kwargs):
        out = real_decode(z, *args, **kwargs)
        out.sample.fill_(float("nan"))
        return out

    monkeypatch.setattr(pipe.vae, "decode", always_nan)
    with pytest.raises(NaNOutputError, match=re.escape("Try again with another seed. (non-finite VAE output for sample 0)")):
        _run(pipe, inputs)
    assert pipe.vae.dtype == torch.float16

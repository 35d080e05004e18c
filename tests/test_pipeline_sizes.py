"""MCLDPipeline at every size upstream accepts: multiples of 8, not only of 64.

At 512x352 the latent is 64x44; the UNets' stride-2 down-samplers take a side
``s`` to ``(s - 1) // 2 + 1`` (44 -> 22 -> 11 -> 6), so the up-samplers must
return to the skip connection's size instead of doubling (6 -> 11). Upstream's
UNets (``src/models/unet_3d.py`` / ``unet_3d_diff_prompt.py`` / ``unet_2d_condition.py``:
``forward_upsample_size`` when a side is not a multiple of
``2 ** num_upsamplers``; ``src/models/resnet.py`` ``Upsample3D``: nearest
interpolation to ``output_size``, then the 3x3 conv) do that, and so does the
stock diffusers ``UNet2DConditionModel`` we run. These tests run the tiny
pipeline at a 512x352-proportioned size and at another 8-multiple size that is
not a 64-multiple and check, layer by layer, that both UNets compute what
upstream's compute there; and that the ReferenceNet bank and the
reference-attention grids work when the ReferenceNet reads another size than
the denoising UNet.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from mcld.models.attention_processors import pack_stage_contexts
from mcld.pipeline_mcld import UPSTREAM_OUTPUT_SIZES
from mcld.pose_transfer import PoseTransfer
from tests.helpers.tiny_pipeline import pipe, random_inputs  # noqa: F401 (fixture)

STEPS = 2
#: Upstream's full output size, scaled down 4x for the tiny CPU model (128x88:
#: latent 16x11, odd at the first down-sampling); and an 8-multiple size whose
#: sides are not 64-multiples either way (latent 9x13).
SIZES = [tuple(s // 4 for s in max(UPSTREAM_OUTPUT_SIZES)), (72, 104)]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread for these tiny models: on a loaded 2-core machine two
    OpenMP threads made a 128x88 call ~20x slower (25 s vs 1.4 s). Restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _levels(unet, latent_hw):
    """Latent grid at each resolution level: stride-2, padding-1, 3x3 down-sampling."""
    levels = [tuple(latent_hw)]
    for block in unet.down_blocks[:-1]:
        conv = block.downsamplers[0].conv
        k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
        levels.append(tuple((x + 2 * p - k) // s + 1 for x in levels[-1]))
    return levels


class _UNetProbe:
    """Forward hooks recording each block's grid and every up-sampler's input/output."""

    def __init__(self, unet):
        self.unet = unet
        self.grids = {}  # transformer path -> [(h, w), ...] per call
        self.upsampler_calls = {}  # up block index -> [(input, output), ...]
        self.handles = []
        for name, module in unet.named_modules():
            if re.fullmatch(r"(down_blocks\.\d+|up_blocks\.\d+|mid_block)\.attentions\.\d+", name):
                self.handles.append(module.register_forward_pre_hook(self._grid_hook(name)))
        for i, block in enumerate(unet.up_blocks):
            if getattr(block, "upsamplers", None):
                self.handles.append(block.upsamplers[0].register_forward_hook(self._up_hook(i)))

    def _grid_hook(self, name):
        def hook(module, args):
            self.grids.setdefault(name, []).append(tuple(args[0].shape[-2:]))
        return hook

    def _up_hook(self, i):
        def hook(module, args, output):
            self.upsampler_calls.setdefault(i, []).append((args[0].detach().clone(), output.detach().clone()))
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def _expected_grid(name, levels):
    """Grid of the block at module path ``name``: down block i at level i, the mid
    block at the coarsest level, up block i at level ``n - 1 - i``."""
    parts = name.split(".")
    if parts[0] == "mid_block":
        return levels[-1]
    index = int(parts[1])
    return levels[index] if parts[0] == "down_blocks" else levels[len(levels) - 1 - index]


def _upstream_upsample(upsampler, x, output_hw):
    """Upstream ``Upsample3D.forward`` on the one-frame tensor: nearest to
    ``(1, *output_hw)`` over (frames, h, w), then the 3x3 conv."""
    y = F.interpolate(x[:, :, None], size=(1, *output_hw), mode="nearest")[:, :, 0]
    return upsampler.conv(y)


@pytest.mark.parametrize("height, width", SIZES)
def test_check_inputs_accepts_8_multiples(pipe, height, width):
    img = torch.rand(1, 3, height, width)
    pipe.check_inputs(img, img, img, None, height, width, 1, 3.5)
    assert height % 64 or width % 64  # the sizes under test are not all 64-multiples


@pytest.mark.parametrize("height, width, shown", [(60, 64, "60x64"), (64, 0, "64x0"), (-8, 64, "-8x64"), (64.0, 64, "64.0x64")])
def test_check_inputs_rejects_other_sizes_quoting_them(pipe, height, width, shown):
    img = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match=shown):
        pipe.check_inputs(img, img, img, None, height, width, 1, 3.5)


def test_pose_transfer_model_size_follows_the_pipeline():
    assert PoseTransfer(None, None, model_size=88).model_size == 88
    with pytest.raises(ValueError, match="60"):
        PoseTransfer(None, None, model_size=60)


@pytest.mark.parametrize("height, width", SIZES)
def test_unets_compute_upstreams_layers_at_size(pipe, height, width):
    """A full pipeline call at ``height x width``: outputs at that size, every
    block of both UNets on the down-sampling chain's grid, every up-sampler
    equal to upstream's nearest-to-skip-size + conv, the pose features and the
    ReferenceNet bank at the latent grid."""
    probes = {name: _UNetProbe(getattr(pipe, name)) for name in ("reference_unet", "denoising_unet")}
    capture = {}
    try:
        out = pipe(**random_inputs(height, width), height=height, width=width, num_inference_steps=STEPS,
                   generator=torch.Generator().manual_seed(1), output_type="pt", debug_capture=capture)
    finally:
        for probe in probes.values():
            probe.remove()
    latent_hw = (height // pipe.vae_scale_factor, width // pipe.vae_scale_factor)
    assert out.images.shape == (1, 3, height, width) and torch.isfinite(out.images).all()
    assert 0 <= float(out.images.min()) and float(out.images.max()) <= 1 and float(out.images.std()) > 0
    assert out.latents.shape == (1, 4, *latent_hw) and torch.isfinite(out.latents).all()
    for (h, w), tensor in zip(UPSTREAM_OUTPUT_SIZES, (out.images_512x352, out.images_256x176)):
        assert tensor.shape == (1, 3, h, w)
    assert capture["pose_fea"].shape[-2:] == latent_hw
    assert all(p.shape == (2, 4, *latent_hw) for p in capture["noise_pred_raw_steps"])

    for name, probe in probes.items():
        levels = _levels(probe.unet, latent_hw)
        assert any(a % 2 for lv in levels[:-1] for a in lv), "the size must make some down-sampling uneven"
        calls = 1 if name == "reference_unet" else STEPS
        for block, grids in probe.grids.items():
            assert grids == [_expected_grid(block, levels)] * calls, f"{name}.{block}: {grids}"
        assert len(probe.upsampler_calls) == len(levels) - 1
        for i, records in probe.upsampler_calls.items():
            target = levels[len(levels) - 2 - i]
            for x, y in records:
                assert y.shape[-2:] == target, f"{name}.up_blocks.{i}: {tuple(y.shape[-2:])} != {target}"
                upsampler = probe.unet.up_blocks[i].upsamplers[0]
                assert torch.equal(y, _upstream_upsample(upsampler, x, target)), f"{name}.up_blocks.{i}"

    # The bank holds one token per grid cell of the ReferenceNet block that wrote it.
    ref_levels = _levels(pipe.reference_unet, latent_hw)
    for block, tokens in capture["refbank"].items():
        assert tokens.shape[1] == math.prod(_expected_grid(block, ref_levels)), block


def test_reference_net_at_another_size_than_the_denoising_unet(pipe):
    """ReferenceNet on a 64x64 texture (latent 8x8), denoising UNet at 128x88
    (latent 16x11): the bank is read, the uncond row stays plain
    self-attention, the reference-attention grids handed to a mask hook are
    the layers' real grids, and a mask that hides every reference token gives
    exactly the result without a reference."""
    height, width = SIZES[0]
    unet, bank = pipe.denoising_unet, pipe.reference_bank
    dim = unet.config.cross_attention_dim
    g = torch.Generator().manual_seed(3)
    latent_hw = (height // pipe.vae_scale_factor, width // pipe.vae_scale_factor)
    ref_hw = (64 // pipe.vae_scale_factor, 64 // pipe.vae_scale_factor)
    texture = torch.rand(1, 1, 3, 64, 64, generator=g)
    contexts = [torch.randn(1, n, dim, generator=g) for n in (17, 18, 17)]
    packed, layout = pack_stage_contexts(*(torch.cat([torch.zeros_like(c), c]) for c in contexts))
    sample = torch.randn(2, 4, *latent_hw, generator=g)
    pose = pipe.pose_guider(torch.rand(1, 3, height, width, generator=g))
    t = pipe.scheduler.config.num_train_timesteps - 1

    def denoise():
        return unet(sample, t, encoder_hidden_states=packed, cross_attention_kwargs={"context_layout": layout},
                    return_dict=False)[0]

    queries = []
    ref_probe = _UNetProbe(pipe.reference_unet)
    own_probe = _UNetProbe(unet)
    try:
        pipe.pose_injector.features = torch.cat([pose, pose])
        bank.clear()
        bank.latent_hw = latent_hw
        with torch.no_grad():
            plain = denoise()  # empty bank: plain self-attention everywhere
            pipe.encode_reference(texture, contexts[0][:, None, :1], "reference", True)
            bank.num_uncond_rows = 1
            assert bank.reference_latent_hw == ref_hw
            with_ref = denoise()

            def record(query):
                queries.append(query)
                return None

            bank.attention_mask_fn = record
            recorded = denoise()

            def hide_reference(query):
                mask = torch.zeros(1, query.num_query_tokens, query.num_own_tokens + sum(query.reference_token_counts),
                                   dtype=torch.bool)
                mask[..., : query.num_own_tokens] = True
                return mask

            bank.attention_mask_fn = hide_reference
            hidden = denoise()
    finally:
        bank.attention_mask_fn = None
        bank.clear()
        pipe.pose_injector.features = None
        ref_probe.remove()
        own_probe.remove()

    assert with_ref.shape == (2, 4, *latent_hw) and torch.isfinite(with_ref).all()
    assert torch.equal(with_ref[:1], plain[:1])  # uncond row: no reference
    assert not torch.allclose(with_ref[1:], plain[1:])  # cond row reads the 8x8 bank
    assert torch.equal(recorded, with_ref)  # a hook returning None changes nothing
    # A masked-out bank is no bank, up to float32 rounding (the masked kernel sums
    # over more, all-zero, keys): torch's default float32 closeness.
    torch.testing.assert_close(hidden[1:], plain[1:])
    assert queries
    for query in queries:
        block = query.layer_name.rsplit(".transformer_blocks.", 1)[0]
        assert query.query_hw == own_probe.grids[block][0], query.layer_name
        assert query.reference_hw == (ref_probe.grids[block][0],), query.layer_name
        assert query.reference_token_counts == (math.prod(ref_probe.grids[block][0]),)

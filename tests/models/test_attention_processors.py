"""Attention processors and hooks that turn stock UNets into MCLD's two UNets."""

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0, IPAdapterAttnProcessor2_0

from mcld.models import (
    MultiFocalIPAttnProcessor,
    PoseFeatureInjector,
    ReferenceBank,
    ReferenceReadProcessor,
    build_denoising_unet,
    build_reference_unet,
    pack_stage_contexts,
)
from mcld.models.attention_processors import set_reference_processors
from mcld.models.unets import load_config


def _keys(path):
    return {line.split("\t")[0]: tuple(int(x) for x in line.split("\t")[1].strip("[]").split(", "))
            for line in path.read_text().splitlines() if line.strip()}


@pytest.fixture(scope="module")
def unet_config(mcld_golden_dir):
    return load_config(mcld_golden_dir / "unet_config.json")


def _attention(dim=32, cross=24, heads=4, seed=0):
    torch.manual_seed(seed)
    return Attention(query_dim=dim, cross_attention_dim=cross, heads=heads, dim_head=dim // heads, bias=False)


def test_unet_key_sets_match_upstream_checkpoints(unet_config, mcld_golden_dir):
    ref = {k: tuple(v.shape) for k, v in build_reference_unet(unet_config).state_dict().items()}
    den = {k: tuple(v.shape) for k, v in build_denoising_unet(unet_config).state_dict().items()}
    assert ref == _keys(mcld_golden_dir / "keys_reference_unet.txt")
    assert den == _keys(mcld_golden_dir / "keys_denoising_unet.txt")


def test_multi_focal_processor_equals_diffusers_ip_adapter():
    attn = _attention()
    ours = MultiFocalIPAttnProcessor(32, 24, stage="mid", num_tokens=16, scale=0.5)
    reference = IPAdapterAttnProcessor2_0(32, 24, num_tokens=(16,), scale=0.5)
    reference.to_k_ip[0].weight.data.copy_(ours.to_k_ip.weight)
    reference.to_v_ip[0].weight.data.copy_(ours.to_v_ip.weight)
    hidden, context = torch.randn(2, 10, 32), torch.randn(2, 18, 24)  # 2 CLIP tokens + 16 face tokens
    expected = reference(attn, hidden, encoder_hidden_states=(context[:, :2], [context[:, 2:]]))
    torch.testing.assert_close(ours(attn, hidden, context), expected, atol=1e-6, rtol=1e-5)


def test_multi_focal_processor_reads_its_stage_slice():
    attn = _attention()
    hidden = torch.randn(2, 10, 32)
    down, mid, up = torch.randn(2, 17, 24), torch.randn(2, 18, 24), torch.randn(2, 17, 24)
    packed, layout = pack_stage_contexts(down, mid, up)
    assert packed.shape == (2, 52, 24)
    for stage, context in (("down", down), ("mid", mid), ("up", up)):
        proc = MultiFocalIPAttnProcessor(32, 24, stage=stage)
        torch.testing.assert_close(proc(attn, hidden, packed, context_layout=layout), proc(attn, hidden, context))
    with pytest.raises(ValueError, match="16 face tokens"):
        MultiFocalIPAttnProcessor(32, 24)(attn, hidden, torch.randn(2, 16, 24))


def test_read_processor_semantics():
    attn = Attention(query_dim=32, heads=4, dim_head=8, bias=False)
    bank = ReferenceBank()
    proc = ReferenceReadProcessor(bank, "blk")
    plain = AttnProcessor2_0()
    hidden = torch.randn(2, 12, 32)  # rows [uncond, cond]
    # Empty bank: plain self-attention.
    torch.testing.assert_close(proc(attn, hidden), plain(attn, hidden))
    # With a bank: uncond row plain; cond row attends to [own, reference] tokens.
    reference = torch.randn(1, 7, 32)
    bank.entries["blk"] = reference
    bank.reference_token_counts["blk"] = (7,)
    bank.num_uncond_rows = 1
    out = proc(attn, hidden)
    torch.testing.assert_close(out[:1], plain(attn, hidden[:1]), atol=1e-6, rtol=1e-5)
    cond_expected = plain(attn, hidden[1:], encoder_hidden_states=torch.cat([hidden[1:], reference], dim=1))
    torch.testing.assert_close(out[1:], cond_expected, atol=1e-6, rtol=1e-5)
    # float16 storage = upstream's round trip: same as attending to reference.half().float().
    bank.entries["blk"] = reference.half()
    rounded = plain(attn, hidden[1:], encoder_hidden_states=torch.cat([hidden[1:], reference.half().float()], dim=1))
    torch.testing.assert_close(proc(attn, hidden)[1:], rounded, atol=1e-6, rtol=1e-5)
    # Cached projections (fast path) give the same result.
    bank.entries["blk"] = reference
    bank.cache_projections = True
    torch.testing.assert_close(proc(attn, hidden), out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(proc(attn, hidden), out, atol=1e-6, rtol=1e-5)  # second call uses the cache


def test_reference_mask_hook():
    attn = Attention(query_dim=32, heads=4, dim_head=8, bias=False)
    bank = ReferenceBank()
    proc = ReferenceReadProcessor(bank, "blk")
    hidden = torch.randn(1, 16, 32)
    bank.written["blk"] = torch.randn(2, 4, 32)  # K = 2 references of 4 tokens (2x2 grid)
    bank.finalize(batch_size=1, num_references=2)
    bank.latent_hw = (4, 4)
    bank.reference_latent_hw = (2, 2)
    assert bank.entries["blk"].shape == (1, 8, 32)
    seen = []

    def own_and_first_reference(query):
        seen.append(query)
        mask = torch.ones(1, query.num_query_tokens, query.num_own_tokens + sum(query.reference_token_counts), dtype=torch.bool)
        mask[..., query.num_own_tokens + query.reference_token_counts[0]:] = False
        return mask

    no_mask = proc(attn, hidden)
    bank.attention_mask_fn = lambda query: None
    assert torch.equal(proc(attn, hidden), no_mask)  # None = plain MCLD, bit for bit
    bank.attention_mask_fn = own_and_first_reference
    masked = proc(attn, hidden)
    first_only = AttnProcessor2_0()(attn, hidden, encoder_hidden_states=torch.cat([hidden, bank.written["blk"][:1]], dim=1))
    torch.testing.assert_close(masked, first_only, atol=1e-6, rtol=1e-5)
    assert seen[0].query_hw == (4, 4) and seen[0].reference_hw == ((2, 2), (2, 2))
    assert seen[0].reference_token_counts == (4, 4) and seen[0].layer_name == "blk"
    bank.attention_mask_fn = lambda query: torch.ones(1, 16, 5, dtype=torch.bool)
    with pytest.raises(ValueError, match="mask"):
        proc(attn, hidden)


def test_writer_stores_norm1_output_of_every_block(unet_config):
    unet = build_reference_unet(unet_config)
    bank = ReferenceBank()
    names = set_reference_processors(unet, bank, "write")
    captured = {}
    hooks = [unet.get_submodule(n).norm1.register_forward_hook(lambda m, a, o, n=n: captured.__setitem__(n, o))
             for n in names]
    bank.writing = True
    with torch.no_grad():
        unet(torch.randn(2, 4, 8, 8), 0, encoder_hidden_states=torch.randn(2, 1, 32))
    for hook in hooks:
        hook.remove()
    assert set(bank.written) == set(names) and len(names) == 10
    for name in names:
        assert torch.equal(bank.written[name], captured[name])


def test_pose_injector_adds_features_once(unet_config):
    unet = build_denoising_unet(unet_config)
    features = torch.randn(1, 32, 8, 8)
    sample = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        base = unet.conv_in(sample)
        PoseFeatureInjector().attach(unet)
        injector = PoseFeatureInjector().attach(unet)  # re-attaching replaces, never doubles
        injector.features = features
        torch.testing.assert_close(unet.conv_in(sample), base + features)
        injector.features = None
        torch.testing.assert_close(unet.conv_in(sample), base)

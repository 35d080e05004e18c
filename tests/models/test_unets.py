"""Full-size structure of the two UNets and the Resampler (MCLD_REFERENCE_FACTS s2, s5, s6).

The tiny golden test cannot see head counts, the number of face tokens or the
stage routing at SD-1.5 size (layers_per_block 2, three cross-attention up
blocks of 3 layers). These tests build the full-size modules on the ``meta``
device (no weights allocated) and run one shape-only forward pass.
"""

from __future__ import annotations

from collections import Counter

import torch
from diffusers.models.attention_processor import Attention

from mcld.models import FaceResampler, build_denoising_unet, build_reference_unet
from mcld.models.attention_processors import (
    MultiFocalIPAttnProcessor,
    PoseFeatureInjector,
    ReferenceBank,
    pack_stage_contexts,
    set_reference_processors,
    transformer_block_attentions,
)
from mcld.models.unets import load_config


def _full_unets():
    config = load_config("sd15_unet_config.json")
    return build_reference_unet(config, device="meta"), build_denoising_unet(config, device="meta")


def test_full_size_heads_face_tokens_and_ip_scale():
    reference, denoising = _full_unets()
    for unet in (reference, denoising):
        attentions = [m for n, m in unet.named_modules() if isinstance(m, Attention)]
        assert len(attentions) == 32  # 16 transformer blocks x (attn1, attn2)
        # attention_head_dim 8 in the SD-1.5 config means 8 heads (head size width / 8).
        assert {m.heads for m in attentions} == {8}
        assert {m.to_q.out_features // m.heads for m in attentions} == {40, 80, 160}
    ips = transformer_block_attentions(denoising, "attn2")
    assert all(isinstance(a.processor, MultiFocalIPAttnProcessor) for _, a in ips)
    assert {(a.processor.num_tokens, a.processor.scale) for _, a in ips} == {(16, 0.5)}
    assert Counter(a.processor.stage for _, a in ips) == {"down": 6, "mid": 1, "up": 9}
    widths = [a.processor.to_k_ip.weight.shape for _, a in ips]
    assert set(widths) == {torch.Size([c, 768]) for c in (320, 640, 1280)}


def test_full_size_resampler_heads():
    config = {k: v for k, v in load_config("face_resampler_config.json").items() if not k.startswith("_")}
    with torch.device("meta"):
        resampler = FaceResampler(**config)
    attention = resampler.layers[0][0]
    assert (attention.heads, attention.dim_head) == (20, 64)
    assert resampler.latents.shape == (1, 16, 1280)
    with torch.device("meta"):
        tokens = resampler(torch.zeros(2, 1, 512))
    assert tokens.shape == (2, 16, 768)


def test_full_size_reference_routing_and_stage_contexts():
    """One meta-device pass at 512x512: every reader gets the bank of the writer
    with the same path, and each cross-attention reads its stage's context
    (down 17, mid 18, up 17 tokens)."""
    reference, denoising = _full_unets()
    bank = ReferenceBank()
    writers = set_reference_processors(reference, bank, "write")
    readers = set_reference_processors(denoising, bank, "read")
    assert len(writers) == 16 and writers == readers
    injector = PoseFeatureInjector().attach(denoising)

    seen = {}

    class Spy(MultiFocalIPAttnProcessor):
        def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                     context_layout=None):
            seen.setdefault(self.stage, set()).add(encoder_hidden_states[:, context_layout.slice_for(self.stage)].shape[1])
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb, context_layout)

    for _, attn in transformer_block_attentions(denoising, "attn2"):
        attn.processor.__class__ = Spy

    with torch.device("meta"):
        latents = torch.empty(1, 4, 64, 64)
        clip_src, clip_tex, face = torch.empty(1, 1, 768), torch.empty(1, 1, 768), torch.empty(1, 16, 768)
        bank.writing = True
        reference(latents, torch.zeros((), dtype=torch.long), encoder_hidden_states=clip_src, return_dict=False)
        bank.writing = False
        bank.finalize(batch_size=1)
        tokens = {name: tuple(t.shape) for name, t in bank.entries.items()}
        assert set(tokens) == set(readers)
        assert tokens["down_blocks.0.attentions.0.transformer_blocks.0"] == (1, 4096, 320)
        assert tokens["mid_block.attentions.0.transformer_blocks.0"] == (1, 64, 1280)
        assert tokens["up_blocks.3.attentions.2.transformer_blocks.0"] == (1, 4096, 320)

        down = torch.cat([clip_src, face], dim=1)
        mid = torch.cat([clip_src, clip_tex, face], dim=1)
        up = torch.cat([clip_tex, face], dim=1)
        context, layout = pack_stage_contexts(*(torch.cat([torch.zeros_like(c), c]) for c in (down, mid, up)))
        bank.num_uncond_rows = 1
        injector.features = torch.empty(2, 320, 64, 64)
        out = denoising(torch.cat([latents, latents]), torch.tensor(999), encoder_hidden_states=context,
                        cross_attention_kwargs={"context_layout": layout}, return_dict=False)[0]
    assert out.shape == (2, 4, 64, 64)
    assert seen == {"down": {17}, "mid": {18}, "up": {17}}

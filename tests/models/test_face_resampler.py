"""FaceResampler: upstream keys, output shape, Perceiver attention math."""

import torch
import torch.nn.functional as F

from mcld.models import FaceResampler
from mcld.models.face_resampler import PerceiverAttention


def _keys(path):
    return {line.split("\t")[0]: tuple(int(x) for x in line.split("\t")[1].strip("[]").split(", "))
            for line in path.read_text().splitlines() if line.strip()}


def test_keys_and_shapes_match_upstream(mcld_golden_dir, mcld_manifest):
    model = FaceResampler(**mcld_manifest["modules"]["image_proj_model"]["kwargs"])
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == _keys(mcld_golden_dir / "keys_image_proj_model.txt")


def test_output_tokens(mcld_manifest):
    kwargs = mcld_manifest["modules"]["image_proj_model"]["kwargs"]
    model = FaceResampler(**kwargs)
    out = model(torch.randn(3, 1, kwargs["embedding_dim"]))
    assert out.shape == (3, kwargs["num_queries"], kwargs["output_dim"])
    # LayerNorm at the end: every token has ~zero mean before the affine part.
    assert torch.isfinite(out).all()


def test_perceiver_attention_equals_sdpa_over_features_and_latents():
    torch.manual_seed(0)
    attn = PerceiverAttention(dim=32, dim_head=8, heads=4)
    features, latents = torch.randn(2, 3, 32), torch.randn(2, 5, 32)
    out = attn(features, latents)
    # Independent formulation: standard 1/sqrt(d) attention from the normalised
    # latents to [normalised features, normalised latents].
    x, lat = attn.norm1(features), attn.norm2(latents)
    q = attn.to_q(lat).view(2, 5, 4, 8).transpose(1, 2)
    k, v = attn.to_kv(torch.cat([x, lat], dim=1)).chunk(2, dim=-1)
    k, v = (t.view(2, 8, 4, 8).transpose(1, 2) for t in (k, v))
    expected = attn.to_out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 5, 32))
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)

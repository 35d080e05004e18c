"""PoseGuider: upstream key layout, zero-initialised output, 1/8 resolution."""

import pytest
import torch

from mcld.models import PoseGuider


def _keys(path):
    return {line.split("\t")[0]: tuple(int(x) for x in line.split("\t")[1].strip("[]").split(", "))
            for line in path.read_text().splitlines() if line.strip()}


def test_keys_and_shapes_match_upstream(mcld_golden_dir, mcld_manifest):
    model = PoseGuider(**mcld_manifest["modules"]["pose_guider"]["kwargs"])
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == _keys(mcld_golden_dir / "keys_pose_guider.txt")


def test_zero_initialised_output_and_resolution():
    model = PoseGuider()  # upstream sizes: 320 channels
    iuv = torch.rand(2, 3, 64, 48)
    out = model(iuv)
    assert out.shape == (2, 320, 8, 6)
    assert torch.count_nonzero(out) == 0  # zero convolution at construction
    torch.nn.init.normal_(model.conv_out.weight)
    assert model(iuv).abs().sum() > 0


def test_rejects_wrong_channels():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        PoseGuider()(torch.rand(1, 4, 16, 16))

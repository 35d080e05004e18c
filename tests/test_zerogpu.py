"""ZeroGPU time allowance (mcld.zerogpu); moved here from tests/app/test_pose_gallery.py."""

from __future__ import annotations

import pytest

from mcld.zerogpu import GPU_MAX_S, gpu_duration


def test_gpu_duration_grows_with_steps_and_is_not_capped():
    assert gpu_duration(1) < gpu_duration(20) < gpu_duration(50)
    assert gpu_duration(20, 2) > gpu_duration(20, 1)
    # No per-call ceiling is documented (mcld.zerogpu docstring): what the work needs is asked for.
    assert gpu_duration(100, 10) > GPU_MAX_S
    with pytest.raises(ValueError, match="num_inference_steps and num_images must be >= 1, got 0, 1"):
        gpu_duration(0)

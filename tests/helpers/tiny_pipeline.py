"""The tiny random-weight pipeline and its random inputs, shared by the
pipeline test modules (``from tests.helpers.tiny_pipeline import pipe, inputs``
brings the fixtures into a module; each module gets its own instance)."""

from __future__ import annotations

import pytest
import torch

from mcld.tiny import build_tiny_pipeline

#: Square test size in pixels (8x8 latents) and denoising steps of :func:`run_tiny`.
SIZE, STEPS = 64, 3


def random_inputs(height: int = SIZE, width: int = SIZE, seed: int = 0) -> dict:
    """Pipeline inputs drawn from one seeded generator.

    Returns:
        ``source_image``, ``texture_map``, ``target_iuv``: float32 ``(1, 3, height, width)``
        in ``[0, 1)``; ``face_embeds``: float32 ``(1, 1, 512)``, N(0, 2^2).
    """
    g = torch.Generator().manual_seed(seed)
    return dict(
        source_image=torch.rand(1, 3, height, width, generator=g),
        texture_map=torch.rand(1, 3, height, width, generator=g),
        target_iuv=torch.rand(1, 3, height, width, generator=g),
        face_embeds=torch.randn(1, 1, 512, generator=g) * 2,
    )


def run_tiny(pipe, inputs: dict, seed: int = 1, **kwargs):
    """``pipe(**inputs)`` at ``SIZE`` x ``SIZE`` with ``STEPS`` steps, ``output_type="pt"``
    and a CPU generator seeded with ``seed``; ``kwargs`` override any of these."""
    args = dict(inputs, height=SIZE, width=SIZE, num_inference_steps=STEPS, output_type="pt",
                generator=torch.Generator().manual_seed(seed))
    args.update(kwargs)
    return pipe(**args)


@pytest.fixture(scope="module")
def pipe():
    """``build_tiny_pipeline(seed=0)``, once per test module."""
    return build_tiny_pipeline(seed=0)


@pytest.fixture(scope="module")
def inputs():
    """:func:`random_inputs` at the default size and seed, once per test module."""
    return random_inputs()

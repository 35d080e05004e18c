"""MCLDPipeline as a diffusers recipe: callback replacements, the debug hook,
the example docstring, diffusers' ``from_pretrained`` left alone, and the image
processor functions, on the tiny random-weight pipeline (seconds on a CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from PIL import Image

from mcld.image_processor import (
    UPSTREAM_OUTPUT_SIZES,
    clip_preprocess,
    convert_images,
    prepare_condition_images,
    texture_to_vae_input,
    upstream_postprocess,
)
from mcld.pipeline_mcld import IntermediateCapture, MCLDPipeline
from tests.helpers.tiny_pipeline import SIZE, STEPS, inputs, pipe, run_tiny  # noqa: F401 (fixtures)

def _run(pipe, inputs, **kwargs):
    return run_tiny(pipe, inputs, **{"output_type": "latent", **kwargs})


def _grab_at_step0(names):
    """A callback that keeps clones of ``names`` after step 0 and changes nothing."""
    seen = {}

    def grab(p, i, t, kw):
        if i == 0:
            seen.update({k: kw[k].clone() for k in names})
        return kw

    return grab, seen


def _replace_at_step0(values):
    def replace(p, i, t, kw):
        return dict(values) if i == 0 else {}

    return replace


def test_callback_replaces_encoder_hidden_states(pipe, inputs):
    """After step 0, handing run B the latents and stage contexts of run A (face
    tokens ablated: only the contexts differ, bank and pose features do not) makes
    every later step of B run A's: B ends exactly where A ends."""
    names = ["latents", "encoder_hidden_states"]
    grab, a_state = _grab_at_step0(names)
    a = _run(pipe, inputs, ablations=("face_tokens",), callback_on_step_end=grab,
             callback_on_step_end_tensor_inputs=names)
    b = _run(pipe, inputs, callback_on_step_end=_replace_at_step0(a_state), callback_on_step_end_tensor_inputs=names)
    assert torch.equal(b.latents, a.latents)
    latents_only = _run(pipe, inputs, callback_on_step_end=_replace_at_step0({"latents": a_state["latents"]}))
    assert (latents_only.latents - a.latents).abs().max() > 1e-4  # the contexts replacement is what did it


def test_callback_replaces_pose_features(pipe, inputs):
    """Same with the pose features of another target IUV (the bank and the contexts
    do not depend on the pose): B ends exactly where A, posed otherwise, ends."""
    other_pose = {**inputs, "target_iuv": inputs["target_iuv"].flip(-1)}
    names = ["latents", "pose_features"]
    grab, a_state = _grab_at_step0(names)
    a = _run(pipe, other_pose, callback_on_step_end=grab, callback_on_step_end_tensor_inputs=names)
    b = _run(pipe, inputs, callback_on_step_end=_replace_at_step0(a_state), callback_on_step_end_tensor_inputs=names)
    assert torch.equal(b.latents, a.latents)
    latents_only = _run(pipe, inputs, callback_on_step_end=_replace_at_step0({"latents": a_state["latents"]}))
    assert (latents_only.latents - a.latents).abs().max() > 1e-4
    assert pipe.pose_injector.features is None  # the call cleans up what the callback installed


def test_returning_callback_kwargs_unchanged_changes_nothing(pipe, inputs):
    plain = _run(pipe, inputs)
    names = list(MCLDPipeline._callback_tensor_inputs)
    echoed = _run(pipe, inputs, callback_on_step_end=lambda p, i, t, kw: kw, callback_on_step_end_tensor_inputs=names)
    assert torch.equal(echoed.latents, plain.latents)


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("noise_pred", lambda kw: torch.zeros_like(kw["noise_pred"]), "output of the step just taken"),
        ("noise_pred_raw", lambda kw: kw["noise_pred_raw"] + 1, "output of the step just taken"),
        ("pose_features", lambda kw: kw["pose_features"][:, :1], r"keep the shape \(1, 32, 8, 8\)"),
        ("encoder_hidden_states", lambda kw: "not a tensor", "of shape str"),
    ],
)
def test_callback_replacement_errors_name_the_tensor(pipe, inputs, name, value, match):
    with pytest.raises(ValueError, match=match) as info:
        _run(pipe, inputs, callback_on_step_end=lambda p, i, t, kw: {name: value(kw)},
             callback_on_step_end_tensor_inputs=[name])
    assert repr(name) in str(info.value)
    assert not pipe.reference_bank.entries and pipe.pose_injector.features is None


def test_debug_hook_and_debug_capture_are_one_mechanism(pipe, inputs):
    """``debug_capture=d`` fills ``d`` exactly as ``debug_hook=IntermediateCapture()``
    does, and a plain hook is told every name, ``*_steps`` once per step
    (``latents_steps`` once more, for the initial noise)."""
    filled = {}
    _run(pipe, inputs, debug_capture=filled, output_type="pt")
    capture = IntermediateCapture()
    _run(pipe, inputs, debug_hook=capture, output_type="pt")
    assert filled.keys() == capture.store.keys() and "refbank" in filled and "post_512x352_uint8" in filled
    for key, value in filled.items():
        other = capture.store[key]
        if isinstance(value, list):
            assert len(value) == len(other) and all(torch.equal(x, y) for x, y in zip(value, other)), key
        elif isinstance(value, dict):
            assert value.keys() == other.keys() and all(torch.equal(value[k], other[k]) for k in value), key
        else:
            assert torch.equal(value, other), key
    told = []
    _run(pipe, inputs, debug_hook=lambda name, value: told.append(name))
    assert told.count("unet_input_steps") == STEPS and told.count("latents_steps") == STEPS + 1
    assert set(told) == set(filled) - {"vae_decode_input", "vae_decode_output", "image", "post_512x352_uint8",
                                       "post_256x176_uint8"}  # output_type="latent" decodes nothing
    with pytest.raises(ValueError, match="not both"):
        _run(pipe, inputs, debug_capture={}, debug_hook=capture)


def test_example_docstring_attached_and_from_pretrained_is_diffusers():
    doc = MCLDPipeline.__call__.__doc__
    assert "MCLDPipeline.from_mcld_checkpoints(" in doc and ">>> out = pipe(" in doc
    assert "\n        Examples:\n\n        Returns:" not in doc  # the placeholder was replaced
    assert MCLDPipeline.from_pretrained.__func__ is DiffusionPipeline.from_pretrained.__func__


def test_image_processor_shapes_dtypes_and_ranges():
    """Real PNG bytes through the processor: the documented shapes, dtypes and ranges."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (90, 60, 3), dtype=np.uint8))
    texture = Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8))
    source, tex, iuv = prepare_condition_images(photo, [texture, texture], np.asarray(texture), 64, 48)
    assert source.shape == (1, 1, 3, 64, 48) and tex.shape == (1, 2, 3, 64, 48) and iuv.shape == (1, 3, 64, 48)
    assert all(t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1 for t in (source, tex, iuv))
    vae_in = texture_to_vae_input(tex)
    assert vae_in.shape == (2, 3, 64, 48) and torch.equal(vae_in, tex[0] * 2 - 1)
    pixels = clip_preprocess(source[:, 0])
    assert pixels.shape == (1, 3, 224, 224) and pixels.dtype == torch.float32
    for size in UPSTREAM_OUTPUT_SIZES:
        post = upstream_postprocess(iuv, size)
        assert post.shape == (1, 3, *size) and post.dtype == torch.uint8
        (pil,) = convert_images(post, "pil")
        assert pil.size == size[::-1] and np.array_equal(np.asarray(pil), post[0].permute(1, 2, 0).numpy())
    with pytest.raises(ValueError, match="output_type"):
        convert_images(iuv, "jpeg")
    with pytest.raises(ValueError, match=r"texture_map: tensor values must lie in \[0, 1\]"):
        prepare_condition_images(photo, torch.full((1, 3, 64, 48), 2.0), iuv, 64, 48)

"""The app's handlers in-process (tiny weights): MediaPipe, crops, face and
parsing run before the ``spaces.GPU`` functions, which get them in their job
and only run DensePose, the texture and sampling."""

from __future__ import annotations

import json

from PIL import Image


def _no_progress(*args, **kwargs) -> None:
    """Stands in for ``gr.Progress`` outside a Gradio event."""


def test_gpu_jobs_carry_people_and_the_pipeline_never_runs_mediapipe(app_module, images_dir):
    from mcld.pose_transfer import PersonCrop

    src, tgt = str(images_dir / "reference_img_0.png"), str(images_dir / "reference_img_1.png")
    out = app_module.generate(
        src, -1, "photo", tgt, -1, None, False, True, 1, 3.5, 3, "ddim", "256x176", "upstream (default)", [], _no_progress
    )  # fmt: skip
    assert Image.open(out[0][0][0]).size == (176, 256)
    out = app_module.edit_regions(
        src, -1, str(images_dir / "reference_img_2.png"), None, None, None,
        "Source", "Source", "Photo 2", "Source", "Source", "Source", "Same as face", True,
        "photo", tgt, -1, None, False, False, 1, 3.5, 4, "ddim", "512x352", "upstream (default)", [], _no_progress,
    )  # fmt: skip
    settings = json.loads(Image.open(out[0][0][0]).text["mcld_settings"])
    assert settings["regions"] == {"upper_garment": "Photo 2"} and settings["parsing_attention"] is True
    # The pipeline object the GPU functions use never built its own MediaPipe
    # detector: every person came in the job, detected on the CPU beforehand.
    assert app_module.get_pose_transfer().pose_detector is None
    # And the job the GPU function gets holds the crops, not file paths.
    pt = app_module.get_pose_transfer()
    crop = app_module._locate(pt, src, -1, "source")
    assert isinstance(crop, PersonCrop) and crop.crop.shape == (512, 352, 3)
    face = pt.face_embedding(crop.crop)
    target = app_module._target_on_cpu(pt, "photo", tgt, -1, None, False, None)
    job = dict(
        source=crop, face=face, target=target, mirror=False, align=False, num_inference_steps=1,
        guidance_scale=3.5, seed=0, scheduler="ddim", texture_fill="upstream",
    )  # fmt: skip
    source, target_conditions, result = app_module._generate_on_gpu(job)
    assert source.crop is crop.crop and target_conditions.iuv.shape == (512, 352, 3)
    assert result.image_512x352.size == (352, 512)
    assert pt.pose_detector is None


def test_gpu_functions_raise_only_readable_gradio_errors(app_module, images_dir):
    """ZeroGPU passes a ``gr.Error`` from its worker process through as is and
    shows any other exception by its class name only, so input problems must
    become ``gr.Error`` inside the ``spaces.GPU`` functions themselves."""
    import gradio as gr
    import pytest

    pt = app_module.get_pose_transfer()
    crop = app_module._locate(pt, str(images_dir / "reference_img_0.png"), -1, "source")
    target = app_module._target_on_cpu(pt, "gallery", None, -1, "t_pose", False, None)
    job = dict(
        source=crop, face=pt.face_embedding(crop.crop), target=target, mirror=False, align=False,
        num_inference_steps=0, guidance_scale=3.5, seed=0, scheduler="ddim", texture_fill="upstream",
    )  # fmt: skip
    with pytest.raises(gr.Error, match="num_inference_steps"):
        app_module._generate_on_gpu(job)

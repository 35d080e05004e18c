"""The app's handlers in-process (tiny weights): MediaPipe, crops, face and
parsing run in ``PoseTransfer.prepare`` before the ``spaces.GPU`` function,
which gets the ``Job`` and only runs DensePose, the texture and sampling."""

from __future__ import annotations

import json

from PIL import Image


def _no_progress(*args, **kwargs) -> None:
    """Stands in for ``gr.Progress`` outside a Gradio event."""


def test_generate_and_edit_run_one_job_each(app_module, images_dir):
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


def test_the_gpu_function_raises_only_readable_gradio_errors(app_module, images_dir):
    """ZeroGPU passes a ``gr.Error`` from its worker process through as is and
    shows any other exception by its class name only, so input problems must
    become ``gr.Error`` inside the ``spaces.GPU`` function itself."""
    import dataclasses

    import gradio as gr
    import pytest

    from mcld.conditions import SamplingSettings
    from mcld.editing import RegionSelection

    from mcld.demo import job_gpu_seconds

    pt = app_module.SERVICES.pose_transfer()
    job = pt.prepare(str(images_dir / "reference_img_0.png"), app_module.SERVICES.gallery_pose("t_pose"), num_inference_steps=1)
    assert job_gpu_seconds(job) == job.gpu_seconds()
    bad = dataclasses.replace(job, selection=RegionSelection(face=3), parsings=[None])  # a face from a photo not there
    with pytest.raises(gr.Error, match=r"RegionSelection.face must be a photo index in \[0, 1\), got 3"):
        app_module.run_on_gpu(bad)
    with pytest.raises(ValueError, match="num_inference_steps must be in 1..100, got 0"):
        SamplingSettings(num_inference_steps=0)

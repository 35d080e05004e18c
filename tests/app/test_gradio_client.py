"""The Space's API through ``gradio_client`` (app started in tiny-weights mode)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client(app_url):
    return gradio_client.Client(app_url, verbose=False)


def test_api_lists_stable_endpoints(client):
    api = client.view_api(print_info=False, return_format="dict")
    names = set(api["named_endpoints"])
    for name in ("/generate", "/detect_source", "/detect_target", "/pick_target", "/preview_target", "/pick_gallery_pose"):
        assert name in names, f"{name} missing from {sorted(names)}"


def test_generate_endpoint_returns_512x352_image_with_settings(client, images_dir):
    handle = gradio_client.handle_file
    out = client.predict(
        source_path=handle(str(images_dir / "reference_img_0.png")),
        source_person=-1,
        target_mode="photo",
        target_path=handle(str(images_dir / "reference_img_3.png")),
        target_person=-1,
        gallery_pose="",
        mirror=True,
        align=False,
        num_inference_steps=2,
        guidance_scale=3.5,
        seed=7,
        scheduler="ddim",
        output_size="512x352",
        api_name="/generate",
    )
    gallery = out[0]
    assert len(gallery) == 1
    item = gallery[0]
    path = item["image"] if isinstance(item["image"], str) else item["image"]["path"]
    image = Image.open(path)
    assert image.size == (352, 512)
    settings = json.loads(image.text["mcld_settings"])
    assert settings["num_inference_steps"] == 2 and settings["seed"] == 7 and settings["mirrored"] is True
    assert settings["mode"] == "tiny"
    assert "seed 7" in item["caption"] and "mirror" in item["caption"]
    # Conditions: source IUV (512x352) and the UV texture map (512x512) come back too.
    assert Image.open(out[2]).size == (352, 512)
    assert Image.open(out[3]).size == (512, 512)


def test_generate_with_gallery_pose_and_small_output(client, images_dir):
    out = client.predict(
        source_path=gradio_client.handle_file(str(images_dir / "reference_img_1.png")),
        source_person=-1,
        target_mode="gallery",
        target_path=None,
        target_person=-1,
        gallery_pose="t_pose",
        mirror=False,
        align=True,
        num_inference_steps=1,
        guidance_scale=2.0,
        seed=3,
        scheduler="euler",
        output_size="256x176",
        api_name="/generate",
    )
    item = out[0][0]
    path = item["image"] if isinstance(item["image"], str) else item["image"]["path"]
    image = Image.open(path)
    assert image.size == (176, 256)
    settings = json.loads(image.text["mcld_settings"])
    assert settings["gallery_pose"] == "t_pose" and settings["aligned"] is True and settings["scheduler"] == "euler"


def test_bad_upload_gives_readable_error_and_app_keeps_serving(client, tmp_path, images_dir):
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(Exception) as info:
        client.predict(gradio_client.handle_file(str(bad)), api_name="/detect_source")
    assert "Traceback" not in str(info.value)
    # Still serving: a real photo is detected afterwards.
    overlay, index, note = client.predict(gradio_client.handle_file(str(images_dir / "reference_img_2.png")), api_name="/detect_source")
    assert index == 0 and "1 person" in note
    assert Image.open(overlay).size == Image.open(images_dir / "reference_img_2.png").size

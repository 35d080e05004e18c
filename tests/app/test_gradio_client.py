"""The Space's API through ``gradio_client`` (app started in tiny-weights mode)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image

from tools.appserver import generate_kwargs

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client(app_url):
    return gradio_client.Client(app_url, verbose=False)


def test_api_lists_stable_endpoints(client):
    api = client.view_api(print_info=False, return_format="dict")
    names = set(api["named_endpoints"])
    for name in (
        "/generate", "/detect_source", "/pick_source", "/detect_target", "/pick_target", "/preview_target",
        "/pick_gallery_pose", "/parse_photo", "/edit", "/comparison_sheet", "/compare",
    ):
        assert name in names, f"{name} missing from {sorted(names)}"
    unnamed = {
        name: [r["label"] for r in ep["returns"] + ep["parameters"] if r.get("label", "").startswith("value_")]
        for name, ep in api["named_endpoints"].items()
    }
    assert not any(unnamed.values()), f"outputs/inputs without a name: {unnamed}"


def _path(item) -> str:
    return item["image"] if isinstance(item["image"], str) else item["image"]["path"]


def test_every_listed_endpoint_answers_from_gradio_client(app_url, images_dir):
    """Each endpoint view_api() lists, called with explicit arguments (no browser event data)."""
    client = gradio_client.Client(app_url, verbose=False)  # its own session: its own results
    handle = gradio_client.handle_file
    photo, pose = images_dir / "reference_img_0.png", images_dir / "reference_img_1.png"
    size = Image.open(pose).size
    calls = {
        "/detect_source": dict(source_path=handle(str(photo))),
        "/pick_source": dict(source_path=handle(str(photo)), x=size[0] / 2, y=size[1] / 2),
        "/detect_target": dict(target_path=handle(str(pose))),
        "/pick_target": dict(target_path=handle(str(pose)), x=size[0] / 2, y=size[1] / 2),
        "/pick_gallery_pose": dict(gallery_pose="t_pose"),
        "/preview_target": dict(
            target_mode="gallery", target_path=None, target_person=-1, gallery_pose="t_pose", mirror=True, align=False,
            source_path=handle(str(photo)), source_person=-1,
        ),
        "/parse_photo": dict(photo_path=handle(str(photo)), person_index=-1),
        "/randomize_seed": {},
        "/generate": {k: v for k, v in generate_kwargs(photo, pose).items() if k != "api_name"},
        "/edit": {k: v for k, v in _edit_kwargs(images_dir, photo_3=None, lower_garment="Source").items() if k != "api_name"},
        "/comparison_sheet": {},
        "/compare": dict(
            source_path=handle(str(photo)), target_path=None, poses=["t_pose"], axis_1="seed", values_1="0,1",
            axis_2="none", values_2="", num_inference_steps=1, guidance_scale=3.5, seed=42, scheduler="ddim",
            output_size="256x176",
        ),
    }
    listed = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert listed == set(calls), f"endpoints not covered: {listed - set(calls)}; gone: {set(calls) - listed}"
    out = {name: client.predict(**kwargs, api_name=name) for name, kwargs in calls.items()}
    overlay, index, note = out["/pick_target"]
    assert index == 0 and "1 person" in note and Image.open(overlay).size == size
    assert out["/pick_source"][1] == 0 and out["/detect_target"][1] == 0
    assert out["/pick_gallery_pose"] == ("t_pose", "gallery")
    iuv, note = out["/preview_target"]
    assert Image.open(iuv).size == (352, 512) and "t_pose" in note and "Mirrored" in note
    assert "Done" in out["/generate"][-1] and "Done" in out["/edit"][-1]
    assert isinstance(out["/randomize_seed"], (int, float))
    assert out["/compare"][1].startswith("Done: 2 images") and "Headers: seed 0; seed 1; t_pose." in out["/compare"][1]
    # The client's session keeps its results: the sheet holds the generate and the edit.
    assert "mcld_sheet_2_results_" in Path(out["/comparison_sheet"]).name


def test_generate_endpoint_returns_512x352_image_with_settings(client, images_dir):
    kwargs = generate_kwargs(images_dir / "reference_img_0.png", images_dir / "reference_img_3.png",
                             steps=2, seed=7, output_size="512x352")
    out = client.predict(**{**kwargs, "mirror": True})
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
    kwargs = generate_kwargs(images_dir / "reference_img_1.png", None, steps=1, seed=3, output_size="256x176")
    kwargs.update(target_mode="gallery", gallery_pose="t_pose", align=True, guidance_scale=2.0, scheduler="euler")
    out = client.predict(**kwargs)
    item = out[0][0]
    path = item["image"] if isinstance(item["image"], str) else item["image"]["path"]
    image = Image.open(path)
    assert image.size == (176, 256)
    settings = json.loads(image.text["mcld_settings"])
    assert settings["gallery_pose"] == "t_pose" and settings["aligned"] is True and settings["scheduler"] == "euler"


def test_bad_upload_gives_readable_error_and_app_keeps_serving(client, tmp_path, images_dir):
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(Exception, match="not an image we can read") as info:
        client.predict(gradio_client.handle_file(str(bad)), api_name="/detect_source")
    # Our sentence (PhotoInput -> load_image's user_message), not a traceback or Gradio's generic text.
    assert "not an image we can read" in str(info.value) and "Traceback" not in str(info.value)
    # Still serving: a real photo is detected afterwards.
    overlay, index, note = client.predict(gradio_client.handle_file(str(images_dir / "reference_img_2.png")), api_name="/detect_source")
    assert index == 0 and "1 person" in note
    assert Image.open(overlay).size == Image.open(images_dir / "reference_img_2.png").size


def _edit_kwargs(images_dir, **changes) -> dict:
    handle = gradio_client.handle_file
    kwargs = dict(
        source_path=handle(str(images_dir / "reference_img_0.png")),
        source_person=-1,
        photo_2=handle(str(images_dir / "reference_img_2.png")),
        photo_3=handle(str(images_dir / "reference_img_4.png")),
        photo_4=None,
        photo_5=None,
        face="Source",
        hair="Source",
        upper_garment="Photo 2",
        lower_garment="Photo 3",
        shoes="Source",
        appearance="Source",
        identity="Same as face",
        parsing_attention=True,
        target_mode="photo",
        target_path=handle(str(images_dir / "reference_img_1.png")),
        target_person=-1,
        gallery_pose="",
        mirror=False,
        align=False,
        num_inference_steps=1,
        guidance_scale=3.5,
        seed=5,
        scheduler="ddim",
        output_size="512x352",
        api_name="/edit",
    )
    kwargs.update(changes)
    return kwargs


def test_parse_photo_endpoint_returns_crop_overlay_and_names_the_parser(client, images_dir):
    assert "/parse_photo" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    overlay, note = client.predict(
        gradio_client.handle_file(str(images_dir / "reference_img_2.png")), -1, api_name="/parse_photo"
    )
    assert Image.open(overlay).size == (352, 512), "the overlay must show the 352x512 crop the edit uses"
    assert "coarse parsing (MediaPipe)" in note or "SCHP" in note, note
    assert "upper garment" in note and "1 person" in note


def test_edit_endpoint_three_photos_with_parsing_attention(client, images_dir):
    out = client.predict(**_edit_kwargs(images_dir))
    gallery, texture, status = out[0], out[1], out[2]
    item = gallery[0]
    path = item["image"] if isinstance(item["image"], str) else item["image"]["path"]
    image = Image.open(path)
    assert image.size == (352, 512)
    settings = json.loads(image.text["mcld_settings"])
    assert settings["photos"] == ["Source", "Photo 2", "Photo 3"]
    assert settings["regions"] == {"upper_garment": "Photo 2", "lower_garment": "Photo 3"}
    assert settings["selection"]["upper_garment"] == 1 and settings["selection"]["lower_garment"] == 2
    assert settings["selection"]["face"] is None and settings["parsing_attention"] is True
    assert settings["seed"] == 5 and settings["mode"] == "tiny" and settings["target"] == "photo"
    caption = item["caption"]
    assert "upper garment: Photo 2" in caption and "lower garment: Photo 3" in caption
    assert "parsing attention" in caption and "seed 5" in caption
    assert Image.open(texture).size == (512, 512)
    assert status.startswith("Done:")


def test_edit_endpoint_gallery_target_small_output_and_clear_errors(client, images_dir):
    out = client.predict(
        **_edit_kwargs(
            images_dir, photo_3=None, lower_garment="Source", upper_garment="Source", hair="Photo 2",
            identity="Source", parsing_attention=False, target_mode="gallery", target_path=None,
            gallery_pose="t_pose", align=True, output_size="256x176",
        )
    )  # fmt: skip
    item = out[0][0]
    path = item["image"] if isinstance(item["image"], str) else item["image"]["path"]
    image = Image.open(path)
    assert image.size == (176, 256)
    settings = json.loads(image.text["mcld_settings"])
    assert settings["photos"] == ["Source", "Photo 2"] and settings["gallery_pose"] == "t_pose"
    assert settings["regions"] == {"hair": "Photo 2", "identity": "Source"} and settings["aligned"] is True
    # A region from an empty slot, and no source: our messages, not a traceback.
    with pytest.raises(Exception, match="no photo was uploaded as Photo 4"):
        client.predict(**_edit_kwargs(images_dir, shoes="Photo 4"))
    with pytest.raises(Exception, match="Upload a source photo"):
        client.predict(**_edit_kwargs(images_dir, source_path=None))


def test_visitor_errors_are_one_log_line_not_a_traceback(client, images_dir, test_output_dir):
    log = test_output_dir / "app_server.log"
    start = log.stat().st_size
    with pytest.raises(Exception, match="Upload a target-pose photo"):
        client.predict(**generate_kwargs(images_dir / "reference_img_0.png", None))
    for _ in range(50):  # the server writes its log line as it answers
        new = log.read_bytes()[start:].decode(errors="replace")
        if "visitor error" in new:
            break
        time.sleep(0.1)
    assert "mcld.app: visitor error: Upload a target-pose photo" in new
    assert "Traceback" not in new


def _raw_call(app_url: str, api_name: str, data: list) -> str:
    """One call over plain HTTP (no ``x-gradio-user`` header): POST, then the event stream's text."""
    import httpx

    with httpx.Client(timeout=60) as http:
        posted = http.post(f"{app_url.rstrip('/')}/gradio_api/call/{api_name}", json={"data": data})
        posted.raise_for_status()
        return http.get(f"{app_url.rstrip('/')}/gradio_api/call/{api_name}/{posted.json()['event_id']}").text


def test_api_only_endpoints_raise_for_raw_http_callers_too(app_url):
    # /pick_gallery_pose and /preview_target are never triggered by the page: their errors are
    # raised for every client, not only for gradio_client (which sends x-gradio-user: api).
    text = _raw_call(app_url, "pick_gallery_pose", ["no-such-pose"])
    assert "event: error" in text and "no-such-pose" in text and "t_pose" in text, text
    # A target_mode that is neither "photo" nor "gallery" is refused by the hidden Radio.
    text = _raw_call(app_url, "preview_target", ["pose", None, -1, "t_pose", False, False, None, -1])
    assert "event: error" in text and "'pose'" in text and "not in the list of choices" in text, text
    assert "event: complete" in _raw_call(app_url, "pick_gallery_pose", ["t_pose"])

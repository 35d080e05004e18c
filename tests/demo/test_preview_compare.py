"""mcld.demo.preview_target (the target pose Generate will use, CPU) and
compare_request (what Compare refuses before any GPU work)."""

from __future__ import annotations

import pickle

import pytest

from mcld.demo import TARGET_PHOTO, CompareRequest, DemoInputError, TargetMode, compare_request, grid_gpu_seconds, parsing_legend_html
from mcld.demo import preview_target
from mcld.grid import GridTooLargeError

SETTINGS = dict(num_inference_steps=1, guidance_scale=3.5, seed=42, scheduler="ddim", output_size="256x176")


def test_gallery_preview_is_the_iuv_with_one_note(services, images_dir):
    picture, note = preview_target(services, TargetMode.GALLERY, None, -1, "t_pose", True, False, None, -1)
    assert picture.shape == (512, 352, 3) and picture.any()
    assert note.startswith("Gallery pose **t_pose**: ") and "Mirrored." in note and "Aligned" not in note
    assert preview_target(services, "gallery", None, -1, "", False, False, None, -1) == (None, "Choose a pose in the gallery.")


def test_photo_preview_is_the_skeleton_in_the_crop_frame(services, images_dir):
    src, tgt = str(images_dir / "reference_img_0.png"), str(images_dir / "reference_img_1.png")
    picture, note = preview_target(services, "photo", tgt, -1, None, False, True, src, -1)
    assert picture.shape == (512, 352, 3) and picture.any()
    assert "1 person found in the target photo." in note and "Aligned to the source person." in note
    assert note.endswith("Its DensePose IUV is computed with Generate (one GPU call) and shown under Conditions.")
    assert preview_target(services, TargetMode.PHOTO, None, -1, "t_pose", False, False, None, -1) == (None, "")
    assert preview_target(services, None, None, -1, "t_pose", False, False, None, -1) == (None, "")
    with pytest.raises(DemoInputError, match="Target mode must be one of 'photo', 'gallery', not 'pose'"):
        preview_target(services, "pose", tgt, -1, None, False, False, None, -1)


def test_compare_refuses_bad_requests_before_any_work(services, options, images_dir):
    src = str(images_dir / "reference_img_0.png")
    with pytest.raises(DemoInputError, match=r"^Upload a source photo of a person first\.$"):
        compare_request(services, options, None, None, ["t_pose"], [("seed", "0,1")], SETTINGS)
    with pytest.raises(DemoInputError, match=r"^Choose at least one pose to compare\.$"):
        compare_request(services, options, src, None, [], [("seed", "0,1")], SETTINGS)
    with pytest.raises(DemoInputError, match=r"^Upload a target-pose photo in step 2 to compare it, or untick it\.$"):
        compare_request(services, options, src, None, [TARGET_PHOTO], [("seed", "0,1")], SETTINGS)
    poses = [p.name for p in services.gallery()][:2]
    axes = [("seed", "0,1,2,3,4,5"), ("guidance", "1,2,3,4,5,6")]
    with pytest.raises(GridTooLargeError, match="This grid has 72 images; at most 48 fit in one sheet"):
        compare_request(services, options, src, None, poses, axes, SETTINGS)
    axes = [("seed", "0,1,2,3,4,5"), ("guidance", "1,2,3,4")]
    with pytest.raises(GridTooLargeError, match=r"This grid of 48 images needs about \d+ s of GPU"):
        compare_request(services, options, src, None, poses, axes, dict(SETTINGS, num_inference_steps=100))


def test_a_compare_request_plans_one_gpu_call(services, options, images_dir):
    src, tgt = str(images_dir / "reference_img_0.png"), str(images_dir / "reference_img_1.png")
    request = compare_request(services, options, src, tgt, ["t_pose", TARGET_PHOTO], [("seed", "0,1"), ("none", "")], SETTINGS)
    assert isinstance(request, CompareRequest) and request.source == src
    assert request.targets[1] == tgt and request.targets[0].name == "t_pose" and request.photos == 1
    assert [a.name for a in request.axes] == ["seed"] and request.settings["pose_labels"] == ["t_pose", TARGET_PHOTO]
    assert request.settings["size"] == "256x176" and grid_gpu_seconds(request) > 0
    copy = pickle.loads(pickle.dumps(request))  # it crosses to the ZeroGPU worker
    assert copy.source == src and copy.targets[0].name == "t_pose" and copy.settings == request.settings


def test_parsing_legend_names_every_region():
    html = parsing_legend_html()
    assert html.startswith('<div id="parsing-legend-items"') and "upper garment</span>" in html and "background</span>" not in html

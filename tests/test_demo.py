"""mcld.demo: the results store, captions and status lines the Space shows."""

from __future__ import annotations

import os
import time

import pytest
from PIL import Image

from mcld.demo import DemoInputError, DemoOptions, NoResultsError, ResultsStore, TargetMode, caption, result_settings
from mcld.demo import status_line
from mcld.editing import RegionSelection
from mcld.pose_transfer import PoseTransfer


def test_results_folder_and_history_are_bounded(tmp_path):
    store = ResultsStore(tmp_path, max_files=3, max_history=2)
    stale = tmp_path / "mcld_tiny_old.png"
    stale.write_bytes(b"")
    day_ago = time.time() - store.max_age_s - 60
    os.utime(stale, (day_ago, day_ago))
    image = Image.new("RGB", (4, 4))
    settings = {"mode": "tiny", "seed": 1, "num_inference_steps": 1}
    history = []
    for k in range(5):
        history = store.save(image, settings, f"result {k}", history)
    files = sorted(tmp_path.glob("mcld_*.png"))
    assert not stale.exists(), "results older than max_age_s are deleted"
    assert len(files) == 4, "the 4 earlier saves are pruned down to 3 before the 5th is written"
    assert [c for _, c in history] == ["result 4", "result 3"]
    os.remove(history[0][0])
    history = store.save(image, settings, "result 5", history)
    assert [c for _, c in history] == ["result 5", "result 3"], "a pruned entry leaves the history"


def test_comparison_sheet_tiles_every_result_at_the_tallest_height(tmp_path):
    store = ResultsStore(tmp_path)
    with pytest.raises(NoResultsError, match="Generate a result first"):
        store.comparison_sheet([])
    history = []
    for seed, size in ((1, (176, 256)), (2, (352, 512))):
        history = store.save(Image.new("RGB", size), {"mode": "tiny", "seed": seed, "num_inference_steps": 1}, f"s{seed}", history)
    sheet_file = store.comparison_sheet(history)
    assert os.path.basename(sheet_file).startswith("mcld_sheet_2_results_")
    sheet = Image.open(sheet_file)
    assert sheet.width == 2 * (352 + 8) + 8 and sheet.height > 512 + 16
    os.remove(history[0][0])
    assert Image.open(store.comparison_sheet(history)).width == 176 + 16
    grid = store.save_image(Image.new("RGB", (30, 20)), "grid_4_images_")
    assert os.path.basename(grid).startswith("mcld_grid_4_images_") and Image.open(grid).size == (30, 20)


def test_options_and_target_mode():
    options = DemoOptions(tiny=True)
    assert options.num_inference_steps == 4 and DemoOptions().num_inference_steps == 20
    assert options.photo_labels == ("Source", "Photo 2", "Photo 3", "Photo 4", "Photo 5")
    assert options.texture_fill("clean fill") == "clean" and options.texture_fill("upstream") == "upstream"
    with pytest.raises(ValueError, match="Texture map must be one of upstream \\(default\\), clean fill, not 'x'"):
        options.texture_fill("x")
    assert TargetMode.of("gallery") is TargetMode.GALLERY and TargetMode.of(None) is TargetMode.PHOTO
    assert TargetMode.of(TargetMode.GALLERY) is TargetMode.GALLERY and TargetMode.of("photo") is TargetMode.PHOTO
    # Anything else is refused, naming the valid values (not silently the photo mode).
    for bad in ("Gallery", "", "pose", 1):
        with pytest.raises(DemoInputError, match=r"^Target mode must be one of 'photo', 'gallery', not "):
            TargetMode.of(bad)
    assert (options.guidance_scale, options.seed, options.scheduler) == (3.5, 42, "ddim")
    assert options.output_size == "512x352" and options.texture_map == "upstream (default)"


@pytest.fixture(scope="module")
def pt():
    return PoseTransfer.tiny(seed=0)


def test_captions_and_status_of_a_gallery_generation_and_an_edit(pt, images_dir):
    from mcld.annotators.human_parsing import HumanParser
    from mcld.gallery import load_gallery

    pose = load_gallery()[0]
    source = str(images_dir / "reference_img_0.png")
    job = pt.prepare(source, pose, mirror=True, num_inference_steps=1, seed=7, texture_fill="clean")
    result = pt.run(job)
    text = caption(job, result, "256x176")
    assert text.startswith("tiny | 256x176 | steps 1 | guidance 3.5 | seed 7 | ddim | mirror")
    assert f"gallery: {pose.name}" in text and "texture: clean fill" in text
    saved = result_settings(job, result, "256x176")
    assert saved["gallery_pose"] == pose.name and saved["target"] == "gallery" and saved["output_size"] == "256x176"
    assert status_line(job, result, "256x176").startswith(f"Done: {text}. Sampling took ")

    selection, used = RegionSelection.from_choices({"shoes": "Photo 2"}, ["Source", "Photo 2"])
    parser = HumanParser.from_pretrained("mediapipe-coarse")
    photo = str(images_dir / "reference_img_2.png")
    job = pt.prepare(source, pose, photos=[photo], selection=selection, parser=parser, num_inference_steps=1, seed=7)
    result = pt.run(job)
    assert caption(job, result, "512x352").startswith("tiny | edit (shoes: Photo 2) | 512x352 | steps 1")
    assert result_settings(job, result, "512x352")["regions"] == {"shoes": "Photo 2"}
    assert status_line(job, result, "512x352").startswith("Done: tiny | edit (shoes: Photo 2)")

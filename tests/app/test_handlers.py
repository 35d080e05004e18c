"""The app's handlers in-process (tiny weights): state across events, error
paths, the results folder's bound, locks and the ``spaces.GPU`` durations."""

from __future__ import annotations

import inspect
import os

import gradio as gr
import pytest
from PIL import Image


def _no_progress(*args, **kwargs) -> None:
    """Stands in for ``gr.Progress`` outside a Gradio event."""


def _generate_args(images_dir, **changes) -> list:
    args = dict(
        source_path=str(images_dir / "reference_img_0.png"), source_person=-1, target_mode="gallery",
        target_path=None, target_person=-1, gallery_pose="t_pose", mirror=False, align=False,
        num_inference_steps=1, guidance_scale=3.5, seed=0, scheduler="ddim", output_size="256x176",
        texture_map="upstream (default)", history=[],
    )  # fmt: skip
    args.update(changes)
    return [*args.values(), _no_progress]


def test_person_index_from_another_photo_is_a_readable_error(app_module, images_dir):
    # Person 3 chosen in a group photo, then a one-person photo: no IndexError
    # or "person_index out of range", but a sentence for the visitor.
    with pytest.raises(gr.Error, match=r"Person 3 was chosen, but 1 person was found in the source photo"):
        app_module.generate(*_generate_args(images_dir, source_person=2))


def test_new_upload_resets_the_chosen_person_in_the_browser(app_module):
    # Generate may be clicked before detect_* returns: the hidden index must
    # not still name a person of the previous photo.
    demo = app_module.build_demo()
    config = demo.get_config_file()
    ids = {c["props"].get("elem_id"): c["id"] for c in config["components"]}
    index_ids = {c["props"]["label"]: c["id"] for c in config["components"] if "person index" in str(c["props"].get("label"))}
    resets = {
        (dep["targets"][0][0], tuple(dep["outputs"]))
        for dep in config["dependencies"]
        if dep.get("js") and dep["js"].replace(" ", "") == "()=>-1" and not dep.get("backend_fn")
    }
    assert (ids["source-image"], (index_ids["Source person index"],)) in resets
    assert (ids["target-image"], (index_ids["Target person index"],)) in resets


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("seed", None, "Seed is empty"), ("num_inference_steps", 0, "num_inference_steps must be in 1..100")],
)
def test_bad_advanced_settings_are_readable_errors(app_module, images_dir, field, value, message):
    with pytest.raises(gr.Error, match=message):
        app_module.generate(*_generate_args(images_dir, **{field: value}))


def test_pick_on_an_unreadable_file_is_a_readable_error(app_module, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(gr.Error, match="not an image we can read"):
        app_module.pick_source(str(bad), 10, 10)
    with pytest.raises(gr.Error, match="not an image we can read"):
        app_module.pick_target(str(bad), 10, 10)


def test_click_on_an_overlay_still_loading_asks_to_click_again(app_module, images_dir):
    # The browser sends index [null, null] for a click on an image that has not loaded yet.
    photo = str(images_dir / "reference_img_0.png")
    assert app_module.click_position(gr.SelectData(None, {"index": [None, None], "value": None})) == (None, None)
    with pytest.raises(gr.Error, match="still loading: click the person again"):
        app_module.pick_source(photo, None, None)
    with pytest.raises(gr.Error, match="still loading"):
        app_module.pick_target(photo, None, 5)
    x, y = app_module.click_position(gr.SelectData(None, {"index": [100, 120], "value": None}))
    overlay, index, note = app_module.pick_source(photo, x, y)
    assert (x, y) == (100.0, 120.0) and index == 0 and "1 person" in note


def test_unknown_gallery_pose_lists_the_valid_names(app_module):
    names = [p.name for p in app_module._gallery()]
    with pytest.raises(gr.Error) as info:
        app_module.pick_gallery_pose("T-pose-that-is-not-there")
    assert all(name in info.value.message for name in names), info.value.message
    assert app_module.pick_gallery_pose(names[0]) == (names[0], "gallery")


def test_the_gpu_duration_takes_the_gpu_functions_arguments(app_module):
    function = inspect.unwrap(app_module.run_on_gpu)
    assert inspect.signature(app_module._gpu_seconds).parameters.keys() == inspect.signature(function).parameters.keys()
    function = inspect.unwrap(app_module._grid_on_gpu)
    assert inspect.signature(app_module._grid_seconds).parameters.keys() == inspect.signature(function).parameters.keys()


def test_gradio_upload_cache_is_swept_like_the_results_folder(app_module):
    # Gradio keeps every upload and served output in its own cache; without
    # delete_cache that folder grows for as long as the Space runs.
    frequency, age = app_module.build_demo().delete_cache
    assert 0 < frequency <= age == app_module.STORE.max_age_s


def test_comparison_sheet_puts_the_results_side_by_side(app_module, images_dir, tmp_path, monkeypatch):
    from mcld.demo import ResultsStore

    monkeypatch.setattr(app_module, "STORE", ResultsStore(tmp_path))
    with pytest.raises(gr.Error, match="Generate a result first"):
        app_module.comparison_sheet([])
    history = []
    for seed, size in ((1, "256x176"), (2, "512x352")):
        history = app_module.generate(*_generate_args(images_dir, seed=seed, output_size=size, history=history))[1]
    sheet_file = app_module.comparison_sheet(history)
    assert os.path.basename(sheet_file).startswith("mcld_sheet_2_results_")
    sheet = Image.open(sheet_file)
    # Two tiles at the taller result's full size (a 256x176 result scaled up to 512x352), captions under them.
    assert sheet.width == 2 * (352 + 8) + 8 and sheet.height > 512 + 16
    # A result whose file is gone leaves the sheet instead of breaking it.
    os.remove(history[0][0])
    assert Image.open(app_module.comparison_sheet(history)).width == 176 + 16

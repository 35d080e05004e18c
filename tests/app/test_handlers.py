"""The app's handlers in-process (tiny weights), through app.py's public
names: the page's reset events, the ``spaces.GPU`` durations, the Gradio
cache sweep and the comparison sheet of a visitor's results. (The logic
behind the handlers is tested through :mod:`mcld.demo` in ``tests/demo``.)"""

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


def test_the_gpu_duration_takes_the_gpu_functions_arguments(app_module):
    # spaces.GPU(duration=f) calls f with the GPU function's own arguments.
    from mcld.demo import grid_gpu_seconds, job_gpu_seconds

    function = inspect.unwrap(app_module.run_on_gpu)
    assert inspect.signature(job_gpu_seconds).parameters.keys() == inspect.signature(function).parameters.keys()
    function = inspect.unwrap(app_module.run_grid_on_gpu)
    assert inspect.signature(grid_gpu_seconds).parameters.keys() == inspect.signature(function).parameters.keys()


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


def test_target_mode_is_a_state_for_the_browser_and_a_parameter_for_the_api(app_module):
    # The browser's Generate, edit and preview read the mode from one gr.State (set by the
    # tabs and a gallery pick); the public endpoints take it as their `target_mode` value.
    demo = app_module.build_demo()
    config = demo.get_config_file()
    types = {c["id"]: c["type"] for c in config["components"]}
    props = {c["id"]: c.get("props", {}) for c in config["components"]}
    deps = {d["api_name"]: d for d in config["dependencies"]}
    queues = {f.api_name: f.concurrency_id for f in demo.fns.values()}
    mode = deps["generate_click"]["inputs"][2]  # source_image, source_person, target_mode, ...
    assert types[mode] == "state"
    browser = {"generate": "generate_click", "edit": "edit_click", "preview_target": "preview_target_browser"}
    for name, click in browser.items():
        assert deps[click]["api_visibility"] == "private" and mode in deps[click]["inputs"], click
        public = deps[name]
        assert public["api_visibility"] == "public" and mode not in public["inputs"], name
        # The API's target_mode: a hidden Radio of the two modes (a public component, no Gradio internal).
        api_mode = [i for i in public["inputs"] if props[i].get("label") == "target_mode"]
        assert len(api_mode) == 1 and types[api_mode[0]] == "radio" and props[api_mode[0]]["visible"] is False, name
        assert [c[1] for c in props[api_mode[0]]["choices"]] == ["photo", "gallery"], name
        assert public["targets"] == [], f"{name} is an API endpoint only (no element triggers it)"
        assert queues[name] == queues[click], f"{name} and {click} must share one queue"
    assert mode in deps["pick_gallery_pose_click"]["outputs"]
    assert types[deps["pick_gallery_pose"]["outputs"][1]] == "radio"
    assert queues["pick_gallery_pose"] == queues["pick_gallery_pose_click"]
    # One handler per gallery click (name and mode together): nothing chained after it.
    click = deps["pick_gallery_pose_click"]
    assert click["outputs"] == [deps["pick_gallery_pose"]["outputs"][0], mode]
    assert not [d for d in config["dependencies"] if d["trigger_after"] == click["id"]]
    # The target preview follows a new target photo too (not only a new person index).
    photo = deps["detect_target"]["inputs"][0]
    assert [photo, "change"] in [list(t) for t in deps["preview_target_browser"]["targets"]]
    tab_setters = [d for d in config["dependencies"] if d["targets"] and types.get(d["targets"][0][0]) == "tabitem"]
    assert len(tab_setters) == 2 and all(d["outputs"] == [mode] for d in tab_setters), tab_setters


def test_examples_run_on_click_uncached_and_failures_become_a_status_line(app_module):
    # Offline (HF_HUB_OFFLINE=1): the scikit-image photos, said by the table's label; the
    # "could not be fetched" sentence sits just above the table, not under the title.
    demo = app_module.build_demo()
    config = demo.get_config_file()
    by_elem = {c["props"].get("elem_id"): c for c in config["components"] if c.get("props", {}).get("elem_id")}
    tables = [c for c in config["components"] if c["type"] == "dataset"]
    assert len(tables) == 1 and tables[0]["props"]["label"] == "Examples (offline: scikit-image photos; see examples/README.md)"
    note = by_elem["examples-note"]
    assert "could not be fetched" in note["props"]["value"] and "scikit-image sample photos instead" in note["props"]["value"]
    assert by_elem["weights-status"]["id"] < by_elem["results"]["id"] < note["id"] < tables[0]["id"]
    said = [c["id"] for c in config["components"] if "DeepFashion example photos" in str(c.get("props", {}).get("value"))]
    assert said == [note["id"]], "the examples' fetch note is said once, just above the table"
    runs = [f for f in demo.fns.values() if f.name == "generate_example"]
    assert len(runs) == 1 and runs[0].api_visibility != "public"
    assert not any("cache" in (f.name or "") for f in demo.fns.values()), "examples must not be cached"
    # A failing example run (here: no source) leaves the results and conditions as they were.
    out = runs[0].fn(None, None, _no_progress)
    assert len(out) == 8 and all(isinstance(o, type(gr.skip())) for o in out[:7])
    assert out[7] == "⚠️ Upload a source photo of a person first."

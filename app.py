"""MCLD pose transfer: Gradio Space.

A photo of a person (source) + a target pose (a photo, or the pose gallery) ->
the same person in that pose; "Edit regions" takes the face, hair, garments,
shoes, appearance and identity from other photos. All logic lives in
:mod:`mcld` and :mod:`mcld.demo`; this file is the UI: handlers first, layout
top to bottom, wiring after, ``launch()`` last. MediaPipe, crops, the face
embedding and parsing run on the CPU in the handlers; only DensePose, the UV
texture and sampling run inside the ``spaces.GPU`` functions.

Run ``python app.py`` (real weights, fetched on first use) or
``MCLD_TINY=1 python app.py`` / ``python app.py --tiny`` (tiny random weights:
the whole path runs offline, outputs are noise).
"""

from __future__ import annotations

import logging
import os
import random
import sys
from types import SimpleNamespace

import gradio as gr
import spaces

from mcld.demo import COMPARE_AXES, TARGET_PHOTO, DemoOptions, DemoServices, ResultsStore, RunRequest, TargetMode
from mcld.demo import api_endpoint, api_value, click_position as click_xy, compare_request, compare_status
from mcld.demo import condition_pictures, detect_photo, edit_job_args, example_rows, examples_label, grid_gpu_seconds
from mcld.demo import job_gpu_seconds
from mcld.demo import parse_photo as parse_person_photo, parsing_legend_html, pick_in_photo, preview_target as preview
from mcld.demo import readable, run_compare, run_job, save_result, startup_status_markdown, visitor_error
from mcld.editing import REGION_LABELS, SAME_AS_FACE
from mcld.gallery import gallery_thumbnail
from mcld.gradio_photo import PhotoInput
from mcld.image_utils import MAX_FILE_BYTES
from mcld.schedulers import SCHEDULERS

TINY = os.environ.get("MCLD_TINY", "").lower() in {"1", "true", "yes"} or "--tiny" in sys.argv
TINY_BANNER = "Tiny random weights: outputs are noise, for testing the pipeline only"
#: Result captions carry the settings: let them wrap (Gradio's gallery caption is one
#: ellipsised line); start the results grid below the label, which covered the thumbnails.
CSS = (
    "#results .caption-label { white-space: normal; max-width: calc(100% - 8px); }\n"
    "#results .grid-wrap { padding-top: var(--size-8); }\n"
    "#pose-gallery .caption-label { white-space: normal; max-width: calc(100% - 8px); position: static; }"
)
#: What the demo offers (defaults and choices) and where it keeps its results.
OPTIONS = DemoOptions(tiny=TINY)
LOGGER = logging.getLogger("mcld.app")
STORE = ResultsStore()
#: The models, locator, parser and gallery, each built once (the app's one instance).
SERVICES = DemoServices(OPTIONS, logger=LOGGER)
#: Gradio's own cache (uploads, and outputs copied for serving): every hour,
#: delete the files older than the results' age limit (``gr.Blocks(delete_cache=...)``).
GRADIO_CACHE_SWEEP = (3600, int(STORE.max_age_s))
#: The ``/edit`` region dropdowns, in their order (face ... shoes in the first row).
EDIT_FIELDS = ("face", "hair", "upper_garment", "lower_garment", "shoes")


# ----------------------------------------------------------------- GPU calls
@spaces.GPU(duration=job_gpu_seconds)
@readable
def run_on_gpu(job, progress=None):
    """The GPU half of Generate and Generate edit (:func:`mcld.demo.run_job`):
    a picklable :class:`~mcld.conditions.Job` in, a picklable result out."""
    return run_job(SERVICES.pose_transfer(), job, progress)


@spaces.GPU(duration=grid_gpu_seconds)
@readable
def run_grid_on_gpu(request, progress=None):
    """A whole Compare grid in one GPU call (:func:`mcld.demo.run_compare`)."""
    return run_compare(SERVICES.pose_transfer(), request, progress)


# ----------------------------------------------------------------- handlers
@readable
def detect_source(source_path):
    """Find the people in the source photo; draw them; pick the largest.
    Returns ``(overlay, person_index, note)`` (:func:`mcld.demo.detect_photo`);
    raises ``gr.Error`` for an unusable file or nobody found."""
    return detect_photo(SERVICES.locator(), source_path, "source")


@readable
def detect_target(target_path):
    """Find the people in the target photo, draw them, pick the largest (CPU,
    no GPU call: the preview follows from :func:`preview_target`)."""
    return detect_photo(SERVICES.locator(), target_path, "target")


def click_position(evt: gr.SelectData):
    """A click on an overlay -> ``(x, y)`` in photo pixels, for the pick
    endpoints (``(None, None)`` for an image still loading)."""
    return click_xy(getattr(evt, "index", None))


@readable
def pick_source(source_path, x, y):
    """Choose the source person at ``(x, y)`` photo pixels (a click on the
    overlay); returns as :func:`detect_source`. Raises ``gr.Error`` for no
    photo, an unusable file, nobody found, or no coordinates."""
    return pick_in_photo(SERVICES.locator(), source_path, x, y, "source")


@readable
def pick_target(target_path, x, y):
    """Choose the target-pose person at a point of the photo; as :func:`pick_source`."""
    return pick_in_photo(SERVICES.locator(), target_path, x, y, "target")


@readable
def preview_target(target_mode, target_path, target_person, gallery_pose, mirror, align, source_path, source_person):
    """The target pose exactly as Generate will use it, drawn on the CPU (no
    GPU call): a gallery pose as its IUV, a photo's person as a skeleton
    (:func:`mcld.demo.preview_target`; ``target_mode``: ``"photo"`` or ``"gallery"``).
    Returns ``(picture, note)``: ``(512, 352, 3)`` uint8 RGB (or ``None``)
    and a note; raises ``gr.Error`` (unusable file, nobody found, unknown pose)."""
    return preview(SERVICES, target_mode, target_path, target_person, gallery_pose, mirror, align, source_path, source_person)


@readable
def pick_gallery_click(evt: gr.SelectData):
    """A click on a gallery thumbnail -> ``(that pose's name, "gallery")``, in
    one handler (one message when the click cannot be read)."""
    poses = SERVICES.gallery()
    index = getattr(evt, "index", None)
    if not isinstance(index, int) or not 0 <= index < len(poses):
        raise visitor_error("Click a pose in the gallery again.")
    return poses[index].name, TargetMode.GALLERY


@readable
def pick_gallery_pose(gallery_pose):
    """Make a gallery pose the target: ``(gallery_pose, target_mode)``, the
    name and ``"gallery"`` (``gr.Error`` for an unknown name, listing the valid ones)."""
    return SERVICES.gallery_pose(gallery_pose).name, TargetMode.GALLERY


def randomize_seed():
    """A fresh random seed."""
    return random.randint(0, 2**31 - 1)


@readable
def generate(
    source_path, source_person, target_mode, target_path, target_person, gallery_pose, mirror, align,
    num_inference_steps, guidance_scale, seed, scheduler, output_size, texture_map, history, progress=gr.Progress()
):  # fmt: skip
    """Generate the source person in the target pose; the result goes first in the results.

    The arguments are :class:`mcld.demo.RunRequest`'s fields, then the
    visitor's ``history`` (``[(png_path, caption), ...]``, newest first).
    :meth:`~mcld.demo.RunRequest.prepare` runs on the CPU; :func:`run_on_gpu`
    gets the Job (DensePose, texture and sampling).

    Returns:
        ``(gallery, history, source_skeleton, source_iuv, texture, face_crop,
        target_skeleton, target_iuv, status)``.

    Raises:
        gr.Error: missing input, bad settings, unusable file, nobody found.
    """
    request = RunRequest.of(locals())
    request.check(OPTIONS, "Upload a source photo of a person first.")
    job = request.prepare(SERVICES, OPTIONS, progress)
    progress(0, desc="DensePose, texture and sampling")
    result = run_on_gpu(job, progress)
    history, status = save_result(STORE, job, result, output_size, history)
    return (history, history, *condition_pictures(result), status)


@readable
def parse_photo(photo_path, person_index=-1, label="Source"):
    """Parse the person of a photo (the crop the edit uses) and draw the regions.

    Returns the ``(512, 352, 3)`` overlay and a note naming the parser
    ("coarse parsing (MediaPipe)" for the fallback) and the regions found.
    """
    return parse_person_photo(SERVICES, photo_path, person_index, label)


@readable
def edit_regions(
    source_path, source_person, photo_2, photo_3, photo_4, photo_5, face, hair, upper_garment, lower_garment,
    shoes, appearance, identity, parsing_attention, target_mode, target_path, target_person, gallery_pose, mirror,
    align, num_inference_steps, guidance_scale, seed, scheduler, output_size, texture_map, history,
    progress=gr.Progress()
):  # fmt: skip
    """Region editing: the source person with regions from other photos (each
    dropdown names a photo), in the target pose; the result goes first in the
    results. Returns ``(gallery, history, composed_texture, status)``; raises
    ``gr.Error`` as :func:`generate`, and for a region from an empty photo slot."""
    args = dict(locals())
    request = RunRequest.of(args)
    request.check(OPTIONS, "Upload a source photo of a person first (step 1).")
    choices = {field: args[field] for field in (*EDIT_FIELDS, "appearance", "identity")}
    paths = [source_path, photo_2, photo_3, photo_4, photo_5]
    job = request.prepare(SERVICES, OPTIONS, progress, **edit_job_args(SERVICES, OPTIONS, paths, choices, parsing_attention))
    progress(0, desc="DensePose, textures and sampling")
    result = run_on_gpu(job, progress)
    history, status = save_result(STORE, job, result, output_size, history)
    return history, history, result.composed.texture, status


@readable
def compare(source_path, target_path, poses, axis_1, values_1, axis_2, values_2, num_inference_steps, guidance_scale, seed,
            scheduler, output_size, progress=gr.Progress()):  # fmt: skip
    """Poses (columns) x up to two axes of settings (rows, column split) in one
    captioned sheet, one GPU call (:func:`mcld.demo.compare_request`). Returns
    ``(sheet_path, status)`` (the sheet's size and headers); ``gr.Error`` for no
    source or pose, bad axis values, or a grid too large for one GPU call."""
    settings = dict(num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, seed=seed, scheduler=scheduler)
    axes = [(axis_1, values_1), (axis_2, values_2)]
    request = compare_request(SERVICES, OPTIONS, source_path, target_path, poses, axes, dict(settings, output_size=output_size))
    return compare_status(STORE, run_grid_on_gpu(request, progress))


@readable
def comparison_sheet(history):
    """All of the visitor's results in one captioned PNG, newest first
    (:meth:`mcld.demo.ResultsStore.comparison_sheet`; ``gr.Error`` before any result)."""
    return STORE.comparison_sheet(history)


def add_edit_photo(count):
    """Show one more extra-photo slot: the new count, a visibility update per
    slot column, and one for the "+ Add photo" column (hidden once all show)."""
    count = min(int(count) + 1, OPTIONS.max_edit_photos)
    columns = [gr.Column(visible=k < count) for k in range(OPTIONS.max_edit_photos)]
    return count, *columns, gr.Column(visible=count < OPTIONS.max_edit_photos)


def generate_example(source_path, target_path, progress=gr.Progress()):
    """Example runner (run on click, not cached): default settings, photo target;
    :func:`generate`'s outputs without the history state (raises as :func:`generate`)."""
    out = generate(
        source_path, -1, TargetMode.PHOTO, target_path, -1, None, False, False, OPTIONS.num_inference_steps,
        OPTIONS.guidance_scale, OPTIONS.seed, OPTIONS.scheduler, OPTIONS.output_size, OPTIONS.texture_map, [], progress,
    )  # fmt: skip
    return (out[0], *out[2:])


# ------------------------------------------------------------------- layout
def _header(ui) -> None:
    """Title, tiny banner and start-up status (details folded)."""
    gr.Markdown(
        "# MCLD: pose-guided person image synthesis\n"
        "Upload a photo of a person, choose a target pose, press **Generate**. "
        "Paper: *Multi-focal Conditioned Latent Diffusion for Person Image Synthesis* (CVPR 2025)."
    )
    if TINY:
        gr.Markdown(f"⚠️ **{TINY_BANNER}.**", elem_id="tiny-banner")
    startup = SERVICES.startup
    gr.Markdown(startup_status_markdown(startup, details=False), elem_id="weights-status")
    if startup.failed:
        with gr.Accordion(f"Start-up: {len(startup.failed)} part(s) did not load (details)", open=False, elem_id="startup-details"):
            gr.Markdown(startup_status_markdown(startup, details=True, head=False), elem_id="startup-failed")


def _photo_picker(ui, what: str, label: str) -> None:
    """A photo, its people overlay and the hidden person index and click point (``ui.<what>_...``)."""
    with gr.Row():
        setattr(ui, f"{what}_image", PhotoInput(label=label, height=300, elem_id=f"{what}-image"))
        overlay = gr.Image(label="Detected people (click one to choose)", interactive=False, height=300, elem_id=f"{what}-overlay")
        setattr(ui, f"{what}_overlay", overlay)
    if what == "source":
        ui.source_note = gr.Markdown(label="Source note", elem_id="source-note")
    name = what.capitalize()
    setattr(ui, f"{what}_person", gr.Number(value=-1, precision=0, visible=False, label=f"{name} person index"))
    setattr(ui, f"{what}_x", gr.Number(value=None, visible=False, label=f"{name} click x (photo pixels)"))
    setattr(ui, f"{what}_y", gr.Number(value=None, visible=False, label=f"{name} click y (photo pixels)"))


def _target_section(ui) -> None:
    """Step 2: the target pose from a photo or the gallery; the mode lives in ``ui.target_mode`` (a ``gr.State``)."""
    gr.Markdown("### 2. Target pose")
    ui.target_mode = gr.State(TargetMode.PHOTO)
    with gr.Tabs():
        with gr.Tab("From a photo", id="photo-tab") as ui.photo_tab:
            _photo_picker(ui, "target", "Target-pose photo")
        with gr.Tab("Gallery", id="gallery-tab") as ui.gallery_tab:
            gr.Markdown("Click a pose; its name is what the API's `gallery_pose` takes.", elem_id="pose-gallery-note")
            ui.pose_gallery = gr.Gallery(
                value=[(gallery_thumbnail(p, 256), f"{p.name} · {p.iuv_note}") for p in ui.poses], label="Pose gallery",
                show_label=False, columns=3, height="auto", allow_preview=False, object_fit="contain", elem_id="pose-gallery",
            )  # fmt: skip
            ui.gallery_pose = gr.Textbox(label="Chosen gallery pose", interactive=False, elem_id="gallery-pose")
    ui.target_note = gr.Markdown(label="Target note", elem_id="target-note")


def _run_section(ui) -> None:
    """Steps 1 and 2 side by side, then the pose Generate uses, Mirror/Align, Generate and its status."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            gr.Markdown("### 1. Source person")
            _photo_picker(ui, "source", "Source photo")
        with gr.Column(scale=4):
            _target_section(ui)
        with gr.Column(scale=2, min_width=240):
            ui.target_iuv = gr.Image(label="Target pose Generate uses", interactive=False, height=300, elem_id="target-iuv")
            with gr.Row():
                ui.mirror = gr.Checkbox(label="Mirror", info="Flip the pose left-right", elem_id="mirror")
                ui.align = gr.Checkbox(label="Align to source", info="Scale and move the pose to the source person", elem_id="align")
            ui.generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
            ui.run_status = gr.Markdown(label="Status", elem_id="run-status")


def _edit_photo_column(ui, k: int, label: str) -> None:
    """One extra photo of the edit (``Photo k``): upload, parsing overlay, note."""
    with gr.Column(visible=k == 2, scale=0, min_width=220) as column:
        gr.Markdown(f"**{label}**")
        ui.edit_photos.append(PhotoInput(label=label, height=200, elem_id=f"edit-photo-{k}"))
        parsing = gr.Image(label=ui.parsing_title, interactive=False, height=330, buttons=["fullscreen"], elem_id=f"edit-parsing-{k}")
        ui.edit_parsings.append(parsing)
        ui.edit_notes.append(gr.Markdown(label=f"{label} parsing note", elem_id=f"edit-parsing-note-{k}"))
    ui.photo_columns.append(column)


def _edit_photos(ui) -> None:
    """The source column and the extra photo slots, then the parsing legend."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=0, min_width=220):
            gr.Markdown("**Source**")
            ui.edit_source_photo = gr.Image(label="Source photo (step 1)", interactive=False, height=200, buttons=[], elem_id="edit-photo-1")
            ui.source_parsing = gr.Image(
                label=ui.parsing_title, interactive=False, height=330, buttons=["fullscreen"], elem_id="edit-parsing-1"
            )  # fmt: skip
            ui.source_parsing_note = gr.Markdown(label="Parsing note", elem_id="edit-parsing-note-1")
        ui.photo_columns, ui.edit_photos, ui.edit_parsings, ui.edit_notes = [], [], [], []
        for k, label in enumerate(OPTIONS.photo_labels[1:], start=2):
            _edit_photo_column(ui, k, label)
        with gr.Column(scale=0, min_width=150) as ui.add_photo_column:
            ui.add_photo_button = gr.Button("+ Add photo", variant="secondary", elem_id="edit-add-photo")
    gr.HTML(parsing_legend_html(), elem_id="parsing-legend")


def _edit_choices(ui) -> None:
    """Which photo each region comes from (``ui.edit_dropdowns``, in ``/edit``'s order) and parsing attention."""
    labels = list(OPTIONS.photo_labels)
    with gr.Row():
        ui.edit_dropdowns = {
            f: gr.Dropdown(labels, value="Source", label=REGION_LABELS[f], min_width=140, elem_id=f"edit-{f.replace('_', '-')}")
            for f in EDIT_FIELDS
        }  # fmt: skip
    with gr.Row():
        ui.edit_dropdowns["appearance"] = gr.Dropdown(
            labels, value="Source", label=REGION_LABELS["appearance"],
            info="Whose whole crop the CLIP image encoder sees (overall look and colours)", elem_id="edit-appearance",
        )  # fmt: skip
        ui.edit_dropdowns["identity"] = gr.Dropdown(
            [SAME_AS_FACE, *labels], value=SAME_AS_FACE, label=REGION_LABELS["identity"],
            info="Whose insightface embedding gives the identity tokens", elem_id="edit-identity",
        )  # fmt: skip
        ui.parsing_attention = gr.Checkbox(
            label="Parsing-guided reference attention (TruePose-style, no training)",
            info="Each body region reads only the photo it comes from (one reference per photo)",
            elem_id="edit-parsing-attention",
        )


def _edit_section(ui) -> None:
    """Step 3 (folded): extra photos, which photo each region comes from, Generate edit."""
    with gr.Accordion("3. Edit regions (optional): face, hair and garments from other photos", open=False, elem_id="edit-regions"):
        gr.Markdown(
            "Add photos of other people, then choose which photo each region comes from. "
            "**Source** is the photo of step 1; the target pose (step 2) and the Advanced settings are shared "
            "with Generate. Each photo's largest person is used; the coloured overlay is its parsing "
            "(which pixels count as face, hair, garments...)."
        )
        _edit_photos(ui)
        ui.edit_photo_count = gr.State(1)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                _edit_choices(ui)
                ui.edit_button = gr.Button("Generate edit", variant="primary", elem_id="edit-generate")
            with gr.Column(scale=1, min_width=220):
                ui.edit_texture = gr.Image(label="Composed UV texture (last edit)", interactive=False, height=300, elem_id="edit-texture")


def _compare_section(ui) -> None:
    """Step 4 (folded): poses x up to two axes of settings, one sheet."""
    with gr.Accordion("4. Compare: poses x settings in one sheet", open=False, elem_id="compare"):
        gr.Markdown(
            "The source of step 1 in up to 6 poses (columns) and up to 2 axes of settings (rows, column split); "
            "every image uses the Advanced settings except the axes' own. One GPU call for the whole grid."
        )
        names = [p.name for p in ui.poses]
        ui.compare_poses = gr.CheckboxGroup([TARGET_PHOTO, *names], value=names[:2], label="Poses (columns)", elem_id="compare-poses")
        with gr.Row():
            ui.compare_axis_1 = gr.Dropdown(list(COMPARE_AXES), value="seed", label="Rows", elem_id="compare-axis-1")
            ui.compare_values_1 = gr.Textbox("0,1", label="Row values (comma-separated)", elem_id="compare-values-1")
            ui.compare_axis_2 = gr.Dropdown(list(COMPARE_AXES), value="none", label="Column split", elem_id="compare-axis-2")
            ui.compare_values_2 = gr.Textbox("", label="Split values", elem_id="compare-values-2")
        ui.compare_button = gr.Button("Run grid", variant="primary", elem_id="compare-run")
        ui.compare_status = gr.Markdown(label="Compare status", elem_id="compare-status")
        ui.compare_sheet = gr.Image(label="Comparison grid", interactive=False, type="filepath", format="png", elem_id="compare-sheet")


def _results_section(ui) -> None:
    """The visitor's results (newest first) and the comparison-sheet button."""
    ui.results = gr.Gallery(
        label="Results (newest first; caption = settings; download with the button)", columns=4, fit_columns=False,
        height="auto", preview=False, object_fit="contain", format="png", elem_id="results",
    )  # fmt: skip
    ui.history = gr.State([])
    with gr.Row(equal_height=False):
        ui.sheet_button = gr.Button(
            "Comparison sheet: all results in one PNG", variant="secondary", size="sm", scale=0, min_width=300, elem_id="sheet-button"
        )  # fmt: skip
        ui.sheet_file = gr.File(label="Comparison sheet", interactive=False, visible=False, elem_id="sheet-file")


def _advanced_section(ui) -> None:
    """Advanced (folded): steps, guidance, seed, scheduler, output size, texture map."""
    with gr.Accordion("Advanced", open=False, elem_id="advanced"):
        with gr.Row():
            ui.steps = gr.Slider(
                1, 100, value=OPTIONS.num_inference_steps, step=1, label="Steps", info="Denoising steps (paper: 20)", elem_id="steps"
            )  # fmt: skip
            ui.guidance = gr.Slider(0.0, 20.0, value=OPTIONS.guidance_scale, step=0.1, label="Guidance", info="Classifier-free guidance (paper: 3.5)")
        with gr.Row():
            ui.seed = gr.Number(value=OPTIONS.seed, precision=0, minimum=0, label="Seed", elem_id="seed")
            ui.seed_button = gr.Button("Randomise seed", size="sm")
            ui.scheduler = gr.Dropdown(list(SCHEDULERS), value=OPTIONS.scheduler, label="Scheduler", info="ddim is what the paper uses")
            ui.output_size = gr.Radio(list(OPTIONS.output_sizes), value=OPTIONS.output_size, label="Output size")
            ui.texture_map = gr.Radio(
                list(OPTIONS.texture_maps), value=OPTIONS.texture_map, label="Texture map",
                info="How the UV texture map's unseen parts are filled: upstream MCLD's rule, or a clean fill",
                elem_id="texture-map",
            )  # fmt: skip


def _conditions_section(ui) -> None:
    """Conditions (folded): what the model saw in the last Generate, then the
    examples (their label names the photo set; a note above them says what could not be fetched)."""
    with gr.Accordion("Conditions (what the model sees)", open=False, elem_id="conditions"):
        labels = ("Source skeleton", "Source IUV", "UV texture map", "Face crop", "Target skeleton", "Target IUV")
        ui.conditions = []
        for row in (labels[:3], labels[3:]):
            with gr.Row():
                ui.conditions += [gr.Image(label=label, interactive=False, height=300) for label in row]
    if ui.examples_message:
        gr.Markdown(f"ℹ️ {ui.examples_message}", elem_id="examples-note")
    outputs = [ui.results, *ui.conditions, ui.run_status]
    # Not cached: a cache would keep whatever the first run returned (an error too), whatever the mode.
    gr.Examples(
        examples=ui.example_rows, inputs=[ui.source_image, ui.target_image], outputs=outputs,
        fn=readable(generate_example, outputs=len(outputs), status=len(outputs) - 1), cache_examples=False, run_on_click=True,
        api_name=False, label=examples_label(ui.example_rows), examples_per_page=6,
    )  # fmt: skip


# ------------------------------------------------------------------- wiring
# Failures of browser events never leave an output in an error state (readable(outputs=...)):
# one toast and the section's status line say what went wrong. Those handlers never raise, so a
# chained step runs after a failed one too (`.then`) and says nothing more (toast=False).
# The API-only twins (ui.api) raise their gr.Error, sharing their browser event's queue.
PRIVATE = dict(api_visibility="private")


def _wire_people(ui) -> None:
    """Uploads, clicks on the overlays and the gallery, and the target preview."""
    source_outputs = [ui.source_overlay, ui.source_person, ui.source_note]
    target_outputs = [ui.target_overlay, ui.target_person, ui.target_note]
    parse = readable(parse_photo, outputs=2, status=1, toast=False)
    parsed = [ui.source_parsing, ui.source_parsing_note]
    # A new upload resets the chosen person at once, in the browser: a Generate clicked
    # before detection returns must not use an index of the previous photo (-1 = the largest).
    for photo, person in ((ui.source_image, ui.source_person), (ui.target_image, ui.target_person)):
        photo.change(None, None, person, js="() => -1", queue=False, **PRIVATE)
    ui.source_image.change(readable(detect_source, outputs=3, status=2), ui.source_image, source_outputs, api_name="detect_source").then(
        parse, [ui.source_image, ui.source_person], parsed, api_name="parse_photo"
    )  # fmt: skip
    ui.source_image.change(lambda path: path, ui.source_image, ui.edit_source_photo, api_name="edit_source_photo", **PRIVATE)
    # A click on an overlay: its (x, y) in photo pixels, then the pick endpoint with explicit coordinates.
    ui.source_overlay.select(click_position, None, [ui.source_x, ui.source_y], **PRIVATE).then(
        readable(pick_source, outputs=3, status=2), [ui.source_image, ui.source_x, ui.source_y], source_outputs, api_name="pick_source"
    ).then(parse, [ui.source_image, ui.source_person], parsed, api_name="parse_source", **PRIVATE)  # fmt: skip
    ui.target_image.change(readable(detect_target, outputs=3, status=2), ui.target_image, target_outputs, api_name="detect_target")
    ui.target_overlay.select(click_position, None, [ui.target_x, ui.target_y], **PRIVATE).then(
        readable(pick_target, outputs=3, status=2), [ui.target_image, ui.target_x, ui.target_y], target_outputs, api_name="pick_target"
    )  # fmt: skip
    # A click on a pose: its name and the gallery mode, one handler (one message when it fails).
    picked, pick_queue = [ui.gallery_pose, ui.target_mode], dict(concurrency_id="pick_gallery_pose")
    ui.pose_gallery.select(
        readable(pick_gallery_click, outputs=2), None, picked, api_name="pick_gallery_pose_click", **pick_queue, **PRIVATE
    )  # fmt: skip
    ui.api(pick_gallery_pose, [ui.gallery_pose], picked, api_name="pick_gallery_pose", **pick_queue)
    # Opening a tab sets the mode (the gr.State Generate reads) at once.
    ui.photo_tab.select(lambda: TargetMode.PHOTO, None, ui.target_mode, queue=False, **PRIVATE)
    ui.gallery_tab.select(lambda: TargetMode.GALLERY, None, ui.target_mode, queue=False, **PRIVATE)
    # One preview event for every change of what Generate would use; "always_last": a change while a
    # preview runs queues one more run with the newest values, so an older answer never stays on screen.
    preview_inputs = [ui.target_mode, ui.target_image, ui.target_person, ui.gallery_pose, ui.mirror, ui.align]
    preview_inputs += [ui.source_image, ui.source_person]
    triggers = [ui.target_mode, ui.target_image, ui.target_person, ui.gallery_pose, ui.mirror, ui.align, ui.source_person]
    fn, outputs = readable(preview_target, outputs=2, status=1), [ui.target_iuv, ui.target_note]
    queueing = dict(concurrency_id="preview", concurrency_limit=1)
    gr.on(
        [c.change for c in triggers], fn, preview_inputs, outputs, trigger_mode="always_last", api_name="preview_target_browser",
        **queueing, **PRIVATE,
    )  # fmt: skip
    ui.api(preview_target, preview_inputs, outputs, api_name="preview_target", **queueing)


def _wire_runs(ui) -> None:
    """Generate, Generate edit (both disabled while either runs), Compare, the sheet, the seed."""
    run_buttons = [ui.generate_button, ui.edit_button]
    shared = [ui.target_mode, ui.target_image, ui.target_person, ui.gallery_pose, ui.mirror, ui.align]
    settings = [ui.steps, ui.guidance, ui.seed, ui.scheduler, ui.output_size, ui.texture_map, ui.history]
    generate_io = (
        [ui.source_image, ui.source_person, *shared, *settings],
        [ui.results, ui.history, *ui.conditions, ui.run_status],
    )  # fmt: skip
    edit_inputs = [ui.source_image, ui.source_person, *ui.edit_photos, *ui.edit_dropdowns.values(), ui.parsing_attention]
    edit_io = [*edit_inputs, *shared, *settings], [ui.results, ui.history, ui.edit_texture, ui.run_status]
    for button, fn, (inputs, outputs), name in (
        (ui.generate_button, generate, generate_io, "generate"), (ui.edit_button, edit_regions, edit_io, "edit")
    ):  # fmt: skip
        event = readable(fn, outputs=len(outputs), status=len(outputs) - 1)
        button.click(lambda: [gr.Button(interactive=False)] * 2, None, run_buttons, queue=False, **PRIVATE).then(
            event, inputs, outputs, api_name=f"{name}_click", concurrency_id=name, **PRIVATE
        ).then(lambda: [gr.Button(interactive=True)] * 2, None, run_buttons, queue=False, **PRIVATE)  # fmt: skip
        ui.api(fn, inputs, outputs, api_name=name, concurrency_id=name)
    ui.seed_button.click(randomize_seed, None, ui.seed, api_name="randomize_seed")
    # Shown once it holds a sheet (a failure leaves it as it was: hidden before the first sheet).
    ui.sheet_button.click(readable(comparison_sheet, outputs=1), ui.history, ui.sheet_file, api_name="comparison_sheet").then(
        lambda sheet: gr.File(visible=sheet is not None), ui.sheet_file, ui.sheet_file, **PRIVATE
    )  # fmt: skip
    compare_inputs = [ui.source_image, ui.target_image, ui.compare_poses, ui.compare_axis_1, ui.compare_values_1]
    compare_inputs += [ui.compare_axis_2, ui.compare_values_2, ui.steps, ui.guidance, ui.seed, ui.scheduler, ui.output_size]
    ui.compare_button.click(
        readable(compare, outputs=2, status=1), compare_inputs, [ui.compare_sheet, ui.compare_status], api_name="compare"
    )  # fmt: skip


def _wire_edit_photos(ui) -> None:
    """Each extra photo is parsed on upload; "+ Add photo" shows one more slot."""
    for k, (photo, parsing, note) in enumerate(zip(ui.edit_photos, ui.edit_parsings, ui.edit_notes), start=2):
        parse = readable(lambda path, label=f"Photo {k}": parse_photo(path, -1, label), outputs=2, status=1)
        photo.change(parse, photo, [parsing, note], api_name=f"parse_photo_{k}", **PRIVATE)
    ui.add_photo_button.click(
        add_edit_photo, ui.edit_photo_count, [ui.edit_photo_count, *ui.photo_columns, ui.add_photo_column], api_name="add_photo",
        **PRIVATE,
    )  # fmt: skip


def build_demo() -> gr.Blocks:
    """The Blocks app (no model is loaded here): layout top to bottom, then the wiring."""
    ui = SimpleNamespace(poses=SERVICES.gallery(), parsing_title=SERVICES.parser_name())
    ui.example_rows, ui.examples_message = example_rows()
    with gr.Blocks(title="MCLD pose transfer", delete_cache=GRADIO_CACHE_SWEEP) as demo:
        _header(ui)
        _run_section(ui)
        _edit_section(ui)
        _compare_section(ui)
        _results_section(ui)
        _advanced_section(ui)
        _conditions_section(ui)
        # The public endpoints whose browser event reads the target mode from the gr.State take it as `target_mode`.
        api_mode = api_value(TargetMode.PHOTO.value, [m.value for m in TargetMode], label="target_mode")
        ui.api = lambda fn, inputs, outputs, **kw: api_endpoint(fn, inputs, outputs, swap={ui.target_mode: api_mode}, **kw)
        _wire_people(ui)
        _wire_runs(ui)
        _wire_edit_photos(ui)
    return demo


if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mcld").setLevel(logging.INFO)
    import mcld.gallery  # noqa: F401 - the heavy imports (torch, mediapipe, the pose gallery) happen here, first
    import mcld.pose_transfer  # noqa: F401
    import mcld.weights  # noqa: F401

    LOGGER.info("start-up: imports done")  # tools/appserver.py measures from this line to the first HTTP 200
    SERVICES.start_up()
    demo = build_demo()
    LOGGER.info("start-up: page built; launching")
    demo.queue(max_size=int(os.environ.get("MCLD_QUEUE_SIZE", "20")), default_concurrency_limit=1)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=MAX_FILE_BYTES,
        css=CSS,
        # No allowed_paths: result PNGs (RESULTS_DIR, in the system temp dir)
        # are copied into Gradio's cache like any output; nothing else is served.
    )

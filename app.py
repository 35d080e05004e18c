"""MCLD pose transfer: Gradio Space.

A photo of a person (source) + a target pose -> the same person in that pose.
The target pose comes from a photo (one person, or click one in a group photo)
or from the pose gallery. All model logic lives in :mod:`mcld`; this file is the
UI: handlers first, layout top to bottom, wiring after, ``launch()`` last.

Run ``python app.py`` (real weights, fetched on first use) or
``MCLD_TINY=1 python app.py`` / ``python app.py --tiny`` (tiny random weights:
the whole path runs offline, outputs are noise).
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import threading
from pathlib import Path

import gradio as gr
import numpy as np
import spaces

from mcld.errors import MCLDError
from mcld.gradio_photo import PhotoInput
from mcld.image_utils import MAX_FILE_BYTES
from mcld.schedulers import SCHEDULERS
from mcld.zerogpu import GPU_PREVIEW_S, gpu_duration

TINY = os.environ.get("MCLD_TINY", "").lower() in {"1", "true", "yes"} or "--tiny" in sys.argv
TINY_BANNER = "Tiny random weights: outputs are noise, for testing the pipeline only"
OUTPUT_SIZES = {"512x352": "image_512x352", "256x176": "image_256x176"}
DEFAULT_STEPS = 4 if TINY else 20
RESULTS_DIR = Path(tempfile.gettempdir()) / "mcld_results"

_PIPE = None
_PIPE_LOCK = threading.Lock()


def get_pose_transfer():
    """The one cached :class:`~mcld.pose_transfer.PoseTransfer` (built on first use)."""
    global _PIPE
    with _PIPE_LOCK:
        if _PIPE is None:
            from mcld.pose_transfer import PoseTransfer

            _PIPE = PoseTransfer.tiny() if TINY else PoseTransfer.from_pretrained()
        return _PIPE


# ------------------------------------------------------------------ helpers
def _user_error(err: Exception) -> gr.Error:
    """A visitor-readable :class:`gr.Error` for an exception from :mod:`mcld`."""
    if isinstance(err, MCLDError):
        return gr.Error(err.user_message)
    return gr.Error(str(err))


def weights_status_markdown() -> str:
    """The start-up status line: tiny mode, or which weights are missing and
    where they will be fetched from."""
    if TINY:
        return "**Mode: tiny** (`MCLD_TINY=1` or `--tiny`): no weights are downloaded; every model is built with tiny random weights."
    from mcld.weights import describe_missing_weights

    missing = describe_missing_weights()
    if not missing:
        return "**Mode: full.** All MCLD weights are on disk."
    lines = "\n".join(f"- {line}" for line in missing)
    return (
        "**Mode: full. Weights missing**: they are downloaded on the first Generate "
        f"(several GB; DensePose from the detectron2 model zoo):\n{lines}"
    )


def _people(path: str | None):
    """``(photo, people)`` for an uploaded file (MediaPipe, CPU)."""
    from mcld.annotators.mediapipe_pose import detect_people
    from mcld.image_utils import load_image

    photo = load_image(path)
    return photo, detect_people(np.asarray(photo))


def _overlay(photo, people, index: int) -> np.ndarray:
    from mcld.annotators.mediapipe_pose import draw_pose_overlay

    return draw_pose_overlay(photo, people, selected=index if len(people) > 1 else None)


def _largest(people) -> int:
    return int(np.argmax([float((p.box[2] - p.box[0]) * (p.box[3] - p.box[1])) for p in people]))


def _people_note(people, index: int, what: str) -> str:
    if len(people) == 1:
        return f"1 person found in the {what} photo."
    return f"{len(people)} people found in the {what} photo; using person {index + 1}. Click a person to choose another."


def _gallery():
    from mcld.pose_gallery import load_gallery

    return load_gallery()


def _gallery_pose(name: str | None):
    poses = {p.name: p for p in _gallery()}
    if not name:
        raise gr.Error("Choose a pose in the gallery first.")
    if name not in poses:
        raise gr.Error(f"Unknown gallery pose '{name}'.")
    return poses[name]


def _source_pose(source_path: str | None, source_person: float | None):
    """The source person's pose in the crop frame (for "Align to source"), or None."""
    if not source_path:
        return None
    from types import SimpleNamespace

    from mcld.annotators.mediapipe_pose import transform_pose
    from mcld.person_crop import crop_person
    from mcld.pose_transfer import CROP_SIZE

    photo, people = _people(source_path)
    idx = _index(source_person, people)
    _, info = crop_person(np.asarray(photo), people[idx].box, out_height=CROP_SIZE[1], aspect=CROP_SIZE[0] / CROP_SIZE[1])
    return SimpleNamespace(pose=transform_pose(people[idx], info.affine, info.out_size))


def _index(value: float | None, people) -> int:
    """Hidden person-index field -> index (``-1``/empty: the largest person)."""
    if value is None or int(value) < 0 or int(value) >= len(people):
        return _largest(people)
    return int(value)


def _target_conditions(pt, mode, target_path, target_person, gallery_name, mirror, align, source):
    from mcld.pose_gallery import gallery_target

    if mode == "gallery":
        return gallery_target(_gallery_pose(gallery_name), mirror=bool(mirror), align_to=source)
    if not target_path:
        raise gr.Error("Upload a target-pose photo, or choose a pose in the Gallery tab.")
    idx = None if target_person is None or int(target_person) < 0 else int(target_person)
    return pt.prepare_target(target_path, idx, mirror=bool(mirror), align_to=source)


def _gpu_seconds(job: dict, progress=None) -> int:
    return gpu_duration(job["num_inference_steps"], 1)


@spaces.GPU(duration=_gpu_seconds)
def _generate_on_gpu(job: dict, progress=None):
    """The GPU work of one generation: DensePose, UV texture, face, diffusion."""
    pt = get_pose_transfer()
    source = pt.prepare_source(job["source_path"], job["source_person"])
    target = _target_conditions(
        pt, job["mode"], job["target_path"], job["target_person"], job["gallery_name"], job["mirror"],
        job["align"], source if job["align"] else None,
    )  # fmt: skip
    steps = job["num_inference_steps"]

    def on_step(i: int, n: int) -> None:
        if progress is not None:
            progress((i, n), desc=f"Denoising step {i}/{n}")

    result = pt.generate(
        source, target, num_inference_steps=steps, guidance_scale=job["guidance_scale"], seed=job["seed"],
        scheduler=job["scheduler"], callback=on_step,
    )  # fmt: skip
    return source, target, result


@spaces.GPU(duration=GPU_PREVIEW_S)
def _target_preview_on_gpu(target_path, target_person, mirror, source):
    """The GPU work of a photo-target preview: DensePose on the target photo."""
    return _target_conditions(get_pose_transfer(), "photo", target_path, target_person, None, mirror, source is not None, source)


# ----------------------------------------------------------------- handlers
def detect_source(source_path):
    """Find the people in the source photo; draw them; pick the largest."""
    if not source_path:
        return None, -1, ""
    try:
        photo, people = _people(source_path)
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    idx = _largest(people)
    return _overlay(photo, people, idx), idx, _people_note(people, idx, "source")


def pick_source(source_path, evt: gr.SelectData):
    """A click on the source overlay picks that person."""
    from mcld.annotators.mediapipe_pose import pick_person

    if not source_path:
        raise gr.Error("Upload a source photo first.")
    photo, people = _people(source_path)
    x, y = evt.index
    idx = pick_person(people, float(x), float(y))
    return _overlay(photo, people, idx), idx, _people_note(people, idx, "source")


def preview_target(mode, target_path, target_person, gallery_name, mirror, align, source_path, source_person):
    """The target pose as the model will get it: skeleton over the photo and the IUV."""
    from mcld.pose_transfer import iuv_to_display

    try:
        source = _source_pose(source_path, source_person) if align else None
        if mode == "gallery":
            if not gallery_name:
                return None, "Choose a pose in the gallery."
            target = _target_conditions(None, mode, None, None, gallery_name, mirror, align, source)
            return iuv_to_display(target.iuv), " ".join(target.warnings)
        if not target_path:
            return None, ""
        target = _target_preview_on_gpu(target_path, target_person, bool(mirror), source)
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    notes = [
        _people_note(target.people, target.person_index, "target"),
        "Mirrored." if target.mirrored else "",
        "Aligned to the source person." if target.aligned else "",
    ]
    return iuv_to_display(target.iuv), " ".join(n for n in [*target.warnings, *notes] if n)


def detect_target(target_path, mirror, align, source_path, source_person):
    """Find the people in the target photo, draw them, preview the IUV."""
    if not target_path:
        return None, -1, None, ""
    try:
        photo, people = _people(target_path)
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    idx = _largest(people)
    iuv, note = preview_target("photo", target_path, idx, None, mirror, align, source_path, source_person)
    return _overlay(photo, people, idx), idx, iuv, note


def pick_target(target_path, mirror, align, source_path, source_person, evt: gr.SelectData):
    """A click on the target overlay picks that person as the pose."""
    from mcld.annotators.mediapipe_pose import pick_person

    if not target_path:
        raise gr.Error("Upload a target photo first.")
    photo, people = _people(target_path)
    x, y = evt.index
    idx = pick_person(people, float(x), float(y))
    iuv, note = preview_target("photo", target_path, idx, None, mirror, align, source_path, source_person)
    return _overlay(photo, people, idx), idx, iuv, note


def select_gallery_pose(mirror, align, source_path, source_person, evt: gr.SelectData):
    """A click on a gallery pose makes it the target."""
    poses = _gallery()
    name = poses[int(evt.index)].name
    iuv, note = preview_target("gallery", None, -1, name, mirror, align, source_path, source_person)
    return name, "gallery", iuv, note


def randomize_seed():
    """A fresh random seed."""
    return random.randint(0, 2**31 - 1)


def generate(
    source_path,
    source_person,
    target_mode,
    target_path,
    target_person,
    gallery_pose,
    mirror,
    align,
    num_inference_steps,
    guidance_scale,
    seed,
    scheduler,
    output_size,
    history,
    progress=gr.Progress(),
):
    """Generate the source person in the target pose; append to the results."""
    if not source_path:
        raise gr.Error("Upload a source photo of a person first.")
    job = {
        "source_path": source_path,
        "source_person": None if source_person is None or int(source_person) < 0 else int(source_person),
        "mode": "gallery" if target_mode == "gallery" else "photo",
        "target_path": target_path,
        "target_person": target_person,
        "gallery_name": gallery_pose,
        "mirror": bool(mirror),
        "align": bool(align),
        "num_inference_steps": int(num_inference_steps),
        "guidance_scale": float(guidance_scale),
        "seed": int(seed),
        "scheduler": scheduler,
    }
    if output_size not in OUTPUT_SIZES:
        raise gr.Error(f"Output size must be one of {', '.join(OUTPUT_SIZES)}.")
    progress(0, desc="Preparing the conditions (pose, DensePose, texture, face)")
    try:
        source, target, result = _generate_on_gpu(job, progress)
    except gr.Error:
        raise
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    for note in [*source.warnings, *target.warnings]:
        gr.Warning(note)
    from mcld.pose_transfer import iuv_to_display
    from PIL.PngImagePlugin import PngInfo

    image = getattr(result, OUTPUT_SIZES[output_size])
    settings = dict(result.settings, output_size=output_size, target=job["mode"])
    if job["mode"] == "gallery":
        settings["gallery_pose"] = gallery_pose
    caption = (
        f"{settings['mode']} | {output_size} | steps {settings['num_inference_steps']} | "
        f"guidance {settings['guidance_scale']:g} | seed {settings['seed']} | {settings['scheduler']}"
        f"{' | mirror' if settings['mirrored'] else ''}{' | align' if settings['aligned'] else ''}"
        f"{' | gallery: ' + gallery_pose if job['mode'] == 'gallery' else ''}"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    meta = PngInfo()
    meta.add_text("mcld_settings", json.dumps(settings))
    fd, out_path = tempfile.mkstemp(
        prefix=f"mcld_{settings['mode']}_s{settings['seed']}_steps{settings['num_inference_steps']}_", suffix=".png", dir=RESULTS_DIR
    )
    os.close(fd)
    image.save(out_path, pnginfo=meta)
    history = [(out_path, caption), *(history or [])]
    status = f"Done: {caption}. Sampling took {result.timings.get('sampling_s', 0):.1f} s."
    return (
        history,
        history,
        source.skeleton(),
        iuv_to_display(source.iuv),
        source.texture,
        source.face_crop,
        target.skeleton(),
        iuv_to_display(target.iuv),
        status,
    )


def generate_example(source_path, target_path, progress=gr.Progress()):
    """Example runner (lazily cached): default settings, photo target."""
    out = generate(
        source_path, -1, "photo", target_path, -1, None, False, False, DEFAULT_STEPS, 3.5, 42, "ddim", "512x352", [],
        progress,
    )  # fmt: skip
    return (out[0], *out[2:])


def example_rows():
    """Source/target example rows from licensed photos (and the optional dataset)."""
    from mcld.pose_gallery import load_examples_dataset, write_example_photos

    photos = write_example_photos()
    rows = [[str(photos["cameraman"]), str(photos["astronaut"])], [str(photos["astronaut"]), str(photos["cameraman"])]]
    extra, message = load_examples_dataset()
    return rows + extra, message


# ------------------------------------------------------------------- layout
def build_demo() -> gr.Blocks:
    """The Blocks app (no model is loaded here)."""
    from mcld.pose_gallery import APPROXIMATE_IUV_NOTE, gallery_thumbnail

    poses = _gallery()
    rows, examples_message = example_rows()
    with gr.Blocks(title="MCLD pose transfer") as demo:
        gr.Markdown(
            "# MCLD: pose-guided person image synthesis\n"
            "Upload a photo of a person, choose a target pose, press **Generate**. "
            "Paper: *Multi-focal Conditioned Latent Diffusion for Person Image Synthesis* (CVPR 2025)."
        )
        if TINY:
            gr.Markdown(f"⚠️ **{TINY_BANNER}.**", elem_id="tiny-banner")
        status_line = gr.Markdown(weights_status_markdown(), elem_id="weights-status")
        if examples_message:
            gr.Markdown(examples_message)

        with gr.Row(equal_height=False):
            with gr.Column():
                gr.Markdown("### 1. Source person")
                with gr.Row():
                    source_image = PhotoInput(label="Source photo", height=320, elem_id="source-image")
                    source_overlay = gr.Image(
                        label="Detected people (click one to choose)", interactive=False, height=320, elem_id="source-overlay"
                    )
                source_note = gr.Markdown(elem_id="source-note")
                source_person = gr.Number(value=-1, precision=0, visible=False, label="Source person index")
            with gr.Column():
                gr.Markdown("### 2. Target pose")
                target_mode = gr.Textbox(value="photo", visible=False, label="Target mode")
                with gr.Tabs():
                    with gr.Tab("From a photo", id="photo-tab") as photo_tab:
                        with gr.Row():
                            target_image = PhotoInput(label="Target-pose photo", height=320, elem_id="target-image")
                            target_overlay = gr.Image(
                                label="Detected people (click one to choose)", interactive=False, height=320, elem_id="target-overlay"
                            )
                        target_person = gr.Number(value=-1, precision=0, visible=False, label="Target person index")
                    with gr.Tab("Gallery", id="gallery-tab") as gallery_tab:
                        pose_gallery = gr.Gallery(
                            value=[(gallery_thumbnail(p, 256), p.label) for p in poses],
                            label=f"Pose gallery ({APPROXIMATE_IUV_NOTE})",
                            columns=3,
                            height="auto",
                            allow_preview=False,
                            object_fit="contain",
                            elem_id="pose-gallery",
                        )
                        gallery_pose = gr.Textbox(label="Chosen gallery pose", interactive=False, elem_id="gallery-pose")
                with gr.Row():
                    mirror = gr.Checkbox(label="Mirror", info="Flip the pose left-right", elem_id="mirror")
                    align = gr.Checkbox(label="Align to source", info="Scale and move the pose to the source person", elem_id="align")
                target_iuv = gr.Image(label="Target IUV the model gets", interactive=False, height=260, elem_id="target-iuv")
                target_note = gr.Markdown(elem_id="target-note")

        generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
        run_status = gr.Markdown(elem_id="run-status")
        results = gr.Gallery(
            label="Results (newest first; caption = settings; download with the button)",
            columns=4,
            fit_columns=False,
            height="auto",
            preview=False,
            object_fit="contain",
            format="png",
            elem_id="results",
        )
        history = gr.State([])

        with gr.Accordion("Advanced", open=False, elem_id="advanced"):
            with gr.Row():
                steps = gr.Slider(
                    1, 100, value=DEFAULT_STEPS, step=1, label="Steps", info="Denoising steps (paper: 20)", elem_id="steps"
                )
                guidance = gr.Slider(0.0, 20.0, value=3.5, step=0.1, label="Guidance", info="Classifier-free guidance (paper: 3.5)")
            with gr.Row():
                seed = gr.Number(value=42, precision=0, minimum=0, label="Seed", elem_id="seed")
                seed_button = gr.Button("Randomise seed", size="sm")
                scheduler = gr.Dropdown(list(SCHEDULERS), value="ddim", label="Scheduler", info="ddim is what the paper uses")
                output_size = gr.Radio(list(OUTPUT_SIZES), value="512x352", label="Output size")

        with gr.Accordion("Conditions (what the model sees)", open=False, elem_id="conditions"):
            with gr.Row():
                cond_source_skeleton = gr.Image(label="Source skeleton", interactive=False, height=300)
                cond_source_iuv = gr.Image(label="Source IUV", interactive=False, height=300)
                cond_texture = gr.Image(label="UV texture map", interactive=False, height=300)
            with gr.Row():
                cond_face = gr.Image(label="Face crop", interactive=False, height=300)
                cond_target_skeleton = gr.Image(label="Target skeleton", interactive=False, height=300)
                cond_target_iuv = gr.Image(label="Target IUV", interactive=False, height=300)

        gr.Examples(
            examples=rows,
            inputs=[source_image, target_image],
            outputs=[
                results, cond_source_skeleton, cond_source_iuv, cond_texture, cond_face, cond_target_skeleton,
                cond_target_iuv, run_status,
            ],
            fn=generate_example,
            cache_examples=True,
            cache_mode="lazy",
            api_name=False,
            label="Examples (public-domain / CC0 photos; see examples/README.md)",
            examples_per_page=6,
        )

        # ------------------------------------------------------------ wiring
        align_inputs = [source_image, source_person]
        preview_inputs = [target_mode, target_image, target_person, gallery_pose, mirror, align, source_image, source_person]
        source_image.change(
            detect_source, source_image, [source_overlay, source_person, source_note], api_name="detect_source"
        )
        source_overlay.select(pick_source, source_image, [source_overlay, source_person, source_note], api_name="pick_source")
        target_image.change(
            detect_target,
            [target_image, mirror, align, *align_inputs],
            [target_overlay, target_person, target_iuv, target_note],
            api_name="detect_target",
        )
        target_overlay.select(
            pick_target,
            [target_image, mirror, align, *align_inputs],
            [target_overlay, target_person, target_iuv, target_note],
            api_name="pick_target",
        )
        pose_gallery.select(
            select_gallery_pose,
            [mirror, align, *align_inputs],
            [gallery_pose, target_mode, target_iuv, target_note],
            api_name="pick_gallery_pose",
        )
        for tab, mode in ((photo_tab, "photo"), (gallery_tab, "gallery")):
            tab.select(lambda m=mode: m, None, target_mode, api_name=f"{mode}_tab", api_visibility="private").then(
                preview_target, preview_inputs, [target_iuv, target_note], api_name=f"{mode}_tab_preview", api_visibility="private"
            )
        gr.on(
            [mirror.change, align.change], preview_target, preview_inputs, [target_iuv, target_note], api_name="preview_target"
        )
        seed_button.click(randomize_seed, None, seed, api_name="randomize_seed")
        generate_button.click(
            generate,
            [
                source_image, source_person, target_mode, target_image, target_person, gallery_pose, mirror, align,
                steps, guidance, seed, scheduler, output_size, history,
            ],
            [
                results, history, cond_source_skeleton, cond_source_iuv, cond_texture, cond_face,
                cond_target_skeleton, cond_target_iuv, run_status,
            ],
            api_name="generate",
        )  # fmt: skip
        del status_line
    return demo


if __name__ == "__main__":
    demo = build_demo()
    demo.queue(max_size=int(os.environ.get("MCLD_QUEUE_SIZE", "20")), default_concurrency_limit=1)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=MAX_FILE_BYTES,
        allowed_paths=[str(RESULTS_DIR)],
    )

"""MCLD pose transfer: Gradio Space.

A photo of a person (source) + a target pose -> the same person in that pose.
The target pose comes from a photo (one person, or click one in a group photo)
or from the pose gallery. "Edit regions" takes the face, hair, garments, shoes,
appearance and identity from other photos (:mod:`mcld.editing`). All model
logic lives in :mod:`mcld`; this file is the UI: handlers first, layout top to
bottom, wiring after, ``launch()`` last.

GPU split: MediaPipe, the person crops, the face embedding and human parsing
run on the CPU in the handlers; only DensePose, the UV texture built from it
(a cheap NumPy step that needs the IUV; a second GPU call would cost more) and
the sampling run inside the ``spaces.GPU`` functions.

Run ``python app.py`` (real weights, fetched on first use) or
``MCLD_TINY=1 python app.py`` / ``python app.py --tiny`` (tiny random weights:
the whole path runs offline, outputs are noise).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import random
import sys
import threading

import gradio as gr
import numpy as np
import spaces

from mcld.annotators.densepose.iuv import iuv_to_display
from mcld.conditions import CROP_SIZE, check_sampling_args
from mcld.demo import DemoOptions, ResultsStore, TargetMode, caption, example_rows, parsing_name, people_note
from mcld.demo import result_settings, status_line
from mcld.editing import REGION_LABELS, SAME_AS_FACE, RegionSelection
from mcld.errors import MCLDError
from mcld.gallery import find_gallery_pose, gallery_target, gallery_thumbnail, load_gallery
from mcld.gradio_photo import PhotoInput
from mcld.grid import grid_gpu_duration, parse_axis, plan_grid, run_grid
from mcld.image_utils import MAX_FILE_BYTES
from mcld.pose_transfer import PoseTransfer
from mcld.schedulers import SCHEDULERS

TINY = os.environ.get("MCLD_TINY", "").lower() in {"1", "true", "yes"} or "--tiny" in sys.argv
TINY_BANNER = "Tiny random weights: outputs are noise, for testing the pipeline only"
#: Result captions carry the settings: let them wrap instead of being cut
#: after ~25 characters (Gradio's gallery caption is one ellipsised line);
#: start the results grid below the gallery's label, which covered the top
#: of the first thumbnails.
CSS = (
    "#results .caption-label { white-space: normal; max-width: calc(100% - 8px); }\n"
    "#results .grid-wrap { padding-top: var(--size-8); }\n"
    "#pose-gallery .caption-label { white-space: normal; max-width: calc(100% - 8px); position: static; }"
)
#: What the demo offers (defaults and choices) and where it keeps its results.
OPTIONS = DemoOptions(tiny=TINY)
LOGGER = logging.getLogger("mcld.app")
STORE = ResultsStore()
#: Gradio's own cache (uploads, and outputs copied for serving): every hour,
#: delete the files older than the results' age limit (``gr.Blocks(delete_cache=...)``).
GRADIO_CACHE_SWEEP = (3600, int(STORE.max_age_s))

#: What :func:`mcld.startup.preload` built before ``launch()`` (set by ``__main__``).
_STARTUP = None
_STARTUP_LOCK = threading.Lock()
_LOCATOR = None
_LOCATOR_LOCK = threading.Lock()


def start_up():
    """Run once in the main thread before ``launch()``: in full mode ask the
    Hub once whether it is reachable (short timeout; unreachable -> offline
    mode for the whole process, so nothing retries later), then fetch and
    build every model (:func:`mcld.startup.preload`, progress in the log).

    Returns:
        The :class:`mcld.startup.Startup`, also kept for the handlers.
    """
    global _STARTUP
    from mcld.startup import check_hub, preload, use_offline_mode

    hub = None
    if TINY:
        use_offline_mode()  # tiny mode downloads nothing
    else:
        hub = check_hub(timeout_s=float(os.environ.get("MCLD_HUB_TIMEOUT_S", "3")))
        LOGGER.info("start-up: Hugging Face Hub %s", "reachable" if hub.reachable else f"NOT reachable ({hub.reason})")
        if not hub.reachable:
            use_offline_mode()
    with _STARTUP_LOCK:
        _STARTUP = preload(tiny=TINY, hub=hub)
    return _STARTUP


def get_startup():
    """What the start-up built. In tiny mode an app imported without
    :func:`start_up` (the in-process tests) builds it on first use (CPU-only
    tiny models); in full mode handlers never build models: without a start-up
    nothing is loaded and Generate says so."""
    global _STARTUP
    with _STARTUP_LOCK:
        if _STARTUP is None:
            from mcld.startup import HubStatus, Startup, preload

            if TINY:
                _STARTUP = preload(tiny=True)
            else:
                return Startup("full", HubStatus(False, "", "app.py was imported, not started"))
        return _STARTUP


def get_pose_transfer():
    """The :class:`~mcld.pose_transfer.PoseTransfer` built at start-up.

    Raises:
        gr.Error: its models did not load (the sentence names what is missing,
            where it comes from, and ``make demo-tiny``); answered at once.
    """
    startup = get_startup()
    if startup.pose_transfer is None:
        raise visitor_error(startup.generate_unavailable)
    return startup.pose_transfer


def get_locator():
    """The :class:`~mcld.pose_transfer.PoseTransfer` that finds people: the one
    built at start-up (its per-file detection cache then also serves
    Generate), else one without models (MediaPipe and the crop only)."""
    global _LOCATOR
    startup = get_startup()
    if startup.pose_transfer is not None:
        return startup.pose_transfer
    with _LOCATOR_LOCK:
        if _LOCATOR is None:
            _LOCATOR = PoseTransfer(None, None)
        return _LOCATOR


_COARSE_PARSER = []
_COARSE_LOCK = threading.Lock()


def get_parser():
    """The human parser loaded at start-up (SCHP), or, when SCHP did not load,
    the coarse MediaPipe parser (CPU, no weights; built on first use). Its
    results name which one ran."""
    parser = get_startup().parser
    if parser is not None:
        return parser
    with _COARSE_LOCK:
        if not _COARSE_PARSER:
            from mcld.annotators.human_parsing import HumanParser

            _COARSE_PARSER.append(HumanParser.from_pretrained("mediapipe-coarse"))
        return _COARSE_PARSER[0]


# ------------------------------------------------------------------ helpers
def visitor_error(message: str) -> gr.Error:
    """A :class:`gr.Error` for a visitor's mistake or unusable file: shown in
    the UI, logged as one line (Gradio would print a traceback per error)."""
    LOGGER.info("visitor error: %s", message)
    return gr.Error(message, print_exception=False)


def _user_error(err: Exception) -> gr.Error:
    """A visitor-readable :class:`gr.Error` for an exception from :mod:`mcld`:
    an :class:`MCLDError` is about the input (one log line); any other
    exception keeps its traceback in the server log (it may be a bug)."""
    if isinstance(err, MCLDError):
        return visitor_error(err.user_message)
    return gr.Error(str(err))


def ui_event(fn, n_outputs: int, status: int | None = None, toast: bool = True):
    """``fn`` for a browser event whose failures never leave an output in an
    error state: a failing call shows a toast and, at output index
    ``status``, a status line with the message; every other output keeps its
    last good value (``gr.skip()``). Calls from ``gradio_client`` (header
    ``x-gradio-user: api``, which the client sends) still get the error raised.

    Gradio marks every output of an event whose function raises with a
    textless "Error" pill; this is why the handlers' ``gr.Error`` is caught here.

    Args:
        fn: The handler (raises ``gr.Error`` for the visitor's mistakes).
        n_outputs: How many outputs the event has.
        status: Index of the Markdown output that gets the message, or ``None``.
        toast: Show the toast (``False`` for a step chained after one that
            already said it: one message per cause).

    Returns:
        A function with ``fn``'s signature plus a ``request: gr.Request``.
    """
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    request_param = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        request = kwargs.pop("request", None)
        if len(args) > len(params):  # Gradio passes the request positionally, after fn's own parameters
            request, args = args[len(params)], args[: len(params)]
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - every failure becomes a message, none an error state
            from_api = request is not None and (request.headers.get("x-gradio-user") or "") == "api"
            if from_api:
                raise
            if isinstance(err, gr.Error):
                message = err.message
            elif isinstance(err, MCLDError):
                message = err.user_message
            else:
                LOGGER.exception("handler %s failed", fn.__name__)
                message = f"Something went wrong ({type(err).__name__}); the server log has the details."
            if toast:
                gr.Warning(message, title="Error")
            out = [gr.skip()] * n_outputs
            if status is not None:
                out[status] = f"⚠️ {message}"
            return tuple(out) if n_outputs > 1 else out[0]

    wrapper.__signature__ = signature.replace(parameters=[*params, request_param])
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": gr.Request}
    return wrapper


def startup_status_markdown(startup, details: bool = True, head: bool = True) -> str:
    """The status line under the title: the mode, whether the Hub was
    reachable, and each component that did not load (what is missing, where
    it is fetched from, what is used instead). Said once here, not per run.

    Args:
        startup: A :class:`mcld.startup.Startup`.
        details: Add one line per component that did not load.
        head: Start with the mode sentence (``False``: the lines only).

    Returns:
        Markdown.
    """
    from mcld.startup import TINY_HINT

    names = ", ".join(c.label for c in startup.failed)
    failed = "".join(f"\n- {c.line()}" for c in startup.failed) if details else (f" Not loaded: {names}." if names else "")
    if not head:
        return failed.strip()
    if startup.mode == "tiny":
        head = "**Mode: tiny** (`MCLD_TINY=1` or `--tiny`): no weights are downloaded; every model is built with tiny random weights."
    elif startup.offline:
        head = (
            f"**Mode: full, offline.** The model weights cannot be downloaded here: the Hugging Face Hub is not "
            f"reachable ({startup.hub.reason}). Detection, overlays, the pose gallery and coarse parsing work; "
            f"Generate does not. {TINY_HINT}."
        )
    elif startup.pose_transfer is None:
        head = f"**Mode: full. The models did not load**, so Generate is off. {TINY_HINT}."
    else:
        head = "**Mode: full.** All models loaded at start-up." if not failed else "**Mode: full.** The models loaded; some parts fall back:"
    return head + failed


def readable(fn):
    """One decorator for every handler and the GPU function: mcld's input
    errors (:class:`MCLDError`, ``ValueError``) become a :class:`gr.Error` with
    the visitor's sentence (ZeroGPU shows only a ``gr.Error`` readably)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (MCLDError, ValueError) as err:
            raise _user_error(err) from None

    return wrapper


def _overlay(photo, people, index: int) -> np.ndarray:
    from mcld.annotators.mediapipe_pose import draw_pose_overlay

    return draw_pose_overlay(photo, people, selected=index if len(people) > 1 else None)


def _gallery():
    """The pose gallery prepared at start-up (photo entries with their DensePose IUV)."""
    gallery = get_startup().gallery
    return gallery if gallery is not None else load_gallery()


def _gallery_pose(name: str | None):
    """The gallery pose named ``name`` (its name or label; ``GalleryPoseError`` lists the valid names)."""
    if not name:
        raise visitor_error("Choose a pose in the gallery first.")
    return find_gallery_pose(_gallery(), name)


def _person(value) -> int | None:
    """Hidden person-index field -> ``person_index`` (``-1``/empty: ``None``, the largest)."""
    return None if value is None or int(value) < 0 else int(value)


def _target(mode, target_path, gallery_name):
    """What ``PoseTransfer.prepare`` takes as the target: a gallery pose or the photo's path."""
    if TargetMode.of(mode) is TargetMode.GALLERY:
        return _gallery_pose(gallery_name)
    if not target_path:
        raise visitor_error("Upload a target-pose photo, or choose a pose in the Gallery tab.")
    return target_path


def _check_request(source_path, output_size, num_inference_steps, guidance_scale, seed, missing_source: str) -> None:
    """The checks Generate and Generate edit share, before any work (``gr.Error`` naming the field)."""
    if not source_path:
        raise visitor_error(missing_source)
    if output_size not in OPTIONS.output_sizes:
        raise visitor_error(f"Output size must be one of {', '.join(OPTIONS.output_sizes)}.")
    for name, value in (("Steps", num_inference_steps), ("Guidance", guidance_scale), ("Seed", seed)):
        if value is None:
            raise visitor_error(f"{name} is empty: enter a number in Advanced.")
    try:
        check_sampling_args(num_inference_steps, guidance_scale, seed)
    except (TypeError, ValueError) as err:
        raise visitor_error(f"Advanced settings: {err}.") from None


def _progress_callback(progress):
    def on_step(i: int, n: int) -> None:
        if progress is not None:
            progress((i, n), desc=f"Denoising step {i}/{n}")

    return on_step


def _gpu_seconds(job, progress=None) -> int:
    return job.gpu_seconds()


@spaces.GPU(duration=_gpu_seconds)
@readable
def run_on_gpu(job, progress=None):
    """The GPU half of Generate and Generate edit: :meth:`PoseTransfer.run`
    (DensePose, texture, composition, sampling). Takes a picklable
    :class:`~mcld.conditions.Job`, returns a picklable result."""
    return get_pose_transfer().run(job, callback=_progress_callback(progress))


def _prepare(inputs: dict, target_mode, target_path, target_person, gallery_pose, progress, **edit):
    """The CPU half: :meth:`PoseTransfer.prepare` with the shared inputs."""
    pt = get_pose_transfer()  # answers at once when the models did not load at start-up
    progress(0, desc="Finding the people (MediaPipe), faces and parsing")
    return pt.prepare(
        inputs["source_path"], _target(target_mode, target_path, gallery_pose), source_person=_person(inputs["source_person"]),
        target_person=_person(target_person), mirror=bool(inputs["mirror"]), align=bool(inputs["align"]),
        num_inference_steps=int(inputs["steps"]), guidance_scale=float(inputs["guidance"]), seed=int(inputs["seed"]),
        scheduler=inputs["scheduler"], texture_fill=OPTIONS.texture_fill(inputs["texture_map"]), **edit,
    )  # fmt: skip


def _finish(job, result, output_size, history):
    """Save the result (settings in the PNG), put it first in the history; the status line."""
    history = STORE.save(result.image(output_size), result_settings(job, result, output_size), caption(job, result, output_size), history)
    return history, status_line(job, result, output_size)


@readable
def comparison_sheet(history):
    """All of the visitor's results in one captioned PNG, newest first as in
    the results gallery (:meth:`mcld.demo.ResultsStore.comparison_sheet`).

    Args:
        history: The visitor's results, ``[(png_path, caption), ...]``.

    Returns:
        Path of the sheet, a PNG in the results folder.

    Raises:
        gr.Error: no result yet (or all of them expired).
    """
    return STORE.comparison_sheet(history)


# ----------------------------------------------------------------- handlers
@readable
def detect_source(source_path):
    """Find the people in the source photo; draw them; pick the largest.

    Args:
        source_path: Uploaded file path, or ``None`` (cleared).

    Returns:
        ``(overlay, person_index, note)``: ``(H, W, 3)`` uint8 RGB photo with
        every skeleton and box drawn (``None`` without a photo), the chosen
        index (``-1`` without a photo) and a Markdown note.

    Raises:
        gr.Error: unusable file or nobody found (the ``user_message``).
    """
    return _detect(source_path, "source")


def _detect(path, what: str):
    if not path:
        return None, -1, ""
    person = get_locator().locate_person(path, what=what)
    index = person.person_index
    return _overlay(person.photo, person.people, index), index, people_note(person.people, index, what)


@readable
def _pick(photo_path, x, y, what: str):
    """``(overlay, person_index, note)`` for a click at ``(x, y)`` photo pixels."""
    from mcld.annotators.mediapipe_pose import pick_person

    if not photo_path:
        raise visitor_error(f"Upload a {what} photo first.")
    if x is None or y is None:
        raise visitor_error("The photo was still loading: click the person again.")
    photo, people = get_locator().detect_people(photo_path)
    idx = pick_person(people, float(x), float(y))
    return _overlay(photo, people, idx), idx, people_note(people, idx, what)


def click_position(evt: gr.SelectData):
    """A click on an overlay -> ``(x, y)`` in photo pixels, for the pick
    endpoints. A click on an image still loading has no coordinates:
    ``(None, None)``, which the pick asks to repeat."""
    index = getattr(evt, "index", None)
    if not isinstance(index, (list, tuple)) or len(index) != 2 or any(v is None for v in index):
        return None, None
    return float(index[0]), float(index[1])


def pick_source(source_path, x, y):
    """Choose the source person at a point of the photo (a click on the overlay).

    Args:
        source_path: Uploaded file path.
        x: Column of the point, in photo pixels (``None``: the click had no
            coordinates, the image was still loading).
        y: Row of the point, in photo pixels.

    Returns:
        ``(overlay, person_index, note)`` as :func:`detect_source`; the person
        whose box holds the point (the nearest one otherwise).

    Raises:
        gr.Error: no photo, unusable file, nobody found, or no coordinates.
    """
    return _pick(source_path, x, y, "source")


def _pose_picture(pose) -> np.ndarray:
    """``(512, 352, 3)`` uint8 RGB: a pose's skeleton in the crop frame, on black."""
    from mcld.annotators.mediapipe_pose import draw_pose_overlay

    return draw_pose_overlay(np.zeros((CROP_SIZE[1], CROP_SIZE[0], 3), np.uint8), [pose])


def _source_crop(source_path, source_person):
    """The source person located and cropped, no DensePose (what "Align to
    source" previews align to; an index the photo lacks: the largest), or None."""
    if not source_path:
        return None
    photo, people = get_locator().detect_people(source_path)
    index = _person(source_person)
    return get_locator().locate_person(photo, index if index is not None and index < len(people) else None, people=people)


def _preview_gallery(name, mirror, source_crop):
    """A gallery pose's preview: the IUV the model gets, and one note naming it."""
    if not name:
        return None, "Choose a pose in the gallery."
    pose = _gallery_pose(name)
    target = gallery_target(pose, mirror=bool(mirror), align_to=source_crop)
    # One name: the entry's own "Gallery pose '<label>': ..." sentence is replaced by one with its name.
    others = [w for w in target.warnings if not w.startswith("Gallery pose '")]
    notes = [
        f"Gallery pose **{pose.name}**: {pose.iuv_note}.", *others,
        "Mirrored." if target.mirrored else "", "Aligned to the source person." if target.aligned else "",
    ]  # fmt: skip
    return iuv_to_display(target.iuv), " ".join(n for n in notes if n)


@readable
def preview_target(mode, target_path, target_person, gallery_pose, mirror, align, source_path, source_person):
    """The target pose exactly as Generate will use it, drawn on the CPU (no GPU call).

    A gallery pose is shown as the IUV the model gets. A photo target is shown
    as the chosen person's skeleton in the crop frame, mirrored and aligned as
    asked: its DensePose IUV is computed inside the Generate GPU call and
    shown with the result (Conditions).

    Args:
        mode: ``"photo"`` or ``"gallery"`` (:class:`mcld.demo.TargetMode`).
        target_path: Target-photo path (photo mode), or ``None``.
        target_person: Chosen person index, ``-1`` for the largest.
        gallery_pose: Gallery pose name (gallery mode), or ``None``.
        mirror: Mirror the pose left-right.
        align: Scale and move the pose onto the source person.
        source_path: Source-photo path (used with ``align``), or ``None``.
        source_person: Source person index, ``-1`` for the largest.

    Returns:
        ``(picture, note)``: ``(512, 352, 3)`` uint8 RGB picture (``None``
        with nothing to show) and a Markdown note.

    Raises:
        gr.Error: unusable file, nobody found, unknown gallery pose (the
            message lists the valid names).
    """
    from mcld.annotators.mediapipe_pose import align_pose, mirror_pose

    source_crop = _source_crop(source_path, source_person) if align else None
    if TargetMode.of(mode) is TargetMode.GALLERY:
        return _preview_gallery(gallery_pose, mirror, source_crop)
    if not target_path:
        return None, ""
    crop = get_locator().locate_person(target_path, _person(target_person), what="target")
    pose = mirror_pose(crop.pose) if mirror else crop.pose
    if source_crop is not None:
        pose, _ = align_pose(pose, source_crop.pose)
    people = people_note(crop.people, crop.person_index, "target")
    notes = [
        *(w for w in crop.warnings if w not in people), people, "Mirrored." if mirror else "",
        "Aligned to the source person." if source_crop is not None else "",
        "Its DensePose IUV is computed with Generate (one GPU call) and shown under Conditions.",
    ]  # fmt: skip
    return _pose_picture(pose), " ".join(n for n in notes if n)


@readable
def detect_target(target_path):
    """Find the people in the target photo, draw them, pick the largest (CPU,
    no GPU call: the preview follows from :func:`preview_target`).

    Returns:
        ``(overlay, person_index, note)`` as :func:`detect_source`.

    Raises:
        gr.Error: unusable file or nobody found.
    """
    return _detect(target_path, "target")


def pick_target(target_path, x, y):
    """Choose the target-pose person at a point of the photo; as :func:`pick_source`."""
    return _pick(target_path, x, y, "target")


@readable
def gallery_pose_at(evt: gr.SelectData) -> str:
    """A click on a gallery thumbnail -> that pose's name."""
    poses = _gallery()
    index = getattr(evt, "index", None)
    if not isinstance(index, int) or not 0 <= index < len(poses):
        raise visitor_error("Click a pose in the gallery again.")
    return poses[index].name


@readable
def pick_gallery_pose(gallery_pose):
    """Make a gallery pose the target.

    Args:
        gallery_pose: The pose's name (the name under its thumbnail).

    Returns:
        ``(gallery_pose, target_mode)``: the name and ``"gallery"``.

    Raises:
        gr.Error: unknown name (the message lists the valid ones).
    """
    return _gallery_pose(gallery_pose).name, "gallery"


def randomize_seed():
    """A fresh random seed."""
    return random.randint(0, 2**31 - 1)


@readable
def generate(
    source_path, source_person, target_mode, target_path, target_person, gallery_pose, mirror, align,
    num_inference_steps, guidance_scale, seed, scheduler, output_size, texture_map, history,
    progress=gr.Progress()
):  # fmt: skip
    """Generate the source person in the target pose; put the result first in the results.

    :meth:`PoseTransfer.prepare` (MediaPipe, cached per upload, the crops and
    the face embedding) runs here on the CPU; :func:`run_on_gpu` gets the
    :class:`~mcld.conditions.Job` (DensePose, the UV texture and sampling).

    Args:
        source_path: Source-photo path.
        source_person: Source person index, ``-1`` for the largest.
        target_mode: ``"photo"`` or ``"gallery"`` (:class:`mcld.demo.TargetMode`).
        target_path: Target-photo path (photo mode).
        target_person: Target person index, ``-1`` for the largest.
        gallery_pose: Gallery pose name (gallery mode).
        mirror: Mirror the target pose.
        align: Align the target pose to the source person.
        num_inference_steps: Denoising steps, 1..100.
        guidance_scale: Classifier-free guidance, 0..20.
        seed: Noise seed, ``>= 0``.
        scheduler: A name from :data:`mcld.schedulers.SCHEDULERS`.
        output_size: ``"512x352"`` or ``"256x176"``.
        texture_map: A "Texture map" choice (:attr:`mcld.demo.DemoOptions.texture_maps`).
        history: The visitor's results, ``[(png_path, caption), ...]``, newest first.
        progress: Gradio progress tracker.

    Returns:
        ``(gallery, history, source_skeleton, source_iuv, texture, face_crop,
        target_skeleton, target_iuv, status)``: the new history twice;
        ``(512, 352, 3)`` uint8 RGB skeletons and IUV pictures, the
        ``(512, 512, 3)`` UV texture, the face crop (or ``None``) and a status line.

    Raises:
        gr.Error: missing input, bad settings, unusable file, nobody found, or
            any other :class:`~mcld.errors.MCLDError` (its ``user_message``).
    """
    _check_request(source_path, output_size, num_inference_steps, guidance_scale, seed, "Upload a source photo of a person first.")
    inputs = dict(
        source_path=source_path, source_person=source_person, mirror=mirror, align=align, steps=num_inference_steps,
        guidance=guidance_scale, seed=seed, scheduler=scheduler, texture_map=texture_map,
    )  # fmt: skip
    job = _prepare(inputs, target_mode, target_path, target_person, gallery_pose, progress)
    progress(0, desc="DensePose, texture and sampling")
    result = run_on_gpu(job, progress)
    history, status = _finish(job, result, output_size, history)
    src, tgt = result.source, result.target
    return (
        history, history, src.skeleton(), iuv_to_display(src.iuv), src.texture, src.face_crop, tgt.skeleton(),
        iuv_to_display(tgt.iuv), status,
    )  # fmt: skip


@readable
def parse_photo(photo_path, person_index=-1, label="Source"):
    """Parse the person of a photo (the crop the edit uses) and draw the regions.

    Returns the ``(512, 352, 3)`` overlay and a note naming the parser
    ("coarse parsing (MediaPipe)" for the fallback) and the regions found.
    """
    if not photo_path:
        return None, ""
    from mcld.annotators.human_parsing import draw_parsing_overlay, parse_person

    person = get_locator().locate_person(photo_path, _person(person_index), what="edit")
    result = parse_person(get_parser(), person.crop, person.pose)
    regions = ", ".join(r.replace("_", " ") for r in result.present_regions()) or "none"
    people = len(person.people)
    who = "1 person" if people == 1 else f"{people} people; using person {person.person_index + 1}"
    note = f"{label}: {parsing_name(result.source)}. Regions: {regions}. ({who})"
    return draw_parsing_overlay(person.crop, result, legend=False), note


def parsing_legend_html() -> str:
    """One colour legend for every parsing overlay (same colours for all)."""
    from mcld.annotators.human_parsing import REGION_COLORS, REGIONS

    items = "".join(
        f'<span style="display:inline-flex;align-items:center;margin-right:14px;white-space:nowrap">'
        f'<span style="width:14px;height:14px;border:1px solid #888;margin-right:5px;'
        f'background:rgb{tuple(REGION_COLORS[name])}"></span>{name.replace("_", " ")}</span>'
        for name in REGIONS[1:]
    )
    return f'<div id="parsing-legend-items" style="line-height:1.9">Parsing colours: {items}</div>'


@readable
def edit_regions(
    source_path, source_person, photo_2, photo_3, photo_4, photo_5, face, hair, upper_garment, lower_garment,
    shoes, appearance, identity, parsing_attention, target_mode, target_path, target_person, gallery_pose, mirror,
    align, num_inference_steps, guidance_scale, seed, scheduler, output_size, texture_map, history,
    progress=gr.Progress()
):  # fmt: skip
    """Region editing: the source person with regions from other photos, in
    the target pose; the result (settings and selection in its caption and
    PNG metadata) goes first in the results.

    The dropdowns become a :class:`~mcld.editing.RegionSelection`
    (:meth:`~mcld.editing.RegionSelection.from_choices`); only the photos a
    choice names are prepared.

    Returns:
        ``(gallery, history, composed_texture, status)``: the new history
        twice, the ``(512, 512, 3)`` uint8 composed UV texture and the status line.

    Raises:
        gr.Error: as :func:`generate`, plus a region from an empty photo slot.
    """
    _check_request(
        source_path, output_size, num_inference_steps, guidance_scale, seed, "Upload a source photo of a person first (step 1)."
    )  # fmt: skip
    paths = [source_path, photo_2, photo_3, photo_4, photo_5]
    choices = dict(
        face=face, hair=hair, upper_garment=upper_garment, lower_garment=lower_garment, shoes=shoes,
        appearance=appearance, identity=identity,
    )  # fmt: skip
    selection, used = RegionSelection.from_choices(choices, OPTIONS.photo_labels, [bool(p) for p in paths])
    inputs = dict(
        source_path=source_path, source_person=source_person, mirror=mirror, align=align, steps=num_inference_steps,
        guidance=guidance_scale, seed=seed, scheduler=scheduler, texture_map=texture_map,
    )  # fmt: skip
    job = _prepare(
        inputs, target_mode, target_path, target_person, gallery_pose, progress, photos=[paths[s] for s in used[1:]],
        selection=selection, labels=[OPTIONS.photo_labels[s] for s in used], parser=get_parser(),
        parsing_attention=bool(parsing_attention),
    )  # fmt: skip
    progress(0, desc="DensePose, textures and sampling")
    result = run_on_gpu(job, progress)
    history, status = _finish(job, result, output_size, history)
    return history, history, result.composed.texture, status


#: The Compare section's choice for the uploaded target photo (the other choices are gallery pose names).
TARGET_PHOTO = "Target photo (step 2)"
#: Compare axes (``"none"``: no such axis); values are typed comma-separated.
COMPARE_AXES = ("none", "seed", "guidance", "steps", "scheduler", "ablation")


def _grid_seconds(request, progress=None) -> int:
    return grid_gpu_duration(request["plan"], request["photos"])


@spaces.GPU(duration=_grid_seconds)
@readable
def _grid_on_gpu(request, progress=None):
    """A whole grid in one GPU call (:func:`mcld.grid.run_grid`: each target's conditions once, then every cell)."""

    def on_cell(done: int, total: int) -> None:
        if progress is not None:
            progress((done, total), desc=f"Grid image {done}/{total}")

    return run_grid(get_pose_transfer(), request["source"], request["targets"], request["axes"], callback=on_cell, **request["settings"])


@readable
def compare(source_path, target_path, poses, axis_1, values_1, axis_2, values_2, num_inference_steps, guidance_scale, seed,
            scheduler, output_size, progress=gr.Progress()):  # fmt: skip
    """Poses x settings in one captioned sheet (:mod:`mcld.grid`), one GPU call.

    Args:
        source_path: Source-photo path (step 1).
        target_path: Target-photo path (step 2), used when ``poses`` names it.
        poses: Column poses: gallery pose names and/or :data:`TARGET_PHOTO`.
        axis_1, values_1: Row axis (:data:`COMPARE_AXES`) and its comma-separated values.
        axis_2, values_2: Column-split axis and its values (``"none"``: no split).
        num_inference_steps, guidance_scale, seed, scheduler, output_size: The
            Advanced settings of every image except the axes' own.
        progress: Gradio progress tracker (counts images).

    Returns:
        ``(sheet, status)``: the sheet PNG's path and a status line with its
        size in pixels and its headers.

    Raises:
        gr.Error: no source or pose, bad axis values, or a grid too large for
            one GPU call (the message says how many images fit).
    """
    _check_request(source_path, output_size, num_inference_steps, guidance_scale, seed, "Upload a source photo of a person first.")
    if not poses:
        raise visitor_error("Choose at least one pose to compare.")
    if TARGET_PHOTO in poses and not target_path:
        raise visitor_error("Upload a target-pose photo in step 2 to compare it, or untick it.")
    targets = [target_path if name == TARGET_PHOTO else _gallery_pose(name) for name in poses]
    axes = [parse_axis(f"{a}={v}") for a, v in ((axis_1, values_1), (axis_2, values_2)) if a and a != "none"]
    settings = dict(num_inference_steps=int(num_inference_steps), guidance_scale=float(guidance_scale), seed=int(seed), scheduler=scheduler)
    request = dict(source=source_path, targets=targets, axes=axes, plan=plan_grid(len(targets), axes, **settings))
    request.update(photos=list(poses).count(TARGET_PHOTO), settings=dict(settings, size=output_size, pose_labels=list(poses)))
    _grid_seconds(request)  # a grid too large for one GPU call is refused here, before any work
    result = _grid_on_gpu(request, progress)
    headers = [*(" ".join(h["lines"]) for h in result.layout["row_headers"]), *(" ".join(h["lines"]) for h in result.layout["column_headers"])]
    path = STORE.save_image(result.sheet, f"grid_{len(result.cells)}_images_")
    width, height = result.sheet.size
    return path, f"Done: {len(result.cells)} images, sheet {width}x{height} px. Headers: {'; '.join(headers)}."


def add_edit_photo(count):
    """Show one more extra-photo slot.

    Args:
        count: Extra-photo slots shown now (1..:data:`OPTIONS.max_edit_photos`).

    Returns:
        The new count, a visibility update per slot column, and one for the
        "+ Add photo" column (hidden once all slots show).
    """
    count = min(int(count) + 1, OPTIONS.max_edit_photos)
    columns = [gr.Column(visible=k < count) for k in range(OPTIONS.max_edit_photos)]
    return count, *columns, gr.Column(visible=count < OPTIONS.max_edit_photos)


def generate_example(source_path, target_path, progress=gr.Progress()):
    """Example runner (lazily cached): default settings, photo target.

    Returns:
        :func:`generate`'s outputs without the history state.
    """
    out = generate(
        source_path, -1, "photo", target_path, -1, None, False, False, OPTIONS.num_inference_steps,
        OPTIONS.guidance_scale, OPTIONS.seed, OPTIONS.scheduler, OPTIONS.output_sizes[0], next(iter(OPTIONS.texture_maps)),
        [], progress,
    )  # fmt: skip
    return (out[0], *out[2:])


# ------------------------------------------------------------------- layout
def build_demo() -> gr.Blocks:
    """The Blocks app (no model is loaded here)."""
    poses = _gallery()
    rows, examples_message = example_rows()
    with gr.Blocks(title="MCLD pose transfer", delete_cache=GRADIO_CACHE_SWEEP) as demo:
        gr.Markdown(
            "# MCLD: pose-guided person image synthesis\n"
            "Upload a photo of a person, choose a target pose, press **Generate**. "
            "Paper: *Multi-focal Conditioned Latent Diffusion for Person Image Synthesis* (CVPR 2025)."
        )
        if TINY:
            gr.Markdown(f"⚠️ **{TINY_BANNER}.**", elem_id="tiny-banner")
        startup = get_startup()
        # The overlays' label names the parser chosen at start-up ("coarse parsing (MediaPipe)" for the fallback).
        parsing_title = parsing_name(startup.parser.source if startup.parser is not None else "mediapipe-coarse")
        gr.Markdown(startup_status_markdown(startup, details=False), elem_id="weights-status")
        if startup.failed:
            with gr.Accordion(f"Start-up: {len(startup.failed)} part(s) did not load (details)", open=False, elem_id="startup-details"):
                gr.Markdown(startup_status_markdown(startup, details=True, head=False), elem_id="startup-failed")
        if examples_message:
            gr.Markdown(examples_message)

        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                gr.Markdown("### 1. Source person")
                with gr.Row():
                    source_image = PhotoInput(label="Source photo", height=300, elem_id="source-image")
                    source_overlay = gr.Image(
                        label="Detected people (click one to choose)", interactive=False, height=300, elem_id="source-overlay"
                    )
                source_note = gr.Markdown(label="Source note", elem_id="source-note")
                source_person = gr.Number(value=-1, precision=0, visible=False, label="Source person index")
                source_x = gr.Number(value=None, visible=False, label="Source click x (photo pixels)")
                source_y = gr.Number(value=None, visible=False, label="Source click y (photo pixels)")
            with gr.Column(scale=4):
                gr.Markdown("### 2. Target pose")
                target_mode = gr.Textbox(value="photo", visible=False, label="Target mode")
                with gr.Tabs():
                    with gr.Tab("From a photo", id="photo-tab") as photo_tab:
                        with gr.Row():
                            target_image = PhotoInput(label="Target-pose photo", height=300, elem_id="target-image")
                            target_overlay = gr.Image(
                                label="Detected people (click one to choose)", interactive=False, height=300, elem_id="target-overlay"
                            )
                        target_person = gr.Number(value=-1, precision=0, visible=False, label="Target person index")
                        target_x = gr.Number(value=None, visible=False, label="Target click x (photo pixels)")
                        target_y = gr.Number(value=None, visible=False, label="Target click y (photo pixels)")
                    with gr.Tab("Gallery", id="gallery-tab") as gallery_tab:
                        gr.Markdown("Click a pose; its name is what the API's `gallery_pose` takes.", elem_id="pose-gallery-note")
                        pose_gallery = gr.Gallery(
                            value=[(gallery_thumbnail(p, 256), f"{p.name} · {p.iuv_note}") for p in poses],
                            label="Pose gallery",
                            show_label=False,
                            columns=3,
                            height="auto",
                            allow_preview=False,
                            object_fit="contain",
                            elem_id="pose-gallery",
                        )
                        gallery_pose = gr.Textbox(label="Chosen gallery pose", interactive=False, elem_id="gallery-pose")
                target_note = gr.Markdown(label="Target note", elem_id="target-note")
            with gr.Column(scale=2, min_width=240):
                target_iuv = gr.Image(
                    label="Target pose Generate uses", interactive=False, height=300,
                    elem_id="target-iuv",
                )  # fmt: skip
                with gr.Row():
                    mirror = gr.Checkbox(label="Mirror", info="Flip the pose left-right", elem_id="mirror")
                    align = gr.Checkbox(label="Align to source", info="Scale and move the pose to the source person", elem_id="align")
                generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
                run_status = gr.Markdown(label="Status", elem_id="run-status")

        with gr.Accordion(
            "3. Edit regions (optional): face, hair and garments from other photos", open=False, elem_id="edit-regions"
        ):
            gr.Markdown(
                "Add photos of other people, then choose which photo each region comes from. "
                "**Source** is the photo of step 1; the target pose (step 2) and the Advanced settings are shared "
                "with Generate. Each photo's largest person is used; the coloured overlay is its parsing "
                "(which pixels count as face, hair, garments...)."
            )
            with gr.Row(equal_height=False):
                with gr.Column(scale=0, min_width=220):
                    gr.Markdown("**Source**")
                    edit_source_photo = gr.Image(
                        label="Source photo (step 1)", interactive=False, height=200, buttons=[], elem_id="edit-photo-1"
                    )
                    source_parsing = gr.Image(
                        label=parsing_title, interactive=False, height=330, buttons=["fullscreen"], elem_id="edit-parsing-1"
                    )
                    source_parsing_note = gr.Markdown(label="Parsing note", elem_id="edit-parsing-note-1")
                photo_columns, edit_photos, edit_parsings, edit_notes = [], [], [], []
                for k, label in enumerate(OPTIONS.photo_labels[1:], start=2):
                    with gr.Column(visible=k == 2, scale=0, min_width=220) as column:
                        gr.Markdown(f"**{label}**")
                        edit_photos.append(PhotoInput(label=label, height=200, elem_id=f"edit-photo-{k}"))
                        edit_parsings.append(
                            gr.Image(
                                label=parsing_title, interactive=False, height=330, buttons=["fullscreen"],
                                elem_id=f"edit-parsing-{k}",
                            )  # fmt: skip
                        )
                        edit_notes.append(gr.Markdown(label=f"{label} parsing note", elem_id=f"edit-parsing-note-{k}"))
                    photo_columns.append(column)
                with gr.Column(scale=0, min_width=150) as add_photo_column:
                    add_photo_button = gr.Button("+ Add photo", variant="secondary", elem_id="edit-add-photo")
            gr.HTML(parsing_legend_html(), elem_id="parsing-legend")
            edit_photo_count = gr.State(1)
            photo_choices = list(OPTIONS.photo_labels)
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    with gr.Row():
                        edit_dropdowns = {
                            field: gr.Dropdown(
                                photo_choices, value="Source", label=REGION_LABELS[field], min_width=140,
                                elem_id=f"edit-{field.replace('_', '-')}",
                            )  # fmt: skip
                            for field in ("face", "hair", "upper_garment", "lower_garment", "shoes")
                        }
                    with gr.Row():
                        edit_dropdowns["appearance"] = gr.Dropdown(
                            photo_choices, value="Source", label=REGION_LABELS["appearance"],
                            info="Whose whole crop the CLIP image encoder sees (overall look and colours)",
                            elem_id="edit-appearance",
                        )  # fmt: skip
                        edit_dropdowns["identity"] = gr.Dropdown(
                            [SAME_AS_FACE, *photo_choices], value=SAME_AS_FACE, label=REGION_LABELS["identity"],
                            info="Whose insightface embedding gives the identity tokens", elem_id="edit-identity",
                        )  # fmt: skip
                        parsing_attention = gr.Checkbox(
                            label="Parsing-guided reference attention (TruePose-style, no training)",
                            info="Each body region reads only the photo it comes from (one reference per photo)",
                            elem_id="edit-parsing-attention",
                        )
                    edit_button = gr.Button("Generate edit", variant="primary", elem_id="edit-generate")
                with gr.Column(scale=1, min_width=220):
                    edit_texture = gr.Image(
                        label="Composed UV texture (last edit)", interactive=False, height=300, elem_id="edit-texture"
                    )

        with gr.Accordion("4. Compare: poses x settings in one sheet", open=False, elem_id="compare"):
            gr.Markdown(
                "The source of step 1 in up to 6 poses (columns) and up to 2 axes of settings (rows, column split); "
                "every image uses the Advanced settings except the axes' own. One GPU call for the whole grid."
            )
            compare_poses = gr.CheckboxGroup(
                [TARGET_PHOTO, *(p.name for p in poses)], value=[p.name for p in poses[:2]], label="Poses (columns)",
                elem_id="compare-poses",
            )  # fmt: skip
            with gr.Row():
                compare_axis_1 = gr.Dropdown(list(COMPARE_AXES), value="seed", label="Rows", elem_id="compare-axis-1")
                compare_values_1 = gr.Textbox("0,1", label="Row values (comma-separated)", elem_id="compare-values-1")
                compare_axis_2 = gr.Dropdown(list(COMPARE_AXES), value="none", label="Column split", elem_id="compare-axis-2")
                compare_values_2 = gr.Textbox("", label="Split values", elem_id="compare-values-2")
            compare_button = gr.Button("Run grid", variant="primary", elem_id="compare-run")
            compare_status = gr.Markdown(label="Compare status", elem_id="compare-status")
            compare_sheet = gr.Image(label="Comparison grid", interactive=False, type="filepath", format="png", elem_id="compare-sheet")

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
        with gr.Row(equal_height=False):
            sheet_button = gr.Button(
                "Comparison sheet: all results in one PNG", variant="secondary", size="sm", scale=0, min_width=300,
                elem_id="sheet-button",
            )
            sheet_file = gr.File(label="Comparison sheet", interactive=False, visible=False, elem_id="sheet-file")

        with gr.Accordion("Advanced", open=False, elem_id="advanced"):
            with gr.Row():
                steps = gr.Slider(
                    1, 100, value=OPTIONS.num_inference_steps, step=1, label="Steps", info="Denoising steps (paper: 20)", elem_id="steps"
                )
                guidance = gr.Slider(0.0, 20.0, value=3.5, step=0.1, label="Guidance", info="Classifier-free guidance (paper: 3.5)")
            with gr.Row():
                seed = gr.Number(value=42, precision=0, minimum=0, label="Seed", elem_id="seed")
                seed_button = gr.Button("Randomise seed", size="sm")
                scheduler = gr.Dropdown(list(SCHEDULERS), value="ddim", label="Scheduler", info="ddim is what the paper uses")
                output_size = gr.Radio(list(OPTIONS.output_sizes), value="512x352", label="Output size")
                texture_map = gr.Radio(
                    list(OPTIONS.texture_maps), value="upstream (default)", label="Texture map",
                    info="How the UV texture map's unseen parts are filled: upstream MCLD's rule, or a clean fill",
                    elem_id="texture-map",
                )  # fmt: skip

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
        # Failures never leave an output in an error state (ui_event): a toast
        # and the section's status line say what went wrong.
        source_parsed = [source_parsing, source_parsing_note]
        source_outputs = [source_overlay, source_person, source_note]
        target_outputs = [target_overlay, target_person, target_note]
        # A new upload resets the chosen person at once, in the browser: a
        # Generate clicked before detection returns must not use an index
        # picked in the previous photo (-1 = the largest person).
        for photo, person in ((source_image, source_person), (target_image, target_person)):
            photo.change(None, None, person, js="() => -1", queue=False, api_visibility="private")
        source_image.change(
            ui_event(detect_source, 3, 2), source_image, source_outputs, api_name="detect_source"
        ).success(ui_event(parse_photo, 2, 1, toast=False), [source_image, source_person], source_parsed, api_name="parse_photo")
        source_image.change(
            lambda path: path, source_image, edit_source_photo, api_name="edit_source_photo", api_visibility="private"
        )
        # A click on an overlay: its (x, y) in photo pixels, then the pick endpoint with explicit coordinates.
        source_overlay.select(click_position, None, [source_x, source_y], api_visibility="private").success(
            ui_event(pick_source, 3, 2), [source_image, source_x, source_y], source_outputs, api_name="pick_source"
        ).success(
            ui_event(parse_photo, 2, 1, toast=False), [source_image, source_person], source_parsed,
            api_name="parse_source", api_visibility="private",
        )  # fmt: skip
        target_image.change(ui_event(detect_target, 3, 2), target_image, target_outputs, api_name="detect_target")
        target_overlay.select(click_position, None, [target_x, target_y], api_visibility="private").success(
            ui_event(pick_target, 3, 2), [target_image, target_x, target_y], target_outputs, api_name="pick_target"
        )
        pose_gallery.select(ui_event(gallery_pose_at, 1), None, gallery_pose, api_visibility="private").success(
            ui_event(pick_gallery_pose, 2), gallery_pose, [gallery_pose, target_mode], api_name="pick_gallery_pose"
        )
        # Opening a tab only sets the mode, in the browser, at once.
        photo_tab.select(None, None, target_mode, js="() => 'photo'", queue=False, api_visibility="private")
        gallery_tab.select(None, None, target_mode, js="() => 'gallery'", queue=False, api_visibility="private")
        # One preview event for every change of what Generate would use; "always_last":
        # a change while a preview runs queues one more run with the newest values,
        # so a late answer for an older selection never stays on screen.
        preview_inputs = [target_mode, target_image, target_person, gallery_pose, mirror, align, source_image, source_person]
        gr.on(
            [target_mode.change, target_person.change, gallery_pose.change, mirror.change, align.change, source_person.change],
            ui_event(preview_target, 2, 1), preview_inputs, [target_iuv, target_note], api_name="preview_target",
            trigger_mode="always_last", concurrency_id="preview", concurrency_limit=1,
        )  # fmt: skip
        seed_button.click(randomize_seed, None, seed, api_name="randomize_seed")
        # Generate and Generate edit are disabled while either job runs.
        run_buttons = [generate_button, edit_button]

        def _lock():
            return [gr.Button(interactive=False)] * 2

        def _unlock():
            return [gr.Button(interactive=True)] * 2

        generate_button.click(_lock, None, run_buttons, queue=False, api_visibility="private").then(
            ui_event(generate, 9, 8),
            [
                source_image, source_person, target_mode, target_image, target_person, gallery_pose, mirror, align,
                steps, guidance, seed, scheduler, output_size, texture_map, history,
            ],
            [
                results, history, cond_source_skeleton, cond_source_iuv, cond_texture, cond_face,
                cond_target_skeleton, cond_target_iuv, run_status,
            ],
            api_name="generate",
        ).then(_unlock, None, run_buttons, queue=False, api_visibility="private")  # fmt: skip
        sheet_button.click(ui_event(comparison_sheet, 1), history, sheet_file, api_name="comparison_sheet").success(
            lambda: gr.File(visible=True), None, sheet_file, api_visibility="private"
        )
        for k, (photo, parsing, note) in enumerate(zip(edit_photos, edit_parsings, edit_notes), start=2):
            label = f"Photo {k}"
            photo.change(
                ui_event(lambda path, label=label: parse_photo(path, -1, label), 2, 1), photo, [parsing, note],
                api_name=f"parse_photo_{k}", api_visibility="private",
            )  # fmt: skip
        add_photo_button.click(
            add_edit_photo, edit_photo_count, [edit_photo_count, *photo_columns, add_photo_column], api_name="add_photo",
            api_visibility="private",
        )  # fmt: skip
        edit_button.click(_lock, None, run_buttons, queue=False, api_visibility="private").then(
            ui_event(edit_regions, 4, 3),
            [
                source_image, source_person, *edit_photos, *edit_dropdowns.values(), parsing_attention,
                target_mode, target_image, target_person, gallery_pose, mirror, align,
                steps, guidance, seed, scheduler, output_size, texture_map, history,
            ],
            [results, history, edit_texture, run_status],
            api_name="edit",
        ).then(_unlock, None, run_buttons, queue=False, api_visibility="private")  # fmt: skip
        compare_button.click(
            ui_event(compare, 2, 1),
            [
                source_image, target_image, compare_poses, compare_axis_1, compare_values_1, compare_axis_2,
                compare_values_2, steps, guidance, seed, scheduler, output_size,
            ],
            [compare_sheet, compare_status],
            api_name="compare",
        )  # fmt: skip
    return demo


if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mcld").setLevel(logging.INFO)
    import mcld.gallery  # noqa: F401 - the heavy imports (torch, mediapipe, the pose gallery) happen here, first
    import mcld.pose_transfer  # noqa: F401
    import mcld.weights  # noqa: F401

    LOGGER.info("start-up: imports done")  # tools/appserver.py measures from this line to the first HTTP 200
    start_up()
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

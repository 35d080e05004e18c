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
import json
import logging
import os
import random
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np
import spaces

from mcld.errors import MCLDError
from mcld.gradio_photo import PhotoInput
from mcld.image_utils import MAX_FILE_BYTES
from mcld.schedulers import SCHEDULERS
from mcld.zerogpu import GPU_CONDITIONS_S, GPU_MAX_S, gpu_duration

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
OUTPUT_SIZES = {"512x352": "image_512x352", "256x176": "image_256x176"}
#: Advanced "Texture map" choice -> ``texture_fill`` of :meth:`PoseTransfer.prepare_source`
#: (upstream MCLD's hole filling, the default, or our clean fill).
TEXTURE_MAPS = {"upstream (default)": "upstream", "clean fill": "clean"}
DEFAULT_STEPS = 4 if TINY else 20
LOGGER = logging.getLogger("mcld.app")
RESULTS_DIR = Path(tempfile.gettempdir()) / "mcld_results"
#: Result PNGs kept in RESULTS_DIR (all visitors together): the newest ones,
#: and none older than RESULTS_MAX_AGE_S; older ones are deleted on each save.
RESULTS_MAX_FILES = 200
RESULTS_MAX_AGE_S = 24 * 3600
#: Gradio's own cache (uploads, and outputs copied for serving): every hour,
#: delete the files older than RESULTS_MAX_AGE_S (``gr.Blocks(delete_cache=...)``).
GRADIO_CACHE_SWEEP = (3600, RESULTS_MAX_AGE_S)
#: Results one visitor's gallery keeps (newest first).
MAX_HISTORY = 24
#: Extra photos of "Edit regions" (Photo 2 .. Photo 5; the source is "Source").
MAX_EDIT_PHOTOS = 4
EDIT_PHOTO_LABELS = ("Source", *(f"Photo {k}" for k in range(2, MAX_EDIT_PHOTOS + 2)))
#: Edit choices: RegionSelection field -> dropdown label.
EDIT_CHOICES = {
    "face": "Face",
    "hair": "Hair",
    "upper_garment": "Upper garment",
    "lower_garment": "Lower garment",
    "shoes": "Shoes",
    "appearance": "Appearance (CLIP)",
    "identity": "Identity (face embedding)",
}
SAME_AS_FACE = "Same as face"
#: Parser (``ParsingResult.source`` / ``HumanParser.source``) -> the name the UI shows.
PARSING_NAMES = {
    "mediapipe-coarse": "coarse parsing (MediaPipe)",
    "schp-atr-onnx": "parsing (SCHP, ATR)",
    "schp-lip-onnx": "parsing (SCHP, LIP)",
    "schp-onnx": "parsing (SCHP)",
}

#: What :func:`mcld.startup.preload` built before ``launch()`` (set by ``__main__``).
_STARTUP = None
_STARTUP_LOCK = threading.Lock()
_LOCATOR = None
_LOCATOR_LOCK = threading.Lock()
_PEOPLE_CACHE: OrderedDict = OrderedDict()
_PEOPLE_CACHE_SIZE = 8
_PEOPLE_LOCK = threading.Lock()


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
    """A :class:`~mcld.pose_transfer.PoseTransfer` without models: locates and
    crops people (MediaPipe) for previews without loading any weights."""
    global _LOCATOR
    with _LOCATOR_LOCK:
        if _LOCATOR is None:
            from mcld.pose_transfer import PoseTransfer

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


def _people(path: str | None):
    """``(photo, people)`` for an uploaded file (MediaPipe, CPU).

    The last few files are cached (by path, size and mtime): preview, click,
    parse and generate of one upload run MediaPipe once.
    """
    try:
        stat = os.stat(path)
        key = (str(path), stat.st_size, stat.st_mtime_ns)
    except (OSError, TypeError):
        key = None
    with _PEOPLE_LOCK:
        if key in _PEOPLE_CACHE:
            _PEOPLE_CACHE.move_to_end(key)
            return _PEOPLE_CACHE[key]
    found = get_locator().detect_people(path)  # the locator's own MediaPipe graphs, built once
    if key is not None:
        with _PEOPLE_LOCK:
            _PEOPLE_CACHE[key] = found
            while len(_PEOPLE_CACHE) > _PEOPLE_CACHE_SIZE:
                _PEOPLE_CACHE.popitem(last=False)
    return found


def _overlay(photo, people, index: int) -> np.ndarray:
    from mcld.annotators.mediapipe_pose import draw_pose_overlay

    return draw_pose_overlay(photo, people, selected=index if len(people) > 1 else None)


def _largest(people) -> int:
    return int(np.argmax([float((p.box[2] - p.box[0]) * (p.box[3] - p.box[1])) for p in people]))


def _people_note(people, index: int, what: str) -> str:
    """How many people a photo holds and which one is used, plus that
    person's own notes (no face found, feet out of frame)."""
    own = " ".join(getattr(people[index], "notes", None) or [])
    if len(people) == 1:
        return f"1 person found in the {what} photo. {own}".strip()
    return (
        f"{len(people)} people found in the {what} photo; using person {index + 1}. Click a person to choose another. {own}"
    ).strip()


def _gallery():
    """The pose gallery prepared at start-up (photo entries with their DensePose IUV)."""
    gallery = get_startup().gallery
    if gallery is None:
        from mcld.gallery import load_gallery

        gallery = load_gallery()
    return gallery


def _gallery_pose(name: str | None):
    """The gallery pose named ``name`` (its name or label; ``gr.Error`` listing the valid names)."""
    from mcld.gallery import find_gallery_pose

    if not name:
        raise visitor_error("Choose a pose in the gallery first.")
    try:
        return find_gallery_pose(_gallery(), name)
    except MCLDError as err:
        raise _user_error(err) from None


def _index(value: float | None, people) -> int:
    """Hidden person-index field -> index (``-1``/empty: the largest person)."""
    if value is None or int(value) < 0 or int(value) >= len(people):
        return _largest(people)
    return int(value)


def _chosen(value: float | None, people, what: str) -> int | None:
    """Hidden person-index field -> ``person_index`` (``-1``/empty: ``None``, the largest).

    Raises:
        gr.Error: the index names a person this photo does not have (an index
            chosen in another photo, e.g. through the API).
    """
    if value is None or int(value) < 0:
        return None
    if int(value) >= len(people):
        found = "1 person was" if len(people) == 1 else f"{len(people)} people were"
        raise visitor_error(
            f"Person {int(value) + 1} was chosen, but {found} found in the {what} photo. Click a person to choose again."
        )
    return int(value)


def _locate(pt, path: str | None, person: float | None, what: str):
    """The chosen person of an uploaded photo, cropped (MediaPipe, CPU):
    a :class:`~mcld.pose_transfer.PersonCrop`."""
    photo, people = _people(path)
    return pt.locate_person(photo, _chosen(person, people, what), people=people, what=what)


def _check_sampling(num_inference_steps, guidance_scale, seed) -> None:
    """The Advanced settings, checked before any work.

    Raises:
        gr.Error: a field is empty or out of range (the message names it).
    """
    from mcld.pose_transfer import check_sampling_args

    for name, value in (("Steps", num_inference_steps), ("Guidance", guidance_scale), ("Seed", seed)):
        if value is None:
            raise visitor_error(f"{name} is empty: enter a number in Advanced.")
    try:
        check_sampling_args(num_inference_steps, guidance_scale, seed)
    except (TypeError, ValueError) as err:
        raise visitor_error(f"Advanced settings: {err}.") from None


def _source_person(source_path: str | None, source_person: float | None):
    """The source person located and cropped, no DensePose (its ``pose`` is
    what "Align to source" previews align to), or None without a photo."""
    if not source_path:
        return None
    photo, people = _people(source_path)
    return get_locator().locate_person(photo, _index(source_person, people), people=people)


def _target_on_cpu(pt, mode, target_path, target_person, gallery_name, mirror, align_to):
    """The target, CPU half: a whole gallery :class:`~mcld.pose_transfer.TargetConditions`
    (its IUV is drawn from the pose), or the photo's :class:`~mcld.pose_transfer.PersonCrop`
    (DensePose follows on the GPU)."""
    from mcld.gallery import gallery_target

    if mode == "gallery":
        return gallery_target(_gallery_pose(gallery_name), mirror=bool(mirror), align_to=align_to)
    if not target_path:
        raise visitor_error("Upload a target-pose photo, or choose a pose in the Gallery tab.")
    return _locate(pt, target_path, target_person, "target")


def _target_on_gpu(pt, target, mirror: bool, align_to):
    """The target, GPU half: DensePose on a photo target's crop (gallery targets are done)."""
    from mcld.pose_transfer import PersonCrop

    if isinstance(target, PersonCrop):
        return pt.prepare_target(target, mirror=bool(mirror), align_to=align_to)
    return target


def _progress_callback(progress):
    def on_step(i: int, n: int) -> None:
        if progress is not None:
            progress((i, n), desc=f"Denoising step {i}/{n}")

    return on_step


def _readable_errors(fn):
    """Raise :class:`gr.Error` for mcld's input errors inside a ``spaces.GPU``
    function: ZeroGPU runs it in a worker process and passes a ``gr.Error``
    through, but shows any other exception only by its class name."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (MCLDError, ValueError) as err:
            raise _user_error(err) from None

    return wrapper


def _gpu_seconds(job: dict, progress=None) -> int:
    return gpu_duration(job["num_inference_steps"], 1)


@spaces.GPU(duration=_gpu_seconds)
@_readable_errors
def _generate_on_gpu(job: dict, progress=None):
    """The GPU work of one generation: DensePose (source, photo target), the
    UV texture from it, diffusion. People, crops and the face come in ``job``."""
    pt = get_pose_transfer()
    source = pt.prepare_source(job["source"], face=job["face"], texture_fill=job["texture_fill"])
    target = _target_on_gpu(pt, job["target"], job["mirror"], source if job["align"] else None)
    result = pt.generate(
        source, target, num_inference_steps=job["num_inference_steps"], guidance_scale=job["guidance_scale"],
        seed=job["seed"], scheduler=job["scheduler"], callback=_progress_callback(progress),
    )  # fmt: skip
    return source, target, result


def _edit_gpu_seconds(job: dict, progress=None) -> int:
    """One generation, DensePose for each extra photo and, with parsing
    attention, one more ReferenceNet pass per extra reference."""
    extra = len(job["photos"]) - 1
    references = 1 + (extra if job["parsing_attention"] else 0)
    seconds = gpu_duration(job["num_inference_steps"], references) + GPU_CONDITIONS_S / 2 * extra
    return int(min(GPU_MAX_S, -(-seconds // 1)))


@spaces.GPU(duration=_edit_gpu_seconds)
@_readable_errors
def _edit_on_gpu(job: dict, progress=None):
    """The GPU work of one edit: DensePose of every photo and of a photo
    target, their UV textures, the composition and diffusion. Crops, faces and
    parsings come in ``job``."""
    from mcld.editing import EditSource, edit

    pt = get_pose_transfer()
    sources = [
        EditSource.from_source_conditions(pt.prepare_source(person, face=face, texture_fill=job["texture_fill"]), parsing)
        for person, face, parsing in job["photos"]
    ]
    target = _target_on_gpu(pt, job["target"], job["mirror"], sources[0].conditions if job["align"] else None)
    return edit(
        pt, sources, job["selection"], target, parsing_attention=job["parsing_attention"],
        num_inference_steps=job["num_inference_steps"], guidance_scale=job["guidance_scale"], seed=job["seed"],
        scheduler=job["scheduler"], callback=_progress_callback(progress), photo_labels=job["labels"],
    )  # fmt: skip


def _prune_results(now: float | None = None) -> None:
    """Bound :data:`RESULTS_DIR`: delete result PNGs older than
    :data:`RESULTS_MAX_AGE_S` seconds and all but the newest
    :data:`RESULTS_MAX_FILES` (safe to run from several handlers at once)."""
    now = time.time() if now is None else now
    found = []
    for path in RESULTS_DIR.glob("mcld_*.png"):
        try:
            found.append((path.stat().st_mtime, path))
        except OSError:  # deleted meanwhile by another handler's prune
            continue
    found.sort(reverse=True)
    for rank, (mtime, path) in enumerate(found):
        if rank >= RESULTS_MAX_FILES or now - mtime > RESULTS_MAX_AGE_S:
            path.unlink(missing_ok=True)


def _save_result(image, settings: dict, caption: str, history):
    """Write a result PNG (settings in its ``mcld_settings`` text chunk) and
    put it first in the results history.

    Args:
        image: The result, RGB PIL image.
        settings: JSON-serialisable settings (``mode``, ``seed``,
            ``num_inference_steps`` name the file).
        caption: Gallery caption.
        history: The visitor's earlier ``(path, caption)`` pairs, newest first.

    Returns:
        The new history: this result first, then the earlier ones whose file
        still exists (:func:`_prune_results` may have deleted old ones), at
        most :data:`MAX_HISTORY` entries.
    """
    from PIL.PngImagePlugin import PngInfo

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    _prune_results()
    meta = PngInfo()
    meta.add_text("mcld_settings", json.dumps(settings))
    fd, out_path = tempfile.mkstemp(
        prefix=f"mcld_{settings['mode']}_s{settings['seed']}_steps{settings['num_inference_steps']}_", suffix=".png", dir=RESULTS_DIR
    )
    os.close(fd)
    image.save(out_path, pnginfo=meta)
    kept = [tuple(item) for item in history or [] if os.path.exists(item[0])]
    return [(out_path, caption), *kept][:MAX_HISTORY]


def comparison_sheet(history):
    """All of the visitor's results in one captioned PNG, newest first as in
    the results gallery: the page to download for a side-by-side comparison
    of seeds, poses or settings.

    Args:
        history: The visitor's results, ``[(png_path, caption), ...]``.

    Returns:
        Path of the sheet, a PNG in :data:`RESULTS_DIR`.

    Raises:
        gr.Error: no result yet (or all of them expired).
    """
    from PIL import Image

    from mcld.contact_sheet import contact_sheet

    items = [(path, caption) for path, caption in history or [] if os.path.exists(path)]
    if not items:
        raise visitor_error("Generate a result first: the sheet puts the results gallery in one image.")
    images = []
    for path, _ in items:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    # Full resolution: every tile at the tallest result's height (512 for 512x352 results).
    tile_height = min(512, max(image.height for image in images))
    sheet = contact_sheet(images, [caption for _, caption in items], columns=min(4, len(images)), tile_height=tile_height)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    _prune_results()
    fd, out_path = tempfile.mkstemp(prefix=f"mcld_sheet_{len(images)}_results_", suffix=".png", dir=RESULTS_DIR)
    os.close(fd)
    sheet.save(out_path)
    return out_path


def _check_request(source_path, output_size, num_inference_steps, guidance_scale, seed, missing_source: str) -> None:
    """The checks Generate and Generate edit share: a source photo, a known
    output size, usable Advanced settings (``gr.Error`` naming what is wrong)."""
    if not source_path:
        raise visitor_error(missing_source)
    if output_size not in OUTPUT_SIZES:
        raise visitor_error(f"Output size must be one of {', '.join(OUTPUT_SIZES)}.")
    _check_sampling(num_inference_steps, guidance_scale, seed)


def _sampling_job(target, mirror, align, num_inference_steps, guidance_scale, seed, scheduler) -> dict:
    """The target and sampling settings of a GPU job (plain types, picklable)."""
    return {
        "target": target,
        "mirror": bool(mirror),
        "align": bool(align),
        "num_inference_steps": int(num_inference_steps),
        "guidance_scale": float(guidance_scale),
        "seed": int(seed),
        "scheduler": scheduler,
    }


def _pose_caption(settings: dict, mode: str, gallery_pose: str | None) -> str:
    """Caption tail for the target pose: mirror, align and the gallery pose;
    records the gallery pose in ``settings`` too."""
    if mode == "gallery":
        settings["gallery_pose"] = gallery_pose
    return (
        f"{' | mirror' if settings['mirrored'] else ''}{' | align' if settings['aligned'] else ''}"
        f"{' | gallery: ' + gallery_pose if mode == 'gallery' else ''}"
    )


def _texture_fill(texture_map) -> str:
    """Advanced "Texture map" choice -> ``texture_fill`` (``gr.Error`` for an unknown one)."""
    if texture_map in TEXTURE_MAPS.values():
        return texture_map
    if texture_map not in TEXTURE_MAPS:
        raise visitor_error(f"Texture map must be one of {', '.join(TEXTURE_MAPS)}, not '{texture_map}'.")
    return TEXTURE_MAPS[texture_map]


def _texture_caption(source) -> str:
    """Caption tail for the texture map: the clean fill, or "approximate texture map"."""
    fill = getattr(source, "texture_fill", "upstream")
    approximate = " | approximate texture map" if getattr(source, "texture_approximate", False) else ""
    return f"{' | texture: clean fill' if fill == 'clean' else ''}{approximate}"


def _run_notes(warnings, face) -> str:
    """The notes of one run for its status line (no toasts: each run's notes
    replace the last run's). Left out, because said elsewhere once: the
    face-model-missing note (start-up status line) and the approximate-texture
    note (the result's caption and the start-up status line)."""
    from mcld.annotators.uv_texture import APPROXIMATE_TEXTURE_NOTE

    _, face_status, _, face_note = face
    notes = [
        n for n in dict.fromkeys(warnings)
        if not (face_status == "model_missing" and n == face_note) and not n.startswith(APPROXIMATE_TEXTURE_NOTE)
    ]  # fmt: skip
    return f" Notes: {' '.join(notes)}" if notes else ""


def _sampling_caption(settings: dict, output_size: str) -> str:
    return (
        f"{output_size} | steps {settings['num_inference_steps']} | guidance {settings['guidance_scale']:g} | "
        f"seed {settings['seed']} | {settings['scheduler']}"
    )


# ----------------------------------------------------------------- handlers
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
    if not source_path:
        return None, -1, ""
    try:
        photo, people = _people(source_path)
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    idx = _largest(people)
    return _overlay(photo, people, idx), idx, _people_note(people, idx, "source")


def click_position(evt: gr.SelectData):
    """A click on an overlay -> ``(x, y)`` in photo pixels, for the pick
    endpoints. A click on an image still loading has no coordinates:
    ``(None, None)``, which the pick asks to repeat."""
    index = getattr(evt, "index", None)
    if not isinstance(index, (list, tuple)) or len(index) != 2 or any(v is None for v in index):
        return None, None
    return float(index[0]), float(index[1])


def _pick(photo_path, x, y, what: str):
    """``(overlay, person_index, note)`` for a click at ``(x, y)`` photo pixels."""
    from mcld.annotators.mediapipe_pose import pick_person

    if not photo_path:
        raise visitor_error(f"Upload a {what} photo first.")
    if x is None or y is None:
        raise visitor_error("The photo was still loading: click the person again.")
    try:
        photo, people = _people(photo_path)
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    idx = pick_person(people, float(x), float(y))
    return _overlay(photo, people, idx), idx, _people_note(people, idx, what)


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
    from mcld.pose_transfer import CROP_SIZE

    return draw_pose_overlay(np.zeros((CROP_SIZE[1], CROP_SIZE[0], 3), np.uint8), [pose])


def preview_target(mode, target_path, target_person, gallery_pose, mirror, align, source_path, source_person):
    """The target pose exactly as Generate will use it, drawn on the CPU (no GPU call).

    A gallery pose is shown as the IUV the model gets (drawn from the pose). A
    photo target is shown as the chosen person's skeleton in the crop frame,
    mirrored and aligned as asked: its DensePose IUV is computed inside the
    Generate GPU call and shown with the result (Conditions).

    Args:
        mode: ``"photo"`` or ``"gallery"``.
        target_path: Target-photo path (photo mode), or ``None``.
        target_person: Chosen person index, ``-1`` for the largest.
        gallery_pose: Gallery pose name (gallery mode), or ``None``.
        mirror: Mirror the pose left-right.
        align: Scale and move the pose onto the source person.
        source_path: Source-photo path (used with ``align``), or ``None``.
        source_person: Source person index, ``-1`` for the largest.

    Returns:
        ``(picture, note)``: ``(512, 352, 3)`` uint8 RGB picture (the IUV
        for a gallery pose, the skeleton for a photo; ``None`` with nothing to
        show) and a Markdown note naming the pose (gallery name, or the person
        of the photo), mirrored, aligned, warnings.

    Raises:
        gr.Error: unusable file, nobody found, unknown gallery pose (the
            message lists the valid names).
    """
    from mcld.annotators.mediapipe_pose import align_pose, mirror_pose
    from mcld.pose_transfer import iuv_to_display

    try:
        source_crop = _source_person(source_path, source_person) if align else None
        if mode == "gallery":
            if not gallery_pose:
                return None, "Choose a pose in the gallery."
            pose = _gallery_pose(gallery_pose)
            target = _target_on_cpu(None, mode, None, None, pose.name, mirror, source_crop)
            # One name: the entry's own "Gallery pose '<label>': ..." sentence is replaced by one with its name.
            others = [w for w in target.warnings if not w.startswith("Gallery pose '")]
            notes = [
                f"Gallery pose **{pose.name}**: {pose.iuv_note}.", *others,
                "Mirrored." if target.mirrored else "", "Aligned to the source person." if target.aligned else "",
            ]  # fmt: skip
            note = " ".join(n for n in notes if n)
            return iuv_to_display(target.iuv), note
        if not target_path:
            return None, ""
        crop = _target_on_cpu(get_locator(), "photo", target_path, target_person, None, mirror, None)
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    pose = mirror_pose(crop.pose) if mirror else crop.pose
    if source_crop is not None:
        pose, _ = align_pose(pose, source_crop.pose)
    people_note = _people_note(crop.people, crop.person_index, "target")
    notes = [
        people_note,
        "Mirrored." if mirror else "",
        "Aligned to the source person." if source_crop is not None else "",
        "Its DensePose IUV is computed with Generate (one GPU call) and shown under Conditions.",
    ]
    own = [w for w in crop.warnings if w not in people_note]  # the person's notes are in people_note already
    return _pose_picture(pose), " ".join(n for n in [*own, *notes] if n)


def detect_target(target_path):
    """Find the people in the target photo, draw them, pick the largest (CPU,
    no GPU call: the preview follows from :func:`preview_target`).

    Returns:
        ``(overlay, person_index, note)`` as :func:`detect_source`.

    Raises:
        gr.Error: unusable file or nobody found.
    """
    if not target_path:
        return None, -1, ""
    try:
        photo, people = _people(target_path)
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    idx = _largest(people)
    return _overlay(photo, people, idx), idx, _people_note(people, idx, "target")


def pick_target(target_path, x, y):
    """Choose the target-pose person at a point of the photo; as :func:`pick_source`."""
    return _pick(target_path, x, y, "target")


def gallery_pose_at(evt: gr.SelectData) -> str:
    """A click on a gallery thumbnail -> that pose's name."""
    poses = _gallery()
    index = getattr(evt, "index", None)
    if not isinstance(index, int) or not 0 <= index < len(poses):
        raise visitor_error("Click a pose in the gallery again.")
    return poses[index].name


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
    texture_map,
    history,
    progress=gr.Progress(),
):
    """Generate the source person in the target pose; put the result first in the results.

    MediaPipe (cached per upload), the crops and the face embedding run here on
    the CPU; DensePose, the UV texture and sampling in :func:`_generate_on_gpu`.

    Args:
        source_path: Source-photo path.
        source_person: Source person index, ``-1`` for the largest.
        target_mode: ``"photo"`` or ``"gallery"``.
        target_path: Target-photo path (photo mode).
        target_person: Target person index, ``-1`` for the largest.
        gallery_pose: Gallery pose name (gallery mode).
        mirror: Mirror the target pose.
        align: Align the target pose to the source person.
        num_inference_steps: Denoising steps, 1..100.
        guidance_scale: Classifier-free guidance, 0..20.
        seed: Noise seed, ``>= 0``.
        scheduler: A name from :data:`mcld.schedulers.SCHEDULERS`.
        output_size: A key of :data:`OUTPUT_SIZES` (``"512x352"`` or ``"256x176"``).
        texture_map: A key of :data:`TEXTURE_MAPS`: how the UV texture map's
            holes are filled (upstream's rule, or the clean fill).
        history: The visitor's results, ``[(png_path, caption), ...]``, newest
            first; the new history keeps the newest :data:`MAX_HISTORY`.
        progress: Gradio progress tracker.

    Returns:
        ``(gallery, history, source_skeleton, source_iuv, texture, face_crop,
        target_skeleton, target_iuv, status)``: the new history twice (gallery
        and state); ``(512, 352, 3)`` uint8 RGB skeletons and IUV pictures, the
        ``(512, 512, 3)`` UV texture, the face crop (or ``None``) and a status line.

    Raises:
        gr.Error: missing input, bad settings, unusable file, nobody found, or
            any other :class:`~mcld.errors.MCLDError` (its ``user_message``).
    """
    _check_request(
        source_path, output_size, num_inference_steps, guidance_scale, seed, "Upload a source photo of a person first."
    )
    pt = get_pose_transfer()  # answers at once when the models did not load at start-up
    mode = "gallery" if target_mode == "gallery" else "photo"
    if mode == "gallery":
        gallery_pose = _gallery_pose(gallery_pose).name  # one name: a label given through the API becomes the name
    progress(0, desc="Finding the people (MediaPipe) and the face")
    try:
        source_crop = _locate(pt, source_path, source_person, "source")
        target = _target_on_cpu(
            pt, mode, target_path, target_person, gallery_pose, mirror, source_crop if align else None
        )  # fmt: skip
        job = {
            "source": source_crop,
            "face": pt.face_embedding(source_crop),  # detection's face decision counts (no face: zeros, one note)
            "texture_fill": _texture_fill(texture_map),
            **_sampling_job(target, mirror, align, num_inference_steps, guidance_scale, seed, scheduler),
        }
        progress(0, desc="DensePose, texture and sampling")
        source, target, result = _generate_on_gpu(job, progress)
    except gr.Error:
        raise
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    from mcld.pose_transfer import iuv_to_display

    image = getattr(result, OUTPUT_SIZES[output_size])
    settings = dict(result.settings, output_size=output_size, target=mode)
    caption = (
        f"{settings['mode']} | {_sampling_caption(settings, output_size)}{_pose_caption(settings, mode, gallery_pose)}"
        f"{_texture_caption(source)}"
    )
    history = _save_result(image, settings, caption, history)
    notes = _run_notes(source.warnings, job["face"])
    status = f"Done: {caption}. Sampling took {result.timings.get('sampling_s', 0):.1f} s.{notes}"
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


def _parsing_name(source: str) -> str:
    return PARSING_NAMES.get(source, f"parsing ({source})")


def _parse_crop(person):
    """Human parsing of a :class:`~mcld.pose_transfer.PersonCrop` (CPU), with
    detection's decision that there is a person (``parse_person``)."""
    from mcld.annotators.human_parsing import parse_person

    return parse_person(get_parser(), person.crop, person.pose)


def parse_photo(photo_path, person_index=-1, label="Source"):
    """Parse the person of a photo (the crop the edit uses) and draw the regions.

    Returns the ``(512, 352, 3)`` overlay and a note naming the parser
    ("coarse parsing (MediaPipe)" for the fallback) and the regions found.
    """
    if not photo_path:
        return None, ""
    from mcld.annotators.human_parsing import draw_parsing_overlay

    try:
        person = _locate(get_locator(), photo_path, person_index, "edit")
        result = _parse_crop(person)
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    regions = ", ".join(r.replace("_", " ") for r in result.present_regions()) or "none"
    name = _parsing_name(result.source)
    people = len(person.people)
    who = "1 person" if people == 1 else f"{people} people; using person {person.person_index + 1}"
    note = f"{label}: {name}. Regions: {regions}. ({who})"
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


def _edit_selection(choices: dict[str, str], photo_paths: list):
    """Dropdown values -> (RegionSelection, photo slots used, their labels).

    Only the photos a choice names are prepared; their indices in the
    selection are compact (``0`` = the source).
    """
    from mcld.editing import RegionSelection

    slots = {}
    for field, value in choices.items():
        if field == "identity" and value == SAME_AS_FACE:
            continue
        if value not in EDIT_PHOTO_LABELS:
            raise visitor_error(f"{EDIT_CHOICES[field]}: choose one of {', '.join(EDIT_PHOTO_LABELS)}, not '{value}'.")
        slot = EDIT_PHOTO_LABELS.index(value)
        if slot > 0 and not photo_paths[slot - 1]:
            raise visitor_error(f"{EDIT_CHOICES[field]} is to come from {value}, but no photo was uploaded as {value}.")
        slots[field] = slot
    used = sorted({0, *slots.values()})
    index = {slot: k for k, slot in enumerate(used)}
    kwargs = {
        field: index[slot]
        for field, slot in slots.items()
        if slot > 0 or field == "identity"  # "Source" for a region = the base photo
    }
    return RegionSelection(base=0, **kwargs), used, [EDIT_PHOTO_LABELS[slot] for slot in used]


def edit_regions(
    source_path,
    source_person,
    photo_2,
    photo_3,
    photo_4,
    photo_5,
    face,
    hair,
    upper_garment,
    lower_garment,
    shoes,
    appearance,
    identity,
    parsing_attention,
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
    texture_map,
    history,
    progress=gr.Progress(),
):
    """Region editing: the source person with regions from other photos, in
    the target pose; the result (settings and selection in its caption and
    PNG metadata) goes first in the results.

    Returns:
        ``(gallery, history, composed_texture, status)``: the new history
        twice, the ``(512, 512, 3)`` uint8 composed UV texture and the status line.

    Raises:
        gr.Error: as :func:`generate`, plus a region from an empty photo slot.
    """
    _check_request(
        source_path, output_size, num_inference_steps, guidance_scale, seed,
        "Upload a source photo of a person first (step 1).",
    )  # fmt: skip
    paths = [photo_2, photo_3, photo_4, photo_5]
    choices = dict(
        face=face, hair=hair, upper_garment=upper_garment, lower_garment=lower_garment, shoes=shoes,
        appearance=appearance, identity=identity,
    )  # fmt: skip
    selection, used, labels = _edit_selection(choices, paths)
    pt = get_pose_transfer()  # answers at once when the models did not load at start-up
    mode = "gallery" if target_mode == "gallery" else "photo"
    if mode == "gallery":
        gallery_pose = _gallery_pose(gallery_pose).name
    progress(0, desc="Finding the people (MediaPipe), faces and parsing")
    try:
        photos = []
        for slot, label in zip(used, labels):
            person = (
                _locate(pt, source_path, source_person, "source")
                if slot == 0
                else _locate(pt, paths[slot - 1], -1, label)
            )  # fmt: skip
            photos.append((person, pt.face_embedding(person), _parse_crop(person)))
        target = _target_on_cpu(pt, mode, target_path, target_person, gallery_pose, mirror, photos[0][0] if align else None)
        job = {
            "photos": photos,
            "labels": labels,
            "selection": selection,
            "parsing_attention": bool(parsing_attention),
            "texture_fill": _texture_fill(texture_map),
            **_sampling_job(target, mirror, align, num_inference_steps, guidance_scale, seed, scheduler),
        }
        progress(0, desc="DensePose, textures and sampling")
        result = _edit_on_gpu(job, progress)
    except gr.Error:
        raise
    except (MCLDError, ValueError) as err:
        raise _user_error(err) from None
    # People/orientation notes of every photo; the face note only through the
    # identity photo (result.notes): the other photos' faces are not used.
    notes = [n.replace(f"the {label} photo", label) for label, (person, _, _) in zip(labels, photos) for n in person.warnings]
    # The face-model-missing note is on the start-up status line already (said once).
    face_missing = get_startup().face is None
    notes = [n for n in [*notes, *result.notes] if not (face_missing and "identity model" in n.lower())]
    regions = {
        field: EDIT_PHOTO_LABELS[used[getattr(selection, field)]]
        for field in EDIT_CHOICES
        if getattr(selection, field) is not None
    }
    settings = dict(
        result.settings, output_size=output_size, target=mode, regions=regions, mirrored=result.target.mirrored,
        aligned=result.target.aligned,
    )  # fmt: skip
    taken = ", ".join(f"{EDIT_CHOICES[f].lower()}: {label}" for f, label in regions.items()) or "all from Source"
    caption = (
        f"{settings['mode']} | edit ({taken}){' | parsing attention' if settings['parsing_attention'] else ''} | "
        f"{_sampling_caption(settings, output_size)}{_pose_caption(settings, mode, gallery_pose)}"
    )
    history = _save_result(getattr(result, OUTPUT_SIZES[output_size]), settings, caption, history)
    status = f"Done: {caption}.{_run_notes(notes, (None, 'ok', None, None))}"
    return history, history, result.composed.texture, status


def add_edit_photo(count):
    """Show one more extra-photo slot.

    Args:
        count: Extra-photo slots shown now (1..:data:`MAX_EDIT_PHOTOS`).

    Returns:
        The new count, a visibility update per slot column, and one for the
        "+ Add photo" column (hidden once all slots show).
    """
    count = min(int(count) + 1, MAX_EDIT_PHOTOS)
    columns = [gr.Column(visible=k < count) for k in range(MAX_EDIT_PHOTOS)]
    return count, *columns, gr.Column(visible=count < MAX_EDIT_PHOTOS)


def generate_example(source_path, target_path, progress=gr.Progress()):
    """Example runner (lazily cached): default settings, photo target.

    Returns:
        :func:`generate`'s outputs without the history state.
    """
    out = generate(
        source_path, -1, "photo", target_path, -1, None, False, False, DEFAULT_STEPS, 3.5, 42, "ddim", "512x352",
        "upstream (default)", [], progress,
    )  # fmt: skip
    return (out[0], *out[2:])


def example_rows():
    """Source/target example rows from licensed photos (and the optional dataset)."""
    from mcld.gallery import load_examples_dataset, write_example_photos

    photos = write_example_photos()
    rows = [[str(photos["cameraman"]), str(photos["astronaut"])], [str(photos["astronaut"]), str(photos["cameraman"])]]
    extra, message = load_examples_dataset()
    return rows + extra, message


# ------------------------------------------------------------------- layout
def build_demo() -> gr.Blocks:
    """The Blocks app (no model is loaded here)."""
    from mcld.gallery import gallery_thumbnail

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
        parsing_title = _parsing_name(startup.parser.source if startup.parser is not None else "mediapipe-coarse")
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
                for k, label in enumerate(EDIT_PHOTO_LABELS[1:], start=2):
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
            photo_choices = list(EDIT_PHOTO_LABELS)
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    with gr.Row():
                        edit_dropdowns = {
                            field: gr.Dropdown(
                                photo_choices, value="Source", label=EDIT_CHOICES[field], min_width=140,
                                elem_id=f"edit-{field.replace('_', '-')}",
                            )  # fmt: skip
                            for field in ("face", "hair", "upper_garment", "lower_garment", "shoes")
                        }
                    with gr.Row():
                        edit_dropdowns["appearance"] = gr.Dropdown(
                            photo_choices, value="Source", label=EDIT_CHOICES["appearance"],
                            info="Whose whole crop the CLIP image encoder sees (overall look and colours)",
                            elem_id="edit-appearance",
                        )  # fmt: skip
                        edit_dropdowns["identity"] = gr.Dropdown(
                            [SAME_AS_FACE, *photo_choices], value=SAME_AS_FACE, label=EDIT_CHOICES["identity"],
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
                    1, 100, value=DEFAULT_STEPS, step=1, label="Steps", info="Denoising steps (paper: 20)", elem_id="steps"
                )
                guidance = gr.Slider(0.0, 20.0, value=3.5, step=0.1, label="Guidance", info="Classifier-free guidance (paper: 3.5)")
            with gr.Row():
                seed = gr.Number(value=42, precision=0, minimum=0, label="Seed", elem_id="seed")
                seed_button = gr.Button("Randomise seed", size="sm")
                scheduler = gr.Dropdown(list(SCHEDULERS), value="ddim", label="Scheduler", info="ddim is what the paper uses")
                output_size = gr.Radio(list(OUTPUT_SIZES), value="512x352", label="Output size")
                texture_map = gr.Radio(
                    list(TEXTURE_MAPS), value="upstream (default)", label="Texture map",
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

"""What a demo says about a result: its caption, saved settings and status line.

All of it is read from the :class:`mcld.conditions.Job` and its
:class:`mcld.conditions.GenerationResult` (structured notes, no sentence
editing).

Source:
    Our own (the Space's results gallery).
"""

from __future__ import annotations

__all__ = [
    "PARSING_NAMES",
    "SAID_ONCE",
    "caption",
    "parsing_name",
    "people_note",
    "result_settings",
    "run_notes",
    "startup_status_markdown",
    "status_line",
]

#: Parser (``ParsingResult.source``) -> the name a UI shows.
PARSING_NAMES = {
    "mediapipe-coarse": "coarse parsing (MediaPipe)",
    "schp-atr-onnx": "parsing (SCHP, ATR)",
    "schp-lip-onnx": "parsing (SCHP, LIP)",
    "schp-onnx": "parsing (SCHP)",
}
#: Note kinds a demo says once (start-up status line, the result's caption), not per run.
SAID_ONCE = ("face_model_missing", "approximate_texture")


def parsing_name(source: str) -> str:
    """The shown name of a parser (``"coarse parsing (MediaPipe)"`` for the fallback)."""
    return PARSING_NAMES.get(source, f"parsing ({source})")


def people_note(people, index: int, what: str) -> str:
    """How many people a photo holds and which one is used, plus that person's
    own notes (no face found, feet out of frame).

    Args:
        people: The photo's :class:`~mcld.annotators.mediapipe_pose.PersonPose` list.
        index: The chosen person.
        what: ``"source"`` or ``"target"``.
    """
    own = " ".join(getattr(people[index], "notes", None) or [])
    if len(people) == 1:
        return f"1 person found in the {what} photo. {own}".strip()
    return (
        f"{len(people)} people found in the {what} photo; using person {index + 1}. Click a person to choose another. {own}"
    ).strip()


def _mode(job) -> str:
    return "gallery" if job.gallery_pose else "photo"


def result_settings(job, result, output_size: str) -> dict:
    """The settings a result PNG records: the result's, the output size, the
    target mode and gallery pose and, for an edit, the regions by photo label."""
    settings = dict(result.settings, output_size=output_size, target=_mode(job))
    if job.gallery_pose:
        settings["gallery_pose"] = job.gallery_pose
    if job.is_edit:
        settings.update(
            regions=job.selection.named(job.labels), mirrored=result.target.mirrored, aligned=result.target.aligned
        )
    return settings


def caption(job, result, output_size: str) -> str:
    """The result's caption: mode, (edit regions), size, steps, guidance, seed,
    scheduler, mirror/align, gallery pose, and the texture map when not upstream's."""
    from ..editing import REGION_LABELS

    s = result_settings(job, result, output_size)
    sampling = (
        f"{output_size} | steps {s['num_inference_steps']} | guidance {s['guidance_scale']:g} | "
        f"seed {s['seed']} | {s['scheduler']}"
    )
    pose = (
        f"{' | mirror' if s['mirrored'] else ''}{' | align' if s['aligned'] else ''}"
        f"{' | gallery: ' + job.gallery_pose if job.gallery_pose else ''}"
    )
    if job.is_edit:
        taken = ", ".join(f"{REGION_LABELS[f].lower()}: {label}" for f, label in s["regions"].items()) or "all from Source"
        attention = " | parsing attention" if s["parsing_attention"] else ""
        return f"{s['mode']} | edit ({taken}){attention} | {sampling}{pose}"
    texture = " | texture: clean fill" if s["texture_fill"] == "clean" else ""
    texture += " | approximate texture map" if s["texture_approximate"] else ""
    return f"{s['mode']} | {sampling}{pose}{texture}"


def run_notes(job, result) -> list:
    """The notes of one run for its status line, each once: the photos'
    (people found, orientation), then the result's (the source's texture and
    face; an edit's composition and target). Left out: the target photo's own
    notes (its preview says them) and :data:`SAID_ONCE` kinds."""
    own = [n for n in job.notes if getattr(n, "photo", None) != "target"]
    later = result.notes if job.is_edit else result.source.warnings
    notes = dict.fromkeys([*own, *later])
    return [n for n in notes if getattr(n, "kind", "note") not in SAID_ONCE]


def status_line(job, result, output_size: str) -> str:
    """``"Done: <caption>. Sampling took N s. Notes: ..."`` (an edit: no timing)."""
    notes = run_notes(job, result)
    tail = f" Notes: {' '.join(notes)}" if notes else ""
    if job.is_edit:
        return f"Done: {caption(job, result, output_size)}.{tail}"
    return f"Done: {caption(job, result, output_size)}. Sampling took {result.timings.get('sampling_s', 0):.1f} s.{tail}"


def startup_status_markdown(startup, details: bool = True, head: bool = True) -> str:
    """The status line under a demo's title: the mode, whether the Hub was
    reachable, and each component that did not load (what is missing, where
    it is fetched from, what is used instead). Said once there, not per run.

    Args:
        startup: A :class:`mcld.startup.Startup`.
        details: Add one line per component that did not load.
        head: Start with the mode sentence (``False``: the lines only).

    Returns:
        Markdown.
    """
    from ..startup import TINY_HINT

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

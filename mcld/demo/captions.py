"""What a demo says about a result: its caption, saved settings and status line.

All of it is read from the :class:`mcld.conditions.Job` and its
:class:`mcld.conditions.GenerationResult` (structured notes, no sentence
editing).

Source:
    Our own (the Space's results gallery).
"""

from __future__ import annotations

from .status import SAID_ONCE

__all__ = [
    "PARSING_NAMES",
    "caption",
    "parsing_name",
    "result_settings",
    "run_notes",
    "status_line",
]

#: Parser (``ParsingResult.source``) -> the name a UI shows.
PARSING_NAMES = {
    "mediapipe-coarse": "coarse parsing (MediaPipe)",
    "schp-atr-onnx": "parsing (SCHP, ATR)",
    "schp-lip-onnx": "parsing (SCHP, LIP)",
    "schp-onnx": "parsing (SCHP)",
}


def parsing_name(source: str) -> str:
    """The shown name of a parser (``"coarse parsing (MediaPipe)"`` for the fallback)."""
    return PARSING_NAMES.get(source, f"parsing ({source})")


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

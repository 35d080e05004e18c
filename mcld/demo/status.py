"""What a demo says once, not about one result: the start-up status line
under its title, which people a photo holds, and the note kinds said there
(:data:`SAID_ONCE`) rather than in every run's status line.

Source:
    Our own (the Gradio Space of this repository).
"""

from __future__ import annotations

__all__ = ["SAID_ONCE", "people_note", "startup_status_markdown"]

#: Note kinds a demo says once (start-up status line, the result's caption), not per run.
SAID_ONCE = ("face_model_missing", "approximate_texture")


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

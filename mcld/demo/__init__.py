"""The demo's own logic, kept out of ``app.py``: options, target mode,
services (models built once per demo), the error decorator, requests,
previews, parsing, Compare, results store, captions and examples.

Everything is set through constructor arguments (:class:`DemoOptions`,
:class:`ResultsStore`); nothing here is a process-wide singleton.

Source:
    Our own (the Gradio Space of this repository).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .. import defaults
from .captions import PARSING_NAMES, SAID_ONCE, caption, parsing_name, people_note, result_settings, run_notes
from .captions import startup_status_markdown, status_line
from .compare import COMPARE_AXES, TARGET_PHOTO, compare_request, compare_status
from .errors import DemoInputError
from .events import api_endpoint, api_value, readable, visitor_error
from .gpu import grid_gpu_seconds, job_gpu_seconds, run_compare, run_job
from .parsing import parse_photo, parsing_legend_html
from .people import click_position, detect_photo, person_index, pick_in_photo, source_crop
from .preview import pose_picture, preview_target
from .requests import RunRequest, check_request, condition_pictures, edit_job_args, save_result
from .results import NoResultsError, ResultsStore
from .services import DemoServices

__all__ = [
    "COMPARE_AXES",
    "DemoInputError",
    "DemoOptions",
    "DemoServices",
    "NoResultsError",
    "PARSING_NAMES",
    "ResultsStore",
    "RunRequest",
    "SAID_ONCE",
    "TARGET_PHOTO",
    "TargetMode",
    "api_endpoint",
    "api_value",
    "caption",
    "check_request",
    "click_position",
    "compare_request",
    "compare_status",
    "condition_pictures",
    "detect_photo",
    "edit_job_args",
    "example_rows",
    "grid_gpu_seconds",
    "job_gpu_seconds",
    "parse_photo",
    "parsing_legend_html",
    "parsing_name",
    "people_note",
    "person_index",
    "pick_in_photo",
    "pose_picture",
    "preview_target",
    "readable",
    "result_settings",
    "run_compare",
    "run_job",
    "run_notes",
    "save_result",
    "source_crop",
    "startup_status_markdown",
    "status_line",
    "visitor_error",
]


class TargetMode(str, enum.Enum):
    """Where the target pose comes from: a photo, or the pose gallery."""

    PHOTO = "photo"
    GALLERY = "gallery"

    @classmethod
    def of(cls, value) -> "TargetMode":
        """``value`` (a :class:`TargetMode` or its string) as a mode; anything else is :attr:`PHOTO`."""
        try:
            return cls(getattr(value, "value", value))
        except ValueError:
            return cls.PHOTO


@dataclass(frozen=True)
class DemoOptions:
    """What a demo offers: its defaults and choices.

    Attributes:
        tiny: Tiny random weights (outputs are noise).
        num_inference_steps: Default DDIM steps (tiny: 4, else upstream's 20).
        guidance_scale: Default classifier-free guidance scale.
        seed: Default seed.
        scheduler: Default scheduler name.
        output_sizes: Shown size -> :meth:`mcld.conditions.GenerationResult.image` size.
        texture_maps: Shown "Texture map" choice -> ``texture_fill``.
        max_edit_photos: Extra photos of "Edit regions" (after the source).
    """

    tiny: bool = False
    num_inference_steps: int | None = None
    guidance_scale: float = defaults.GUIDANCE_SCALE
    seed: int = defaults.SEED
    scheduler: str = defaults.SCHEDULER
    output_sizes: tuple = defaults.OUTPUT_SIZES
    texture_maps: dict = field(default_factory=lambda: {"upstream (default)": "upstream", "clean fill": "clean"})
    max_edit_photos: int = 4

    def __post_init__(self):
        if self.num_inference_steps is None:
            steps = defaults.TINY_NUM_INFERENCE_STEPS if self.tiny else defaults.NUM_INFERENCE_STEPS
            object.__setattr__(self, "num_inference_steps", steps)

    @property
    def photo_labels(self) -> tuple[str, ...]:
        """``("Source", "Photo 2", ...)``: every photo slot of an edit."""
        return ("Source", *(f"Photo {k}" for k in range(2, self.max_edit_photos + 2)))

    def texture_fill(self, choice: str) -> str:
        """A "Texture map" choice (its label or its value) -> ``texture_fill``.

        Raises:
            ValueError: an unknown choice (the message lists them).
        """
        if choice in self.texture_maps.values():
            return choice
        if choice not in self.texture_maps:
            raise ValueError(f"Texture map must be one of {', '.join(self.texture_maps)}, not '{choice}'.")
        return self.texture_maps[choice]


def example_rows() -> tuple[list[list[str]], str | None]:
    """Source/target example rows: DeepFashion In-shop photo pairs fetched at
    run time (:func:`mcld.gallery.examples.demo_example_rows`; offline or on a
    failed fetch, the scikit-image photos), plus the optional examples dataset
    (:func:`mcld.gallery.load_examples_dataset`).

    Returns:
        ``(rows, message)``: ``[[source_path, target_path], ...]`` and one
        line about photos that could not be fetched or the dataset, or ``None``.
    """
    from ..gallery.examples import demo_example_rows, load_examples_dataset

    rows, message = demo_example_rows()
    extra, extra_message = load_examples_dataset()
    return rows + extra, " ".join(m for m in (message, extra_message) if m) or None

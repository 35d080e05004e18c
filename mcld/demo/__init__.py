"""The demo's own logic, kept out of ``app.py``: options, target mode,
services (models built once per demo), the error decorator, requests,
previews, parsing, Compare, results store, captions and examples.

Everything is set through constructor arguments (:class:`DemoOptions`,
:class:`ResultsStore`); nothing here is a process-wide singleton.

Source:
    Our own (the Gradio Space of this repository).
"""

from __future__ import annotations

from .captions import PARSING_NAMES, caption, parsing_name, result_settings, run_notes, status_line
from .compare import COMPARE_AXES, TARGET_PHOTO, CompareRequest, compare_request, compare_status
from .errors import DemoInputError
from .events import api_endpoint, api_value, readable, visitor_error
from .gpu import grid_gpu_seconds, job_gpu_seconds, run_compare, run_job
from .options import DemoOptions, TargetMode, example_rows, examples_label
from .parsing import parse_photo, parsing_legend_html
from .people import click_position, detect_photo, person_index, pick_in_photo, source_crop
from .preview import pose_picture, preview_target
from .requests import RunRequest, check_request, condition_pictures, edit_job_args, save_result
from .results import NoResultsError, ResultsStore
from .services import DemoServices
from .status import SAID_ONCE, people_note, startup_status_markdown

__all__ = [
    "COMPARE_AXES",
    "CompareRequest",
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
    "examples_label",
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

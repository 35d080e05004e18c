"""A demo's Compare section: the source in several poses x up to two axes of
settings, as one request for :func:`mcld.grid.run_grid` (one GPU call).

Source:
    Our own (the Gradio Space of this repository).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import DemoInputError
from .gpu import grid_gpu_seconds
from .requests import check_request

__all__ = ["COMPARE_AXES", "CompareRequest", "TARGET_PHOTO", "compare_request", "compare_status"]

#: The Compare choice for the uploaded target photo (the other choices are gallery pose names).
TARGET_PHOTO = "Target photo (step 2)"
#: Compare axes (``"none"``: no such axis); values are typed comma-separated.
COMPARE_AXES = ("none", "seed", "guidance", "steps", "scheduler", "ablation")


@dataclass(frozen=True)
class CompareRequest:
    """A checked Compare request: what :func:`mcld.demo.run_compare` runs in
    one GPU call (picklable, for ZeroGPU).

    Attributes:
        source: Source-photo path.
        targets: One per column: a target-photo path or a gallery pose
            (:class:`mcld.gallery.GalleryPose`).
        axes: The parsed axes (:func:`mcld.grid.parse_axis`), ``"none"`` left out.
        plan: :func:`mcld.grid.plan_grid`'s plan (cells, image count).
        photos: How many columns are the target photo (DensePose runs per photo).
        settings: ``num_inference_steps``, ``guidance_scale``, ``seed``,
            ``scheduler``, ``size`` (``"HxW"``) and ``pose_labels`` for
            :func:`mcld.grid.run_grid`.
    """

    source: Any
    targets: list
    axes: list
    plan: Any
    photos: int
    settings: dict


def compare_request(services, options, source_path, target_path, poses, axes, settings: dict) -> CompareRequest:
    """Check a Compare request and build it, refusing a grid too large for one GPU call.

    Args:
        services: The :class:`mcld.demo.DemoServices` (gallery poses).
        options: The :class:`mcld.demo.DemoOptions` (output sizes).
        source_path: Source-photo path.
        target_path: Target-photo path, used when ``poses`` names :data:`TARGET_PHOTO`.
        poses: Column poses: gallery pose names and/or :data:`TARGET_PHOTO`.
        axes: ``[(axis, "v1,v2"), ...]`` (:data:`COMPARE_AXES`; ``"none"`` is left out).
        settings: ``num_inference_steps``, ``guidance_scale``, ``seed``,
            ``scheduler`` and ``output_size`` of every image except the axes' own.

    Returns:
        The :class:`CompareRequest` for :func:`mcld.demo.run_compare` and
        :func:`mcld.demo.grid_gpu_seconds`.

    Raises:
        DemoInputError: no source, no pose, or the target photo ticked but not uploaded.
        mcld.grid.GridTooLargeError: too many images (the message says how many fit).
        ValueError: bad settings or axis values (the message names them).
    """
    from ..grid import parse_axis, plan_grid

    s = dict(settings)
    check_request(options, source_path, s["output_size"], s["num_inference_steps"], s["guidance_scale"], s["seed"],
                  "Upload a source photo of a person first.")  # fmt: skip
    if not poses:
        raise DemoInputError("Choose at least one pose to compare.")
    if TARGET_PHOTO in poses and not target_path:
        raise DemoInputError("Upload a target-pose photo in step 2 to compare it, or untick it.")
    targets = [target_path if name == TARGET_PHOTO else services.gallery_pose(name) for name in poses]
    parsed = [parse_axis(f"{a}={v}") for a, v in axes if a and a != "none"]
    sampling = dict(
        num_inference_steps=int(s["num_inference_steps"]), guidance_scale=float(s["guidance_scale"]), seed=int(s["seed"]),
        scheduler=s["scheduler"],
    )  # fmt: skip
    request = CompareRequest(
        source=source_path, targets=targets, axes=parsed, plan=plan_grid(len(targets), parsed, **sampling),
        photos=list(poses).count(TARGET_PHOTO), settings=dict(sampling, size=s["output_size"], pose_labels=list(poses)),
    )  # fmt: skip
    grid_gpu_seconds(request)  # a grid too large for one GPU call is refused here, before any work
    return request


def compare_status(store, result) -> tuple[str, str]:
    """Save a grid's sheet in ``store``; the status line.

    Returns:
        ``(path, status)``: the sheet PNG's path and ``"Done: N images, sheet
        WxH px. Headers: ...."`` (row headers, then column headers).
    """
    layout = result.layout
    headers = [*(" ".join(h["lines"]) for h in layout["row_headers"]), *(" ".join(h["lines"]) for h in layout["column_headers"])]
    path = store.save_image(result.sheet, f"grid_{len(result.cells)}_images_")
    width, height = result.sheet.size
    return path, f"Done: {len(result.cells)} images, sheet {width}x{height} px. Headers: {'; '.join(headers)}."

"""A Generate or Generate-edit request of a demo: its checks, the
:class:`~mcld.conditions.Job` it becomes (:meth:`PoseTransfer.prepare
<mcld.pose_transfer.PoseTransfer.prepare>`, CPU), and what comes back to show.

Source:
    Our own (the Gradio Space of this repository).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .captions import caption, result_settings, status_line
from .errors import DemoInputError
from .options import TargetMode
from .people import person_index

__all__ = ["RunRequest", "check_request", "condition_pictures", "edit_job_args", "save_result"]


def check_request(options, source_path, output_size, num_inference_steps, guidance_scale, seed, missing_source: str) -> None:
    """The checks Generate, Generate edit and Compare share, before any work.

    Raises:
        DemoInputError: no source (``missing_source``), an unknown output
            size, an empty Steps/Guidance/Seed, or out-of-range settings
            (``"Advanced settings: ..."``).
    """
    from ..conditions import check_sampling_args

    if not source_path:
        raise DemoInputError(missing_source)
    if output_size not in options.output_sizes:
        raise DemoInputError(f"Output size must be one of {', '.join(options.output_sizes)}.")
    for name, value in (("Steps", num_inference_steps), ("Guidance", guidance_scale), ("Seed", seed)):
        if value is None:
            raise DemoInputError(f"{name} is empty: enter a number in Advanced.")
    try:
        check_sampling_args(num_inference_steps, guidance_scale, seed)
    except (TypeError, ValueError) as err:
        raise DemoInputError(f"Advanced settings: {err}.") from None


@dataclass(frozen=True)
class RunRequest:
    """What Generate and Generate edit share, as the page (or the API) sends it.

    Attributes:
        source_path: Source-photo path.
        source_person: Source person index, ``-1`` for the largest.
        target_mode: A :class:`mcld.demo.TargetMode`, its string, or ``None`` (photo).
        target_path: Target-photo path (photo mode).
        target_person: Target person index, ``-1`` for the largest.
        gallery_pose: Gallery pose name (gallery mode).
        mirror: Mirror the target pose.
        align: Align the target pose to the source person.
        num_inference_steps: Denoising steps, 1..100.
        guidance_scale: Classifier-free guidance, 0..20.
        seed: Noise seed, ``>= 0``.
        scheduler: A name from :data:`mcld.schedulers.SCHEDULERS`.
        output_size: One of :attr:`mcld.demo.DemoOptions.output_sizes`.
        texture_map: A "Texture map" choice (:attr:`mcld.demo.DemoOptions.texture_maps`).
    """

    source_path: Any
    source_person: Any
    target_mode: Any
    target_path: Any
    target_person: Any
    gallery_pose: Any
    mirror: Any
    align: Any
    num_inference_steps: Any
    guidance_scale: Any
    seed: Any
    scheduler: Any
    output_size: Any
    texture_map: Any

    @classmethod
    def of(cls, values: dict) -> "RunRequest":
        """The request from a mapping holding (at least) its field names, e.g. a handler's ``locals()``."""
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})

    def check(self, options, missing_source: str) -> None:
        """:func:`check_request` on this request's fields."""
        check_request(
            options, self.source_path, self.output_size, self.num_inference_steps, self.guidance_scale, self.seed, missing_source
        )  # fmt: skip

    def target(self, services):
        """What ``PoseTransfer.prepare`` takes as the target: a gallery pose or the photo's path.

        Raises:
            DemoInputError: photo mode without a target photo (or gallery mode
                without a name), or an unknown target mode.
        """
        if TargetMode.of(self.target_mode) is TargetMode.GALLERY:
            return services.gallery_pose(self.gallery_pose)
        if not self.target_path:
            raise DemoInputError("Upload a target-pose photo, or choose a pose in the Gallery tab.")
        return self.target_path

    def prepare(self, services, options, progress=None, **edit):
        """The CPU half: :meth:`PoseTransfer.prepare <mcld.pose_transfer.PoseTransfer.prepare>`
        with this request (``edit``: :func:`edit_job_args`).

        Returns:
            The picklable :class:`~mcld.conditions.Job`.

        Raises:
            DemoInputError: the models did not load, or no target.
            mcld.errors.MCLDError: unusable file, nobody found, bad person index...
        """
        pt = services.pose_transfer()  # answers at once when the models did not load at start-up
        if progress is not None:
            progress(0, desc="Finding the people (MediaPipe), faces and parsing")
        return pt.prepare(
            self.source_path, self.target(services), source_person=person_index(self.source_person),
            target_person=person_index(self.target_person), mirror=bool(self.mirror), align=bool(self.align),
            num_inference_steps=int(self.num_inference_steps), guidance_scale=float(self.guidance_scale),
            seed=int(self.seed), scheduler=self.scheduler, texture_fill=options.texture_fill(self.texture_map), **edit,
        )  # fmt: skip


def edit_job_args(services, options, paths, choices: dict, parsing_attention) -> dict:
    """The edit part of a job: the dropdowns as a :class:`~mcld.editing.RegionSelection`
    (:meth:`~mcld.editing.RegionSelection.from_choices`); only the photos a choice names.

    Args:
        services: The :class:`mcld.demo.DemoServices` (the parser).
        options: The :class:`mcld.demo.DemoOptions` (photo labels).
        paths: Every photo slot's path (``None`` when empty), the source first.
        choices: Region field -> the photo label chosen for it.
        parsing_attention: Parsing-guided reference attention.

    Returns:
        ``photos``, ``selection``, ``labels``, ``parser`` and ``parsing_attention``
        for :meth:`RunRequest.prepare`.

    Raises:
        mcld.editing.EditSelectionError: a region from an empty photo slot.
    """
    from ..editing import RegionSelection

    selection, used = RegionSelection.from_choices(choices, options.photo_labels, [bool(p) for p in paths])
    return dict(
        photos=[paths[s] for s in used[1:]], selection=selection, labels=[options.photo_labels[s] for s in used],
        parser=services.parser(), parsing_attention=bool(parsing_attention),
    )  # fmt: skip


def save_result(store, job, result, output_size: str, history):
    """Save the result (settings in the PNG) first in the visitor's history.

    Returns:
        ``(history, status)``: the new history and the status line.
    """
    image = result.image(output_size)
    history = store.save(image, result_settings(job, result, output_size), caption(job, result, output_size), history)
    return history, status_line(job, result, output_size)


def condition_pictures(result) -> tuple:
    """What the model saw, for the Conditions accordion: ``(source_skeleton,
    source_iuv, texture, face_crop, target_skeleton, target_iuv)``, ``(512,
    352, 3)`` uint8 RGB pictures, the ``(512, 512, 3)`` UV texture and the
    face crop (or ``None``)."""
    from ..annotators.densepose.iuv import iuv_to_display

    src, tgt = result.source, result.target
    return src.skeleton(), iuv_to_display(src.iuv), src.texture, src.face_crop, tgt.skeleton(), iuv_to_display(tgt.iuv)

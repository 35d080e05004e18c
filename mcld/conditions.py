"""What MCLD is conditioned on, and the job that carries it from CPU to GPU.

The dataclasses every layer passes around: a person located and cropped
(:class:`PersonCrop`), the source conditions (:class:`SourceConditions`:
crop, DensePose IUV, UV texture map, face embedding), the target pose
(:class:`TargetConditions`), the sampling settings (:class:`SamplingSettings`),
one prepared :class:`Job` (all CPU work done, picklable, for a ZeroGPU
function) and the :class:`GenerationResult`. :func:`sample` is the one place
that builds the keyword arguments of :class:`mcld.pipeline_mcld.MCLDPipeline`.

Every image lives in the 352x512 person-crop frame (:data:`CROP_SIZE`).

Source:
    MCLD (Liu et al., CVPR 2025) Sec. 3 (texture map, CLIP and face
    conditions, pose guider); the job split is ours (ZeroGPU runs only the GPU
    half in its worker process).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from . import defaults

__all__ = [
    "CROP_SIZE",
    "Note",
    "PersonCrop",
    "SourceConditions",
    "TargetConditions",
    "SamplingSettings",
    "GenerationResult",
    "Job",
    "check_sampling_args",
    "sample",
]

#: ``(width, height)`` of the person crop every condition lives in (176:256 x 2).
CROP_SIZE = (352, 512)


class Note(str):
    """A sentence for the user, with what it is about.

    A :class:`str` (so lists of notes print, compare and serialise as
    sentences) that also carries its subject, so that a UI can choose or
    group notes by field instead of editing the sentence.

    Args:
        message: The sentence, complete (``str(note) == message``).
        region: The region it is about (an :data:`mcld.editing.EDITABLE_REGIONS`
            name, ``"identity"``), or ``None``.
        photo: The photo's label (``"source"``, ``"target"``, ``"Photo 2"``,
            ...), or ``None``.
        kind: What it says: ``"people"`` (several people / person chosen),
            ``"orientation"``, ``"person"`` (the person's own notes: no face,
            feet out of frame), ``"no_face"``, ``"face_model_missing"``,
            ``"approximate_texture"``, ``"approximate_mirror"``,
            ``"region_missing"``, ``"gallery"`` or ``"note"``.

    Examples:
        >>> n = Note("Photo 2 shows no shoes.", region="shoes", photo="Photo 2", kind="region_missing")
        >>> str(n), n.region, n == "Photo 2 shows no shoes."
        ('Photo 2 shows no shoes.', 'shoes', True)

    Source:
        Our own.
    """

    region: str | None
    photo: str | None
    kind: str

    def __new__(cls, message: str, region: str | None = None, photo: str | None = None, kind: str = "note"):
        note = super().__new__(cls, str(message))
        note.region, note.photo, note.kind = region, photo, kind
        return note

    @property
    def message(self) -> str:
        """The sentence as a plain :class:`str`."""
        return str.__str__(self)

    def __str__(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Note({self.message!r}, region={self.region!r}, photo={self.photo!r}, kind={self.kind!r})"

    def __reduce__(self):
        return (Note, (self.message, self.region, self.photo, self.kind))

    def with_photo(self, photo: str) -> "Note":
        """The same note, about ``photo``."""
        return Note(self.message, self.region, photo, self.kind)


def as_note(text: str, photo: str | None = None, kind: str = "note", region: str | None = None) -> Note:
    """``text`` as a :class:`Note` (a note keeps its fields; ``photo`` fills a missing one)."""
    if isinstance(text, Note):
        return text if text.photo is not None or photo is None else text.with_photo(photo)
    return Note(text, region=region, photo=photo, kind=kind)


@dataclass
class PersonCrop:
    """One person of a photo, cropped: the conditions' CPU half (no DensePose).

    Made by :meth:`PoseTransfer.locate_person` (MediaPipe, or people detected
    earlier, then the person crop); :meth:`PoseTransfer.prepare_source` and
    :meth:`PoseTransfer.prepare_target` take it in place of a photo and only
    add the DensePose IUV (and, for a source, the texture and face). This is
    how the Space keeps MediaPipe outside its GPU function.

    Attributes:
        photo: The loaded photo (RGB PIL, at most 1024 px on the long side).
        people: Every person found in ``photo``.
        person_index: Which of ``people`` is cropped.
        crop: ``(512, 352, 3)`` uint8 RGB person crop (176:256 aspect).
        crop_info: :class:`mcld.person_crop.CropInfo`, photo -> crop pixels.
        pose: The person's pose in crop pixels.
        warnings: Messages for the user (several people, lying down, ...).
        notes: What the photo shows of the chosen person, for the user: the
            person's :attr:`~mcld.annotators.mediapipe_pose.PersonPose.notes`
            (``FEET_OUT_OF_FRAME_NOTE``, ``NO_FACE_NOTE`` of
            :mod:`mcld.annotators.mediapipe_pose`); not repeated in ``warnings``.
    """

    photo: Image.Image
    people: list
    person_index: int
    crop: np.ndarray
    crop_info: Any
    pose: Any
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class SourceConditions:
    """Everything MCLD takes from the source photo (all in the crop frame).

    Attributes:
        photo: The loaded photo (RGB PIL, at most 1024 px on the long side).
        people: Every person MediaPipe found in ``photo``.
        person_index: Which of ``people`` is the source person.
        crop: ``(512, 352, 3)`` uint8 RGB person crop (176:256 aspect).
        crop_info: :class:`mcld.person_crop.CropInfo`, photo -> crop pixels.
        pose: The person's pose in crop pixels.
        iuv: ``(512, 352, 3)`` uint8 DensePose IUV ``(I, U*255, V*255)``.
        texture: ``(512, 512, 3)`` uint8 RGB SMPL-UV texture map.
        face_embeds: ``(1, 512)`` float32 raw insightface embedding (zeros
            when ``face_status != "ok"``).
        face_status: ``"ok"``, ``"no_face"`` or ``"model_missing"``.
        face_crop: ``(h, w, 3)`` uint8 RGB face crop for display, or ``None``.
        warnings: Messages for the user (several people, no face, ...).
        texture_fill: How the texture's holes were filled: ``"upstream"``
            (upstream MCLD's rule) or ``"clean"``
            (:data:`mcld.annotators.uv_texture.TEXTURE_FILLS`).
        texture_approximate: True when ``"upstream"`` ran without upstream's
            template (not fetched): the texture is then not upstream's, and
            ``warnings`` says so.
    """

    photo: Image.Image
    people: list
    person_index: int
    crop: np.ndarray
    crop_info: Any
    pose: Any
    iuv: np.ndarray
    texture: np.ndarray
    face_embeds: np.ndarray
    face_status: str
    face_crop: np.ndarray | None
    warnings: list[str] = field(default_factory=list)
    texture_fill: str = "upstream"
    texture_approximate: bool = False

    def skeleton(self) -> np.ndarray:
        """``(512, 352, 3)`` uint8: the source skeleton over the crop."""
        from .annotators.mediapipe_pose import draw_pose_overlay

        return draw_pose_overlay(self.crop, [self.pose])


@dataclass
class TargetConditions:
    """The target pose as the pose guider reads it (crop frame).

    Attributes:
        photo: The loaded target photo, or ``None`` for a pose without one.
        people: Every person found in ``photo``.
        person_index: The chosen person.
        pose: Target pose in crop pixels (after mirror / align).
        iuv: ``(512, 352, 3)`` uint8 IUV ``(I, U*255, V*255)`` after mirror /
            align.
        mirrored: Whether the pose was mirrored.
        aligned: Whether it was aligned to the source person.
        warnings: Messages for the user.
    """

    photo: Image.Image | None
    people: list
    person_index: int
    pose: Any
    iuv: np.ndarray
    mirrored: bool = False
    aligned: bool = False
    warnings: list[str] = field(default_factory=list)

    def skeleton(self, size: tuple[int, int] = CROP_SIZE) -> np.ndarray:
        """``(H, W, 3)`` uint8 OpenPose skeleton on black, crop frame."""
        from .annotators.mediapipe_pose import draw_openpose

        return draw_openpose(size, [self.pose])



def check_sampling_args(num_inference_steps: int, guidance_scale: float, seed: int) -> None:
    """Validate the sampling settings a visitor can change.

    Args:
        num_inference_steps: DDIM steps, 1..100.
        guidance_scale: Classifier-free guidance scale, 0..20.
        seed: Noise seed, 0..2**63-1.

    Raises:
        ValueError: a value is out of range (the message names it).
    """
    if not 1 <= int(num_inference_steps) <= 100:
        raise ValueError(f"num_inference_steps must be in 1..100, got {num_inference_steps}")
    if not 0.0 <= float(guidance_scale) <= 20.0:
        raise ValueError(f"guidance_scale must be in 0..20, got {guidance_scale}")
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must be in 0..2**63-1, got {seed}")


@dataclass(frozen=True)
class SamplingSettings:
    """How one image is sampled: the settings a visitor or caller chooses.

    Checked when made (so a bad value is refused before any model work).

    Attributes:
        num_inference_steps: DDIM steps, 1..100 (upstream 20).
        guidance_scale: Classifier-free guidance scale, 0..20 (upstream 3.5).
        seed: Seed of the CPU generator drawing the initial noise, 0..2**63-1.
        scheduler: A :data:`mcld.schedulers.SCHEDULERS` name (``None``: ``"ddim"``).
        texture_fill: UV texture hole filling, ``"upstream"`` or ``"clean"``
            (:data:`mcld.annotators.uv_texture.TEXTURE_FILLS`).
        parsing_attention: Parsing-guided reference attention (plain
            generation: per DensePose part; an edit: per photo).
        ablations: Conditions switched off (:data:`mcld.pipeline_mcld.ABLATIONS`),
            sorted, no repeats.

    Raises:
        ValueError: a value out of range, an unknown scheduler, texture fill
            or ablation (the message names it).

    Source:
        Upstream ``test.py`` (jqliu09/MCLD) for the defaults; checks are ours.
    """

    num_inference_steps: int = defaults.NUM_INFERENCE_STEPS
    guidance_scale: float = defaults.GUIDANCE_SCALE
    seed: int = defaults.API_SEED
    scheduler: str | None = defaults.SCHEDULER
    texture_fill: str = "upstream"
    parsing_attention: bool = False
    ablations: tuple = ()

    def __post_init__(self):
        from .annotators.uv_texture import check_texture_fill
        from .schedulers import SCHEDULERS

        check_sampling_args(self.num_inference_steps, self.guidance_scale, self.seed)
        scheduler = self.scheduler or defaults.SCHEDULER
        if scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {scheduler!r}; choose from {list(SCHEDULERS)}")
        check_texture_fill(self.texture_fill)
        ablations = (self.ablations,) if isinstance(self.ablations, str) else tuple(self.ablations or ())
        if ablations:
            from .pipeline_mcld import ABLATIONS

            unknown = sorted(n for n in set(ablations) if n not in ABLATIONS)
            if unknown:
                raise ValueError(f"unknown ablations {unknown}; choose from {ABLATIONS}")
        set_ = object.__setattr__
        set_(self, "num_inference_steps", int(self.num_inference_steps))
        set_(self, "guidance_scale", float(self.guidance_scale))
        set_(self, "seed", int(self.seed))
        set_(self, "scheduler", scheduler)
        set_(self, "parsing_attention", bool(self.parsing_attention))
        set_(self, "ablations", tuple(sorted(set(ablations))))

    def as_dict(self) -> dict:
        """The sampling entries of a result's ``settings`` (steps, guidance, seed, scheduler)."""
        return {
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": self.guidance_scale,
            "seed": self.seed,
            "scheduler": self.scheduler,
        }


@dataclass
class GenerationResult:
    """One generated image with the conditions and settings that made it.

    The one result type of plain generation and of region editing
    (:data:`mcld.editing.EditResult` is this class).

    Attributes:
        image_512x352: RGB PIL, 352 wide x 512 high (upstream's 512 output).
        image_256x176: RGB PIL, 176 x 256.
        image_512: RGB PIL, the raw square model output.
        settings: Everything needed to reproduce it (steps, guidance, seed,
            scheduler, weights, mode; for an edit ``selection``, ``photos``
            and ``parsing_attention``); ``settings["face_model"]`` is the face
            model's :meth:`~mcld.annotators.face.FaceModelStatus.as_dict`.
        timings: Seconds per stage.
        notes: :class:`Note` s for the user about how it was made: with no
            face model, :data:`mcld.annotators.face.FACE_MODEL_MISSING_WARNING`.
        source: The :class:`SourceConditions` sampled from (an edit: the
            appearance photo's, with the composed texture and identity face).
        target: The :class:`TargetConditions` used.
        composed: An edit's :class:`mcld.editing.ComposedConditions`, else ``None``.
        sources: An edit's :class:`mcld.editing.EditSource` per photo, else ``[]``.
        reference_photos: Photo of each ReferenceNet reference, in key order:
            ``()`` for one texture, else one per photo (parsing-guided attention).
    """

    image_512x352: Image.Image
    image_256x176: Image.Image
    image_512: Image.Image
    settings: dict
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    source: Any = field(default=None, repr=False)
    target: Any = field(default=None, repr=False)
    composed: Any = field(default=None, repr=False)
    sources: list = field(default_factory=list, repr=False)
    reference_photos: tuple = ()

    def image(self, size: str) -> Image.Image:
        """The image at ``size``: ``"512x352"``, ``"256x176"`` or ``"512x512"`` (the raw square output).

        Raises:
            ValueError: another size.
        """
        images = {"512x352": self.image_512x352, "256x176": self.image_256x176, "512x512": self.image_512}
        if size not in images:
            raise ValueError(f"size must be one of {list(images)}, got {size!r}")
        return images[size]


@dataclass
class Job:
    """One generation with all CPU work done: what :meth:`mcld.pose_transfer.PoseTransfer.run`
    turns into an image on the GPU.

    Made by :meth:`mcld.pose_transfer.PoseTransfer.prepare`. Holds only NumPy
    arrays, PIL images and plain values (no tensors), so it pickles into a
    ZeroGPU worker process. Plain generation is an edit without a selection:
    ``selection is None`` samples the source's own texture; a
    :class:`mcld.editing.RegionSelection` composes the texture from
    ``photos`` with their ``parsings``.

    Attributes:
        photos: :class:`PersonCrop` per photo; ``photos[0]`` is the source.
        faces: :meth:`~mcld.pose_transfer.PoseTransfer.face_embedding` tuple
            per photo ``(embeds (1, 512) float32, status, face_crop, note)``.
        target: A :class:`PersonCrop` (its DensePose IUV is computed on the
            GPU) or finished :class:`TargetConditions` (gallery, upstream IUV).
        settings: The :class:`SamplingSettings`.
        mirror: Mirror a photo target left-right (a gallery target is
            mirrored already).
        align: Fit a photo target onto the source person.
        labels: Name of each photo in notes and settings (``"source"``,
            ``"Photo 2"``, ...).
        selection: ``None`` (plain generation) or the edit's
            :class:`mcld.editing.RegionSelection` (indices into ``photos``).
        parsings: An edit's :class:`mcld.annotators.human_parsing.ParsingResult`
            per photo, else ``None``.
        gallery_pose: Name of the gallery pose used as target, or ``None``.
        notes: :class:`Note` s of the CPU half (people found, orientation,
            the person's own notes, the target's notes).
    """

    photos: list
    faces: list
    target: Any
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    mirror: bool = False
    align: bool = False
    labels: list = field(default_factory=lambda: ["source"])
    selection: Any = None
    parsings: list | None = None
    gallery_pose: str | None = None
    notes: list = field(default_factory=list)

    @property
    def is_edit(self) -> bool:
        """``True`` when the texture is composed from a selection (region editing)."""
        return self.selection is not None

    def gpu_seconds(self) -> int:
        """The ``spaces.GPU`` duration to ask for this job, in seconds.

        Plain generation: :func:`mcld.zerogpu.gpu_duration` of one image. An
        edit adds half :data:`~mcld.zerogpu.GPU_CONDITIONS_S` of DensePose per
        extra photo and, with parsing attention, one ReferenceNet pass per extra
        reference; capped at :data:`~mcld.zerogpu.GPU_MAX_S`.

        Source:
            :mod:`mcld.zerogpu` (each constant's origin is documented there).
        """
        from .zerogpu import GPU_CONDITIONS_S, GPU_MAX_S, gpu_duration

        steps = self.settings.num_inference_steps
        if not self.is_edit:
            return gpu_duration(steps, 1)
        extra = len(self.photos) - 1
        references = 1 + (extra if self.settings.parsing_attention else 0)
        seconds = gpu_duration(steps, references) + GPU_CONDITIONS_S / 2 * extra
        return int(min(GPU_MAX_S, math.ceil(seconds)))


def sample(
    pipeline,
    *,
    source_image: np.ndarray,
    texture_map: np.ndarray | Sequence[np.ndarray],
    target_iuv: np.ndarray,
    face_embeds: np.ndarray,
    model_size: int,
    settings: SamplingSettings,
    reference_attention_mask: Callable | None = None,
    callback_on_step_end: Callable | None = None,
    debug_capture: dict | None = None,
    output_type: str = "pil",
):
    """Call :class:`mcld.pipeline_mcld.MCLDPipeline` once: the one place its keyword arguments are built.

    Args:
        pipeline: The MCLD pipeline.
        source_image: ``(512, 352, 3)`` uint8 RGB person crop (CLIP source image).
        texture_map: ``(512, 512, 3)`` uint8 RGB SMPL-UV texture map, or a
            list of them (one ReferenceNet reference each).
        target_iuv: ``(512, 352, 3)`` uint8 DensePose IUV ``(I, U*255, V*255)``
            in the crop frame (made into the pipeline's image by
            :func:`mcld.annotators.densepose.iuv.iuv_to_pipeline_image`).
        face_embeds: ``(1, 512)`` float32 insightface embedding (zeros: none).
        model_size: Square sampling size in pixels (multiple of 8).
        settings: Steps, guidance, seed (a CPU ``torch.Generator``) and ablations.
        reference_attention_mask: The pipeline's ``reference_attention_mask``
            (installed for this call only), or ``None``.
        callback_on_step_end: The pipeline's step callback.
        debug_capture: Optional dict for the pipeline's intermediates.
        output_type: The pipeline's output type.

    Returns:
        :class:`mcld.pipeline_mcld.MCLDPipelineOutput`.

    Raises:
        NaNOutputError, OutOfMemoryError: from the pipeline.

    Source:
        Upstream ``test.py`` (jqliu09/MCLD): one CPU generator per image, the
        pipeline's arguments.
    """
    import torch

    from .annotators.densepose.iuv import iuv_to_pipeline_image

    if isinstance(texture_map, np.ndarray):
        textures = Image.fromarray(texture_map)
    else:
        textures = [Image.fromarray(np.asarray(t, np.uint8)) for t in texture_map]
    kwargs: dict[str, Any] = dict(
        source_image=Image.fromarray(np.asarray(source_image)),
        texture_map=textures,
        target_iuv=iuv_to_pipeline_image(target_iuv),
        face_embeds=np.asarray(face_embeds, np.float32).reshape(1, -1)[None],
        num_inference_steps=settings.num_inference_steps,
        guidance_scale=settings.guidance_scale,
        height=model_size,
        width=model_size,
        generator=torch.Generator(device="cpu").manual_seed(settings.seed),
        callback_on_step_end=callback_on_step_end,
    )
    if settings.ablations:
        kwargs["ablations"] = list(settings.ablations)
    if reference_attention_mask is not None:
        kwargs["reference_attention_mask"] = reference_attention_mask
    if debug_capture is not None:
        kwargs["debug_capture"] = debug_capture
    if output_type != "pil":
        kwargs["output_type"] = output_type
    return pipeline(**kwargs)

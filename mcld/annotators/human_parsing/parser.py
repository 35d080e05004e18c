"""The human-parser entry point: SCHP on ONNX when its weights are at hand,
else the coarse MediaPipe fallback."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from ...errors import WeightsNotFoundError
from ...image_utils import ImageInput, load_image, to_numpy_rgb
from .mediapipe_coarse import MediaPipeCoarseParser
from .regions import ParsingResult
from .schp_onnx import SCHPOnnxParser

__all__ = ["DEFAULT_REPO_ID", "DEFAULT_FILENAME", "HumanParser", "parse_person"]

logger = logging.getLogger(__name__)

#: Hub repository holding SCHP ONNX exports (IDM-VTON's preprocessing weights).
DEFAULT_REPO_ID = "yisol/IDM-VTON"
#: File in :data:`DEFAULT_REPO_ID` used by default (ATR labels, 512x512 input).
DEFAULT_FILENAME = "humanparsing/parsing_atr.onnx"


class HumanParser:
    """Human parser producing the shared region label map.

    Build it with :meth:`from_pretrained`. The annotator contract:
    :meth:`detect` parses one photo into a :class:`ParsingResult`; calling it
    returns the colour-coded parsing map image.

    Args:
        backend: :class:`SCHPOnnxParser` or :class:`MediaPipeCoarseParser`
            (anything with ``detect(image) -> ParsingResult``), or a plain
            callable ``(H, W, 3) uint8 RGB -> ParsingResult``.

    Examples:
        >>> parser = HumanParser.from_pretrained()  # SCHP if downloadable, else coarse (warns)
        >>> result = parser.detect(image_rgb)
        >>> result.mask("upper_garment").shape == image_rgb.shape[:2]
        True
        >>> parser(image_rgb, output_type="np").shape  # colour-coded regions
        (H, W, 3)

    Source:
        Our own front end; the backends cite theirs.
    """

    def __init__(self, backend):
        self.backend = backend

    @property
    def source(self) -> str:
        """``"schp-onnx"`` or ``"mediapipe-coarse"``: which backend runs."""
        return "schp-onnx" if isinstance(self.backend, SCHPOnnxParser) else getattr(self.backend, "source", "custom")

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_or_path: str | Path | None = None,
        filename: str | None = None,
        *,
        label_set: str | None = None,
        fallback: bool = True,
        cache_dir: str | Path | None = None,
        providers: list[str] | None = None,
    ) -> "HumanParser":
        """Load SCHP ONNX weights, falling back to the coarse MediaPipe parser.

        Args:
            pretrained_model_or_path: A local ``.onnx`` file, a local folder holding
                ``filename``, a Hub repo id, ``"mediapipe-coarse"`` to ask
                for the fallback directly, or ``None`` for
                :data:`DEFAULT_REPO_ID`.
            filename: File inside the folder or repo; default
                :data:`DEFAULT_FILENAME` (``humanparsing/parsing_atr.onnx``),
                and for a local folder also its base name.
            label_set: ``"atr"``, ``"lip"`` or ``None`` (from the model's
                channel count).
            fallback: When the weights cannot be fetched from the Hub, warn and
                use :class:`MediaPipeCoarseParser` instead of raising.
            cache_dir: Hub cache folder (``huggingface_hub`` default if
                ``None``).
            providers: onnxruntime execution providers (CPU by default).

        Returns:
            A ready :class:`HumanParser`.

        Raises:
            WeightsNotFoundError: a local path that does not exist, or Hub
                weights that cannot be downloaded while ``fallback`` is off.
            CheckpointError: the ONNX file exists but cannot be loaded.
        """
        path_or_repo = pretrained_model_or_path
        if path_or_repo == "mediapipe-coarse":
            return cls(MediaPipeCoarseParser())
        filename = filename or DEFAULT_FILENAME
        onnx_path = _resolve_local(path_or_repo, filename)
        if onnx_path is None:
            repo_id = str(path_or_repo or DEFAULT_REPO_ID)
            try:
                from huggingface_hub import hf_hub_download

                onnx_path = Path(hf_hub_download(repo_id=repo_id, filename=filename, cache_dir=cache_dir))
            except (OSError, ValueError) as err:  # offline, missing repo/file, HTTP errors
                if not fallback:
                    raise WeightsNotFoundError(
                        "The human-parsing weights could not be downloaded.", detail=f"{repo_id}/{filename}: {err}"
                    ) from err
                warnings.warn(
                    f"SCHP human-parsing weights {repo_id}/{filename} are unavailable ({type(err).__name__}); "
                    "using the coarse MediaPipe parser instead.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return cls(MediaPipeCoarseParser())
        logger.info("human parsing: SCHP ONNX from %s", onnx_path)
        return cls(SCHPOnnxParser(onnx_path, label_set=label_set, providers=providers))

    def to(self, device: str) -> "HumanParser":
        """Kept for the annotator contract; both backends run on the CPU.

        Returns:
            ``self``.
        """
        return self

    def __call__(self, input_image: ImageInput, person=None, *, output_type: str = "pil"):
        """Annotator contract: the parsing map, each region in its colour.

        Args:
            input_image: As :meth:`detect`.
            person: As :meth:`detect`.
            output_type: ``"pil"`` or ``"np"``.

        Returns:
            ``(H, W, 3)`` uint8 RGB (:func:`~.draw.colorize_label_map`:
            :data:`~.regions.REGION_COLORS`, background black), PIL image or
            array, the input's size. For the overlay on the photo use
            :func:`~.draw.draw_parsing_overlay` on :meth:`detect`'s result.

        Raises:
            ValueError: unknown ``output_type``.
            InputImageError, NoPersonError, CheckpointError: as :meth:`detect`.

        Source:
            Our own.
        """
        from ..common import check_output_type, to_output
        from .draw import colorize_label_map

        check_output_type(output_type)
        result = self.detect(input_image, person=person)
        return to_output(colorize_label_map(result.label_map, result.region_names), output_type)

    def detect(self, input_image: ImageInput, person=None) -> ParsingResult:
        """Parse one photo into regions.

        Args:
            input_image: Path, bytes, PIL image or ``(H, W, 3)`` ``uint8`` RGB
                array (anything :func:`mcld.image_utils.load_image` reads; no
                resizing).
            person: The person detection found, as a
                :class:`~mcld.annotators.mediapipe_pose.PersonPose` in this
                image's frame (e.g. :attr:`mcld.pose_transfer.PersonCrop.pose`
                with ``PersonCrop.crop``): the coarse parser then uses its
                landmarks and face decision instead of detecting again. SCHP
                reads pixels only and ignores it.

        Returns:
            :class:`ParsingResult` whose ``label_map`` is ``(H, W)`` ``uint8``
            with the size of the input.

        Raises:
            InputImageError: the input is not a usable image.
            NoPersonError: the coarse parser finds no person (only without
                ``person``; the same decision as detection).
            CheckpointError: the ONNX model gives unusable outputs.

        Source:
            The backend's (:class:`SCHPOnnxParser`, :class:`MediaPipeCoarseParser`).
        """
        if isinstance(input_image, np.ndarray) and input_image.dtype == np.uint8 and input_image.ndim == 3 and input_image.shape[2] == 3:
            image = np.ascontiguousarray(input_image)
        else:
            image = to_numpy_rgb(load_image(input_image, max_side=None))
        if person is not None and isinstance(self.backend, MediaPipeCoarseParser):
            return self.backend.detect(image, person=person)
        detect = getattr(self.backend, "detect", None)
        return detect(image) if callable(detect) else self.backend(image)


def parse_person(parser, image: np.ndarray, person=None) -> ParsingResult:
    """Parse a person crop with detection's person decision.

    Args:
        parser: A :class:`HumanParser`, :class:`MediaPipeCoarseParser`,
            :class:`SCHPOnnxParser` (their :meth:`HumanParser.detect`), or any
            ``(H, W, 3) uint8 -> ParsingResult`` callable.
        image: ``(H, W, 3)`` uint8 RGB image (e.g. a person crop).
        person: The :class:`~mcld.annotators.mediapipe_pose.PersonPose` of
            the person in ``image``'s frame, or ``None``; handed to the
            parsers that take it, not to other callables.

    Returns:
        :class:`ParsingResult` with ``label_map`` ``(H, W)`` uint8.

    Raises:
        Whatever ``parser`` raises (NoPersonError only without ``person``).

    Source:
        Our own.
    """
    if person is not None and isinstance(parser, (HumanParser, MediaPipeCoarseParser)):
        return parser.detect(image, person=person)
    if isinstance(parser, (HumanParser, MediaPipeCoarseParser, SCHPOnnxParser)):
        return parser.detect(image)
    return parser(image)


def _resolve_local(path_or_repo: str | Path | None, filename: str) -> Path | None:
    """Local ``.onnx`` path, ``None`` for a Hub repo id; raises for a missing local path."""
    if path_or_repo is None:
        return None
    path = Path(path_or_repo).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        for candidate in (path / filename, path / Path(filename).name):
            if candidate.is_file():
                return candidate
        raise WeightsNotFoundError(
            "The human-parsing weights are missing from the model folder.", detail=f"{filename} not in {path}"
        )
    text = str(path_or_repo)
    looks_like_repo = text.count("/") == 1 and not text.startswith((".", "/", "~")) and not text.endswith(".onnx")
    if looks_like_repo:
        return None
    raise WeightsNotFoundError("The human-parsing weights file was not found.", detail=text)

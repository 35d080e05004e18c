"""SCHP human parsing (ATR / LIP) exported to ONNX, run with onnxruntime.

Pre- and post-processing follow Self-Correction-Human-Parsing's
``simple_extractor.py``:

1. The whole image is the person box; its centre is ``((W-1)/2, (H-1)/2)``
   and its size ``(W-1, H-1)`` is enlarged to the network's aspect ratio.
2. An affine warp (no rotation) maps that box onto the network input
   (512x512 for ATR, 473x473 for LIP), bilinear, black border.
3. The BGR image in ``[0, 1]`` is normalised with mean
   ``(0.406, 0.456, 0.485)`` and std ``(0.225, 0.224, 0.229)`` (BGR order).
4. The fusion logits are brought back to the photo with the inverse affine
   warp and the arg-max gives one label per pixel. Upstream first upsamples
   the logits to the input size (bilinear, ``align_corners=True``) and then
   warps them back; we compose both maps into one warp (same geometry, one
   interpolation instead of two).

Weights: the ONNX exports of SCHP that IDM-VTON ships
(``yisol/IDM-VTON``: ``humanparsing/parsing_atr.onnx``,
``humanparsing/parsing_lip.onnx``; input ``input.1`` of shape
``(1, 3, 512, 512)``, outputs ``[parsing, fusion, edge]``). Any export whose
output has 18 (ATR) or 20 (LIP) channels works.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ...errors import CheckpointError
from ...image_utils import to_numpy_rgb
from .regions import LABEL_SETS, ParsingResult, labels_to_regions

__all__ = ["SCHP_MEAN_BGR", "SCHP_STD_BGR", "schp_affine", "schp_preprocess", "SCHPOnnxParser"]

#: Per-channel mean of the SCHP normalisation, BGR order, for pixels in [0, 1].
SCHP_MEAN_BGR = np.array([0.406, 0.456, 0.485], dtype=np.float32)
#: Per-channel std of the SCHP normalisation, BGR order.
SCHP_STD_BGR = np.array([0.225, 0.224, 0.229], dtype=np.float32)

_NUM_CLASSES_TO_SET = {len(names): name for name, (names, _, _) in LABEL_SETS.items()}


def schp_affine(image_size: tuple[int, int], input_size: tuple[int, int]) -> np.ndarray:
    """Affine map from photo pixels to network-input pixels, as SCHP builds it.

    Args:
        image_size: Photo size ``(H, W)`` in pixels.
        input_size: Network input size ``(H, W)`` in pixels.

    Returns:
        ``(2, 3)`` ``float64`` matrix ``M`` with ``[x', y'] = M @ [x, y, 1]``
        (pixel coordinates, x to the right, y down).

    Raises:
        ValueError: a size is not positive.

    Source:
        Self-Correction-Human-Parsing ``datasets/simple_extractor_dataset.py``
        (``_xywh2cs``) and ``utils/transforms.py`` (``get_affine_transform``
        with rotation 0: uniform scale ``input_w / box_w``, box centre to
        ``(input_w / 2, input_h / 2)``).
    """
    h, w = image_size
    in_h, in_w = input_size
    if min(h, w, in_h, in_w) <= 0:
        raise ValueError(f"sizes must be positive, got image {image_size}, input {input_size}")
    aspect = in_w / in_h
    box_w, box_h = max(w - 1, 1), max(h - 1, 1)
    if box_w > aspect * box_h:
        box_h = box_w / aspect
    else:
        box_w = box_h * aspect
    cx, cy = (w - 1) * 0.5, (h - 1) * 0.5
    k = in_w / box_w
    return np.array([[k, 0.0, in_w * 0.5 - k * cx], [0.0, k, in_h * 0.5 - k * cy]], dtype=np.float64)


def schp_preprocess(image_rgb: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Crop-warp and normalise a photo for SCHP.

    Args:
        image_rgb: ``(H, W, 3)`` ``uint8`` RGB photo.
        input_size: Network input size ``(H, W)``.

    Returns:
        ``(tensor, M)``: ``tensor`` is ``(1, 3, in_H, in_W)`` ``float32``, BGR
        channel order, ``(pixel / 255 - mean) / std``; ``M`` is the ``(2, 3)``
        photo-to-input affine of :func:`schp_affine`.

    Raises:
        ValueError: ``image_rgb`` is not ``(H, W, 3)`` ``uint8``.

    Source:
        Self-Correction-Human-Parsing ``simple_extractor.py`` (``cv2.imread``
        BGR, ``ToTensor`` + ``Normalize``) and
        ``datasets/simple_extractor_dataset.py`` (``cv2.warpAffine``).
    """
    import cv2

    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"image_rgb must be (H, W, 3) uint8, got {image_rgb.shape} {image_rgb.dtype}")
    h, w = image_rgb.shape[:2]
    in_h, in_w = input_size
    matrix = schp_affine((h, w), input_size)
    bgr = np.ascontiguousarray(image_rgb[:, :, ::-1])
    warped = cv2.warpAffine(
        bgr, matrix, (in_w, in_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)
    )
    tensor = (warped.astype(np.float32) / 255.0 - SCHP_MEAN_BGR) / SCHP_STD_BGR
    return tensor.transpose(2, 0, 1)[None].copy(), matrix


def _logits_to_image(logits: np.ndarray, matrix: np.ndarray, input_size: tuple[int, int], image_size: tuple[int, int]) -> np.ndarray:
    """Warp ``(C, h, w)`` logits back to the photo: ``(H, W, C)`` float32."""
    import cv2

    num_classes, out_h, out_w = logits.shape
    in_h, in_w = input_size
    # Output grid -> input grid (bilinear upsampling with align_corners=True).
    up = np.array(
        [
            [(in_w - 1) / max(out_w - 1, 1), 0.0, 0.0],
            [0.0, (in_h - 1) / max(out_h - 1, 1), 0.0],
            [0.0, 0.0, 1.0],
        ]
    )
    photo_to_input = np.vstack([matrix, [0.0, 0.0, 1.0]])
    photo_to_output = np.linalg.inv(up) @ photo_to_input
    hwc = np.ascontiguousarray(logits.transpose(1, 2, 0).astype(np.float32))
    h, w = image_size
    warped = cv2.warpAffine(
        hwc,
        photo_to_output[:2],
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return warped.reshape(h, w, num_classes)


class SCHPOnnxParser:
    """SCHP parser on onnxruntime (CPU by default).

    Args:
        onnx_path: Path to the ``.onnx`` file.
        label_set: ``"atr"`` (18 labels) or ``"lip"`` (20 labels); ``None``
            infers it from the number of output channels (declared in the
            model, else seen on the first call).
        input_size: Network input ``(H, W)``; ``None`` reads it from the
            model's static input shape, else the label set's default
            (ATR 512x512, LIP 473x473; ATR when the label set is unknown).
        output_index: Which model output holds the logits; ``None`` takes the
            last output whose channel count is 18 or 20 (the fusion branch of
            an SCHP export ``[parsing, fusion, edge]``).
        providers: onnxruntime execution providers; default CPU.

    Raises:
        CheckpointError: the file is not a loadable ONNX model.
        ValueError: unknown ``label_set``.

    Source:
        Li et al., "Self-Correction for Human Parsing", TPAMI 2020;
        GoGoDuck912/Self-Correction-Human-Parsing ``simple_extractor.py``.
    """

    def __init__(
        self,
        onnx_path: str | Path,
        label_set: str | None = None,
        input_size: tuple[int, int] | None = None,
        output_index: int | None = None,
        providers: list[str] | None = None,
    ):
        import onnxruntime as ort

        if label_set is not None and label_set not in LABEL_SETS:
            raise ValueError(f"label_set must be one of {sorted(LABEL_SETS)} or None, got {label_set!r}")
        self.onnx_path = Path(onnx_path)
        try:
            self.session = ort.InferenceSession(str(self.onnx_path), providers=providers or ["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors for bad files
            raise CheckpointError(
                "The human-parsing model file is damaged or not an ONNX model.", detail=f"{self.onnx_path}: {err}"
            ) from err
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.output_index = output_index
        if label_set is None:  # from the static channel count of the logits output, if declared
            out_shapes = [o.shape for o in self.session.get_outputs()]
            if output_index is not None:
                out_shapes = [out_shapes[output_index]]
            for out_shape in reversed(out_shapes):
                if len(out_shape) == 4 and out_shape[1] in _NUM_CLASSES_TO_SET:
                    label_set = _NUM_CLASSES_TO_SET[out_shape[1]]
                    break
        self.label_set = label_set
        shape = list(model_input.shape)
        if input_size is None and len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape[2:]):
            input_size = (shape[2], shape[3])
        self._input_size = input_size
        self._lock = threading.Lock()

    @property
    def input_size(self) -> tuple[int, int]:
        """Network input size ``(H, W)`` used for the crop warp."""
        if self._input_size is not None:
            return tuple(self._input_size)
        return LABEL_SETS[self.label_set or "atr"][2]

    def _pick_logits(self, outputs: list[np.ndarray]) -> np.ndarray:
        if self.output_index is not None:
            return outputs[self.output_index]
        wanted = {len(LABEL_SETS[self.label_set][0])} if self.label_set else set(_NUM_CLASSES_TO_SET)
        for out in reversed(outputs):
            if out.ndim == 4 and out.shape[1] in wanted:
                return out
        raise CheckpointError(
            "The human-parsing model does not produce ATR or LIP labels.",
            detail=f"output shapes {[o.shape for o in outputs]}",
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_or_path: str | Path | None = None, **kwargs) -> "SCHPOnnxParser":
        """The SCHP backend from a local ``.onnx``/folder or a Hub repo (no fallback).

        Args:
            pretrained_model_or_path: As :meth:`HumanParser.from_pretrained`
                takes it (``None``: ``yisol/IDM-VTON``,
                ``humanparsing/parsing_atr.onnx``).
            **kwargs: ``filename``, ``label_set``, ``cache_dir``, ``providers``.

        Returns:
            A loaded :class:`SCHPOnnxParser`.

        Raises:
            WeightsNotFoundError: the weights are neither local nor downloadable.
            CheckpointError: the file is not a loadable ONNX model.
        """
        from .parser import HumanParser

        return HumanParser.from_pretrained(pretrained_model_or_path, fallback=False, **kwargs).backend

    def to(self, device) -> "SCHPOnnxParser":
        """Kept for the annotator contract: the session keeps its providers
        (choose them with ``providers=``).

        Returns:
            ``self``.
        """
        return self

    def __call__(self, input_image, *, output_type: str = "pil"):
        """Annotator contract: the parsing map, each region in its colour.

        Args:
            input_image: PIL image or ``(H, W, 3)`` uint8 RGB photo.
            output_type: ``"pil"`` or ``"np"``.

        Returns:
            ``(H, W, 3)`` uint8 RGB (:func:`~.draw.colorize_label_map`,
            background black), PIL image or array, the photo's size.

        Raises:
            ValueError: unknown ``output_type``.
            CheckpointError: as :meth:`detect`.

        Source:
            See :meth:`detect`.
        """
        from ..common import check_output_type, to_output
        from .draw import colorize_label_map

        check_output_type(output_type)
        result = self.detect(input_image)
        return to_output(colorize_label_map(result.label_map, result.region_names), output_type)

    def detect(self, input_image) -> ParsingResult:
        """Parse one photo.

        Args:
            input_image: PIL image or ``(H, W, 3)`` ``uint8`` RGB photo.

        Returns:
            :class:`ParsingResult` with ``label_map`` and ``raw_labels`` of
            shape ``(H, W)``; ``source`` is ``"schp-atr-onnx"`` or
            ``"schp-lip-onnx"``.

        Raises:
            InputImageError: ``input_image`` is not an image.
            CheckpointError: the model output has no 18- or 20-channel logits.

        Source:
            GoGoDuck912/Self-Correction-Human-Parsing ``simple_extractor.py``
            (warp, network, warp back, argmax), reimplemented on onnxruntime.
        """
        image_rgb = np.ascontiguousarray(to_numpy_rgb(input_image))
        image_size = image_rgb.shape[:2]
        tensor, matrix = schp_preprocess(image_rgb, self.input_size)
        with self._lock:
            outputs = self.session.run(None, {self.input_name: tensor})
        logits = self._pick_logits(outputs)
        num_classes = logits.shape[1]
        label_set = self.label_set or _NUM_CLASSES_TO_SET.get(num_classes)
        if label_set is None or len(LABEL_SETS[label_set][0]) != num_classes:
            raise CheckpointError(
                "The human-parsing model does not produce ATR or LIP labels.",
                detail=f"{num_classes} output channels for label set {label_set!r}",
            )
        self.label_set = label_set
        logits_image = _logits_to_image(logits[0], matrix, self.input_size, image_size)
        raw = np.argmax(logits_image, axis=2).astype(np.uint8)
        return ParsingResult(
            label_map=labels_to_regions(raw, label_set), source=f"schp-{label_set}-onnx", raw_labels=raw
        )

"""DensePose annotator: image in, per-person part labels and UV charts out.

Mirrors what MCLD runs (detectron2 ``DefaultPredictor`` on the
R_101_FPN_DL_s1x DensePose model, then ``densepose_interface.py``) without
detectron2 or torchvision::

    from mcld.annotators.densepose import DensePosePredictor
    dp = DensePosePredictor.from_pretrained("R_101_FPN_DL_s1x", device="cuda")
    res = dp.detect(image_rgb)          # detector + DensePose: DensePoseResult
    iuv = res.to_iuv()                  # (H, W, 3) uint8, (I, U*255, V*255)
    iuv = dp(image_rgb, output_type="np")  # the same IUV of the best detection

A randomly initialised model (:meth:`DensePosePredictor.tiny`) almost never
detects anyone, so the app's tiny-weights mode passes a box
(``dp.detect(image, boxes=...)``), which skips the RPN and box head exactly like
detectron2's ``GeneralizedRCNN.inference(..., detected_instances=...)``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ...errors import NoPersonError
from ...image_utils import load_image, to_numpy_rgb
from .checkpoint import cached_safetensors, load_state_dict_file, match_state_dict, resolve_weights
from .config import MODEL_CONFIGS, DensePoseConfig
from .heads import ChartOutput
from .model import DensePoseRCNN

__all__ = [
    "DensePoseResult",
    "DensePosePredictor",
    "resized_shape",
    "preprocess_image",
    "chart_to_labels_uv",
    "TINY_CONFIG",
]

#: Architecture of :meth:`DensePosePredictor.tiny` (R-50 depth, DeepLab head, narrow widths).
TINY_CONFIG = DensePoseConfig(
    depth=50,
    stem_out_channels=16,
    width_per_group=4,
    res2_out_channels=32,
    fpn_out_channels=64,
    box_fc_dim=32,
    conv_head_dim=32,
    decoder_conv_dims=32,
    decoder_num_classes=64,
    min_size_test=256,
    max_size_test=400,
)

_SIZE_DIVISIBILITY = 32


def resized_shape(height: int, width: int, short_edge: int, max_size: int) -> tuple[int, int]:
    """Output ``(h, w)`` of ``ResizeShortestEdge`` at test time.

    The short side becomes ``short_edge``; if the long side then exceeds
    ``max_size`` both are scaled down; each side is rounded with ``int(x + 0.5)``.

    Source:
        detectron2 ``detectron2/data/transforms/augmentation_impl.py``
        ``ResizeShortestEdge.get_output_shape``.
    """
    size = short_edge * 1.0
    scale = size / min(height, width)
    if height < width:
        new_h, new_w = size, scale * width
    else:
        new_h, new_w = scale * height, size
    if max(new_h, new_w) > max_size:
        scale = max_size * 1.0 / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    return int(new_h + 0.5), int(new_w + 0.5)


def preprocess_image(image_rgb: np.ndarray, cfg: DensePoseConfig) -> tuple[torch.Tensor, tuple[int, int], np.ndarray]:
    """RGB image -> normalised, padded BGR batch as ``DefaultPredictor`` builds it.

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB.
        cfg: Supplies test sizes and pixel mean/std (BGR, 0..255).

    Returns:
        ``(tensor, (h, w), resized_bgr)``: ``(1, 3, H_pad, W_pad)`` float32
        ``(bgr - mean) / std`` zero-padded bottom/right to multiples of 32;
        the unpadded resized size; the resized ``(h, w, 3)`` uint8 BGR image.

    Source:
        detectron2 ``detectron2/engine/defaults.py`` ``DefaultPredictor.__call__``,
        ``detectron2/data/transforms/transform.py`` ``ResizeTransform.apply_image``
        (PIL bilinear on uint8), ``detectron2/modeling/meta_arch/rcnn.py``
        ``preprocess_image``, ``detectron2/structures/image_list.py`` ``from_tensors``.
    """
    bgr = np.ascontiguousarray(image_rgb[:, :, ::-1])
    h, w = bgr.shape[:2]
    new_h, new_w = resized_shape(h, w, cfg.min_size_test, cfg.max_size_test)
    resized = np.asarray(Image.fromarray(bgr).resize((new_w, new_h), Image.BILINEAR))
    x = torch.from_numpy(resized.astype(np.float32).transpose(2, 0, 1).copy())
    mean = torch.tensor(cfg.pixel_mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(cfg.pixel_std, dtype=torch.float32).view(3, 1, 1)
    x = (x - mean) / std
    pad_h = -new_h % _SIZE_DIVISIBILITY
    pad_w = -new_w % _SIZE_DIVISIBILITY
    x = F.pad(x, (0, pad_w, 0, pad_h), value=0.0)
    return x.unsqueeze(0), (new_h, new_w), resized


def chart_to_labels_uv(
    chart: ChartOutput, index: int, box_xywh: tuple[int, int, int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample the 112x112 chart of box ``index`` to its integer box size.

    Args:
        chart: Raw predictor outputs of all boxes.
        index: Which box.
        box_xywh: Integer ``(x, y, w, h)`` in original pixels (w, h clamped to >= 1).

    Returns:
        ``labels`` ``(h, w)`` int64 in ``0..24`` (argmax of the part logits,
        zeroed where the coarse argmax is background) and ``uv`` ``(2, h, w)``
        float32 (U, V of the labelled part, 0 where ``labels == 0``).

    Source:
        detectron2 ``projects/DensePose/densepose/converters/segm_to_mask.py``
        ``resample_fine_and_coarse_segm_tensors_to_bbox``;
        ``converters/chart_output_to_chart_result.py`` ``resample_uv_tensors_to_bbox``.
    """
    _, _, w, h = box_xywh
    size = (max(int(h), 1), max(int(w), 1))
    sl = slice(index, index + 1)

    def up(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t[sl], size, mode="bilinear", align_corners=False)

    coarse = up(chart.coarse_segm).argmax(dim=1)
    labels = (up(chart.fine_segm).argmax(dim=1) * (coarse > 0).long()).squeeze(0)
    idx = labels[None, None]
    u = torch.gather(up(chart.u), 1, idx)[0, 0]
    v = torch.gather(up(chart.v), 1, idx)[0, 0]
    fg = labels > 0
    uv = torch.stack((torch.where(fg, u, 0.0), torch.where(fg, v, 0.0))).to(torch.float32)
    return labels, uv


@dataclass
class DensePoseResult:
    """DensePose output for one image, detections sorted by score.

    Attributes:
        boxes: ``(N, 4)`` float32 XYXY boxes in original-image pixels.
        scores: ``(N,)`` float32 person probability (1.0 for given boxes).
        boxes_xywh: ``(N, 4)`` int64 ``(x, y, w, h)``: float XYWH truncated
            toward zero, ``w, h >= 1``; where labels/uv are pasted.
        labels: ``N`` arrays ``(h_i, w_i)`` int64, body part ``0..24``
            (0 = background).
        uv: ``N`` arrays ``(2, h_i, w_i)`` float32, U and V in about ``[0, 1]``
            (0 on background).
        image_size: Original ``(H, W)`` in pixels.
        extras: Intermediate tensors (CPU) when requested with
            ``return_intermediates=True``, else empty.

    Source:
        detectron2 ``projects/DensePose/densepose/structures/chart_result.py``
        ``DensePoseChartResult``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    boxes_xywh: np.ndarray
    labels: list
    uv: list
    image_size: tuple
    extras: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def to_iuv(self, index: int = 0) -> np.ndarray:
        """MCLD's IUV image of detection ``index`` (0 = highest score).

        Returns:
            ``(H, W, 3)`` uint8 with channels ``(I, U * 255, V * 255)`` pasted
            at the integer box, zeros elsewhere (U*255 computed in float32,
            truncated to uint8; values are clipped to [0, 255] first, which
            changes nothing for U, V in [0, 1]). Written with ``cv2.imwrite``
            as MCLD does, I lands in the PNG's blue channel.

        Raises:
            NoPersonError: no detection.
            IndexError: ``index`` out of range.

        Source:
            jqliu09/MCLD ``preprocess_data/densepose_interface.py``
            (``process_output``, ``parse_iuv``).
        """
        if len(self) == 0:
            raise NoPersonError("No person was found in the image, so no DensePose map could be made.")
        if not -len(self) <= index < len(self):
            raise IndexError(f"detection index {index} out of range for {len(self)} detections")
        x, y, w, h = (int(v) for v in self.boxes_xywh[index])
        labels = self.labels[index]
        uv = self.uv[index]
        iuv = np.zeros((*self.image_size, 3), dtype=np.float64)
        patch = np.stack(
            (
                labels.astype(np.float64),
                (uv[0] * np.float32(255.0)).astype(np.float64),
                (uv[1] * np.float32(255.0)).astype(np.float64),
            ),
            axis=-1,
        )
        iuv[y : y + h, x : x + w] = patch[: max(0, self.image_size[0] - y), : max(0, self.image_size[1] - x)]
        return np.clip(iuv, 0, 255).astype(np.uint8)


def _empty_result(image_size: tuple[int, int], extras: dict) -> DensePoseResult:
    return DensePoseResult(
        boxes=np.zeros((0, 4), np.float32),
        scores=np.zeros((0,), np.float32),
        boxes_xywh=np.zeros((0, 4), np.int64),
        labels=[],
        uv=[],
        image_size=image_size,
        extras=extras,
    )


class DensePosePredictor:
    """DensePose R-CNN inference (detectron2 ``DefaultPredictor`` semantics).

    Build with :meth:`from_pretrained` (official weights), :meth:`from_config`
    (any config + state_dict) or :meth:`tiny` (random, tiny). The annotator
    contract: :meth:`detect` gives the :class:`DensePoseResult` (boxes, part
    labels, UV charts); calling it gives MCLD's IUV image of one person.

    Args:
        model: The network (weights loaded, eval mode).

    Source:
        detectron2 ``detectron2/engine/defaults.py`` ``DefaultPredictor``;
        ``projects/DensePose`` (``apply_net.py`` extraction path).
    """

    def __init__(self, model: DensePoseRCNN):
        self.model = model.eval()
        self.cfg = model.cfg

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_config(
        cls,
        cfg: DensePoseConfig,
        state_dict: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
        source: str = "state_dict",
    ) -> "DensePosePredictor":
        """Build a predictor for ``cfg`` and load ``state_dict`` strictly.

        Args:
            cfg: Architecture and thresholds.
            state_dict: detectron2-named tensors/arrays; ``None`` keeps the
                random initialisation.
            device: Target device.
            source: Name used in error messages.

        Raises:
            CheckpointError: keys or shapes do not match ``cfg``.
        """
        model = DensePoseRCNN(cfg)
        if state_dict is not None:
            model.load_state_dict(match_state_dict(model, state_dict, source), strict=True)
        return cls(model.to(device))

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_or_path: str | os.PathLike | None = "R_101_FPN_DL_s1x",
        device: str | torch.device = "cpu",
        *,
        config: DensePoseConfig | str | os.PathLike | None = None,
        filename: str | None = None,
        local_files_only: bool | None = None,
        convert_to_safetensors: bool = True,
    ) -> "DensePosePredictor":
        """Load official or local DensePose weights.

        Args:
            pretrained_model_or_path: ``"R_101_FPN_DL_s1x"`` (what MCLD uses;
                also for ``None``) or
                ``"R_50_FPN_s1x"`` (official URL, cached in ``$MCLD_CACHE`` or
                ``~/.cache/mcld/densepose``), a local ``.pkl`` / ``.pth`` /
                ``.safetensors`` file, or a Hub repo id (with ``filename``).
            device: Target device.
            config: A :class:`DensePoseConfig`, a preset name, or a detectron2
                ``cfg.dump()`` YAML path. Default: the preset of a model-zoo
                name, else widths/head derived from the weights with the real
                thresholds and test sizes (800 / 1333).
            filename: File in a Hub repo.
            local_files_only: Never download (default: ``HF_HUB_OFFLINE`` /
                ``MCLD_OFFLINE``).
            convert_to_safetensors: Convert ``.pkl`` / ``.pth`` once into the
                cache as safetensors and load that.

        Raises:
            WeightsNotFoundError: weights not on disk and not downloadable.
            CheckpointError: unreadable or mismatching weights.
        """
        name_or_path = "R_101_FPN_DL_s1x" if pretrained_model_or_path is None else pretrained_model_or_path
        path = resolve_weights(name_or_path, filename, local_files_only=local_files_only)
        load_path = path
        if convert_to_safetensors and path.suffix.lower() != ".safetensors":
            try:
                load_path = cached_safetensors(path)
            except OSError:  # read-only cache: load the original instead
                load_path = path
        state = load_state_dict_file(load_path)
        if isinstance(config, DensePoseConfig):
            cfg = config
        elif isinstance(config, str) and config in MODEL_CONFIGS:
            cfg = MODEL_CONFIGS[config]
        elif config is not None:
            cfg = DensePoseConfig.from_yaml(config)
        else:
            base = MODEL_CONFIGS.get(str(name_or_path), DensePoseConfig())
            cfg = DensePoseConfig.from_state_dict(state, base=base)
        return cls.from_config(cfg, state, device=device, source=str(path))

    @classmethod
    def tiny(cls, seed: int = 0, device: str | torch.device = "cpu") -> "DensePosePredictor":
        """A randomly initialised tiny model (:data:`TINY_CONFIG`), for demos and tests.

        Deterministic for a given ``seed`` (the global RNG is left untouched).
        FrozenBN statistics are identity; U/V deconvs are scaled and biased so
        U, V land near 0.5. The person logit of the box classifier is biased
        far below background, so the detector finds nobody (an empty result,
        cheaply): pass ``boxes=`` when calling it, as the app's tiny mode does.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = DensePoseRCNN(TINY_CONFIG)
            with torch.no_grad():
                pred = model.roi_heads.densepose_predictor
                for layer in (pred.u_lowres, pred.v_lowres):
                    layer.weight.mul_(0.05)
                    layer.bias.fill_(0.5)
                cls_score = model.roi_heads.box_predictor.cls_score
                cls_score.weight.mul_(0.01)
                cls_score.bias.copy_(torch.tensor([-10.0] * TINY_CONFIG.num_classes + [10.0]))
        return cls(model.to(device))

    # ----------------------------------------------------------------- helpers
    @property
    def device(self) -> torch.device:
        """Device of the model."""
        return self.model.device

    def to(self, device: str | torch.device) -> "DensePosePredictor":
        """Move the model to ``device``; returns ``self``."""
        self.model.to(device)
        return self

    @staticmethod
    def _check_boxes(boxes: Any) -> np.ndarray:
        arr = np.asarray(boxes, dtype=np.float32)
        if arr.ndim == 1 and arr.shape[0] == 4:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(f"boxes must be (N, 4) XYXY pixels, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("boxes contain NaN or infinite values")
        if ((arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])).any():
            raise ValueError(f"boxes need x1 > x0 and y1 > y0, got {arr.tolist()}")
        return arr

    # -------------------------------------------------------------------- call
    def __call__(
        self,
        input_image: Image.Image | np.ndarray | str | os.PathLike | bytes,
        boxes: np.ndarray | None = None,
        *,
        index: int = 0,
        output_type: str = "pil",
    ):
        """Annotator contract: MCLD's DensePose IUV image of one person.

        Args:
            input_image: As :meth:`detect`.
            boxes: As :meth:`detect`.
            index: Which detection (0 = highest score; with ``boxes``, their
                order).
            output_type: ``"pil"`` or ``"np"``.

        Returns:
            ``(H, W, 3)`` uint8 IUV of the input's size, channels
            ``(I, U * 255, V * 255)`` (:meth:`DensePoseResult.to_iuv`; part
            ids 0..24 in channel 0), PIL RGB image or array; the image MCLD's
            pose guider takes. For a picture to look at, see
            :func:`mcld.annotators.densepose.iuv.iuv_to_display`.

        Raises:
            NoPersonError: no person was found.
            IndexError: ``index`` out of range.
            ValueError: malformed ``boxes`` or unknown ``output_type``.
            InputImageError: unreadable image.

        Source:
            jqliu09/MCLD ``preprocess_data/densepose_interface.py`` (the IUV).
        """
        from ..common import check_output_type, to_output

        check_output_type(output_type)
        return to_output(self.detect(input_image, boxes).to_iuv(index), output_type)

    @torch.inference_mode()
    def detect(
        self,
        input_image: Image.Image | np.ndarray | str | os.PathLike | bytes,
        boxes: np.ndarray | None = None,
        *,
        return_intermediates: bool = False,
    ) -> DensePoseResult:
        """Run DensePose on one image.

        The model runs in its own weight dtype (float32 unless cast) with any
        surrounding ``torch.autocast`` switched off, as detectron2's
        ``DefaultPredictor`` does; a caller's autocast region (e.g. around the
        whole generation) therefore cannot change the IUV map.

        Args:
            input_image: RGB ``PIL.Image`` / ``(H, W, 3)`` uint8 RGB array, or a file
                path / bytes (read with :func:`mcld.image_utils.load_image`,
                no downscaling). Converted to BGR internally like detectron2's
                ``read_image``.
            boxes: Optional ``(N, 4)`` XYXY person boxes in original pixels.
                Given: RPN and box head are skipped and DensePose runs on
                these boxes (scores 1.0). ``None``: full detector.
            return_intermediates: Keep FPN maps, RPN/box-head outputs and raw
                DensePose outputs (CPU tensors) in ``result.extras``.

        Returns:
            :class:`DensePoseResult` (possibly empty: no person found).

        Raises:
            ValueError: malformed ``boxes``.
            InputImageError: unreadable image.

        Source:
            detectron2 ``DefaultPredictor.__call__``, ``GeneralizedRCNN.inference``,
            ``detector_postprocess`` (``detectron2/modeling/postprocessing.py``),
            DensePose ``DensePoseResultExtractor``.
        """
        dev_type = self.device.type
        no_autocast = (
            torch.autocast(device_type=dev_type, enabled=False)
            if dev_type in ("cpu", "cuda")
            else contextlib.nullcontext()
        )
        with no_autocast:
            return self._predict(input_image, boxes, return_intermediates)

    def _predict(self, image, boxes, return_intermediates: bool) -> DensePoseResult:
        """Body of :meth:`detect` (inference mode, autocast off)."""
        # 1. Input -> normalised BGR batch.
        if isinstance(image, (str, os.PathLike, bytes, bytearray)):
            image = load_image(image, max_side=None)
        rgb = to_numpy_rgb(image)
        orig_h, orig_w = rgb.shape[:2]
        given = None if boxes is None else self._check_boxes(boxes)
        dev = self.device
        x, (res_h, res_w), _ = preprocess_image(rgb, self.cfg)
        x = x.to(device=dev, dtype=self.model.dtype)
        extras: dict[str, Any] = {}

        # 2. Backbone.
        features = self.model.features(x)

        # 3. Person boxes in resized pixels: detector, or given boxes scaled.
        if given is None:
            det = self.model.detect(features, (res_h, res_w))
            boxes_r, scores = det["boxes"], det["scores"]
            if return_intermediates:
                extras.update({k: v for k, v in det.items() if k not in ("boxes", "scores")})
        else:
            boxes_r = torch.tensor(given, dtype=torch.float32, device=dev)  # a copy: scaled in place below
            boxes_r[:, 0::2] *= res_w / orig_w
            boxes_r[:, 1::2] *= res_h / orig_h
            scores = torch.ones(boxes_r.shape[0], dtype=torch.float32, device=dev)
        if return_intermediates:
            extras.update(
                features=dict(features),
                boxes_resized=boxes_r.clone(),
                image_size_resized=(res_h, res_w),
                input_tensor=x,
            )

        # 4. DensePose branch on all boxes at once.
        if boxes_r.shape[0] == 0:
            return _empty_result((orig_h, orig_w), _to_cpu(extras))
        dp = self.model.densepose(features, boxes_r)
        chart: ChartOutput = dp["chart"]
        if return_intermediates:
            extras.update(decoder_out=dp["decoder_out"], pooled=dp["pooled"], head_out=dp["head_out"], chart=chart)

        # 5. Boxes back to the original image (detector_postprocess), drop empty ones.
        out = boxes_r.clone()
        out[:, 0::2] *= orig_w / res_w
        out[:, 1::2] *= orig_h / res_h
        out[:, 0::2] = out[:, 0::2].clamp(min=0, max=orig_w)
        out[:, 1::2] = out[:, 1::2].clamp(min=0, max=orig_h)
        keep = ((out[:, 2] - out[:, 0]) > 0) & ((out[:, 3] - out[:, 1]) > 0)
        keep_idx = torch.nonzero(keep).squeeze(1)

        # 6. Per-box chart results (labels, uv) at the integer box size.
        xywh = torch.stack((out[:, 0], out[:, 1], out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]), dim=1).long()
        xywh[:, 2:] = xywh[:, 2:].clamp(min=1)
        labels, uvs = [], []
        for i in keep_idx.tolist():
            lab, uv = chart_to_labels_uv(chart, i, tuple(xywh[i].tolist()))
            labels.append(lab.cpu().numpy())
            uvs.append(uv.cpu().numpy())
        return DensePoseResult(
            boxes=out[keep_idx].cpu().numpy().astype(np.float32),
            scores=scores[keep_idx].cpu().numpy().astype(np.float32),
            boxes_xywh=xywh[keep_idx].cpu().numpy().astype(np.int64),
            labels=labels,
            uv=uvs,
            image_size=(orig_h, orig_w),
            extras=_to_cpu(extras),
        )


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    if isinstance(obj, ChartOutput):
        return ChartOutput(*(_to_cpu(t) for t in (obj.coarse_segm, obj.fine_segm, obj.u, obj.v)))
    return obj

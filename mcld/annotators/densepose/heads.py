"""RPN, box head and DensePose branch of DensePose R-CNN (detectron2 names).

Modules and their state_dict prefixes inside the full model:

* :class:`RPN` -> ``proposal_generator.rpn_head.{conv, objectness_logits, anchor_deltas}``
* :class:`FastRCNNHead` -> ``roi_heads.box_head.fc{1,2}``, ``roi_heads.box_predictor.{cls_score, bbox_pred}``
* :class:`Decoder` -> ``roi_heads.decoder.{p2.0, p3.0, p4.0, p4.2, ..., predictor}``
* :class:`DeepLabHead` / :class:`V1ConvXHead` -> ``roi_heads.densepose_head.*``
* :class:`ChartPredictor` -> ``roi_heads.densepose_predictor.{ann_index_lowres, index_uv_lowres, u_lowres, v_lowres}``
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import Conv2dNorm
from .config import DensePoseConfig
from .ops import apply_deltas, batched_nms, clip_boxes, roi_align

__all__ = [
    "RPN",
    "FastRCNNHead",
    "Decoder",
    "DeepLabHead",
    "V1ConvXHead",
    "ChartPredictor",
    "ChartOutput",
    "ROIHeads",
    "RPN_LEVELS",
    "ROI_LEVELS",
    "multilevel_roi_align",
]

#: FPN levels read by the RPN and their strides.
RPN_LEVELS = ("p2", "p3", "p4", "p5", "p6")
#: FPN levels read by the box pooler and the DensePose decoder.
ROI_LEVELS = ("p2", "p3", "p4", "p5")
_STRIDES = {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}


# --------------------------------------------------------------------------- RPN
class StandardRPNHead(nn.Module):
    """Shared 3x3 conv + ReLU, then 1x1 objectness (A ch) and deltas (4A ch).

    Source:
        detectron2 ``detectron2/modeling/proposal_generator/rpn.py`` ``StandardRPNHead``.
    """

    def __init__(self, channels: int, num_anchors: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.objectness_logits = nn.Conv2d(channels, num_anchors, 1)
        self.anchor_deltas = nn.Conv2d(channels, num_anchors * 4, 1)

    def forward(self, features: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per level ``(B, C, H, W)`` -> logits ``(B, A, H, W)``, deltas ``(B, 4A, H, W)``."""
        logits, deltas = [], []
        for x in features:
            t = F.relu(self.conv(x))
            logits.append(self.objectness_logits(t))
            deltas.append(self.anchor_deltas(t))
        return logits, deltas


def cell_anchors(size: float, aspect_ratios: tuple) -> torch.Tensor:
    """Anchors centred on 0 for one size: ``(len(aspect_ratios), 4)`` float32 XYXY.

    For ratio ``r = h / w``: ``w = sqrt(size^2 / r)``, ``h = r * w`` (float64, then float32).

    Source:
        detectron2 ``detectron2/modeling/anchor_generator.py``
        ``DefaultAnchorGenerator.generate_cell_anchors``.
    """
    rows = []
    for r in aspect_ratios:
        w = math.sqrt(size * size / r)
        h = r * w
        rows.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return torch.tensor(rows, dtype=torch.float32)


def grid_anchors(
    height: int, width: int, stride: int, base: torch.Tensor, offset: float = 0.0
) -> torch.Tensor:
    """All anchors of one level, ``(H * W * A, 4)`` float32, ordered ``(y, x, a)``.

    Source:
        detectron2 ``detectron2/modeling/anchor_generator.py`` ``_create_grid_offsets``,
        ``DefaultAnchorGenerator._grid_anchors``.
    """
    dev = base.device
    sx = torch.arange(offset * stride, width * stride, step=stride, dtype=torch.float32, device=dev)
    sy = torch.arange(offset * stride, height * stride, step=stride, dtype=torch.float32, device=dev)
    yy, xx = torch.meshgrid(sy, sx, indexing="ij")
    xx, yy = xx.reshape(-1), yy.reshape(-1)
    shifts = torch.stack((xx, yy, xx, yy), dim=1)
    return (shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4)


class RPN(nn.Module):
    """Region proposal network at test time: anchors, decoding, per-level
    top-k, clipping, NMS across levels-as-classes, post-NMS top-k.

    Source:
        detectron2 ``detectron2/modeling/proposal_generator/rpn.py`` ``RPN``,
        ``proposal_utils.py`` ``find_top_rpn_proposals``.
    """

    def __init__(self, cfg: DensePoseConfig):
        super().__init__()
        self.cfg = cfg
        self.rpn_head = StandardRPNHead(cfg.fpn_out_channels, len(cfg.aspect_ratios))
        self._anchor_cache: dict = {}

    def anchors(self, level: int, height: int, width: int, device: torch.device) -> torch.Tensor:
        """Anchors of level index ``level`` (0 = p2) for an ``(H, W)`` map, ``(H*W*A, 4)``."""
        key = (level, height, width, str(device))
        if key not in self._anchor_cache:
            base = cell_anchors(self.cfg.anchor_sizes[level], self.cfg.aspect_ratios).to(device)
            stride = _STRIDES[RPN_LEVELS[level]]
            self._anchor_cache[key] = grid_anchors(height, width, stride, base, self.cfg.anchor_offset)
        return self._anchor_cache[key]

    def forward(self, features: dict[str, torch.Tensor], image_size: tuple[int, int]) -> dict[str, object]:
        """Proposals of image 0.

        Args:
            features: FPN maps ``p2..p6``, ``(1, C, H_l, W_l)``.
            image_size: Unpadded resized image ``(h, w)`` in pixels (clip bounds).

        Returns:
            dict with ``proposals`` ``(P, 4)`` float32 XYXY resized pixels,
            ``logits`` ``(P,)`` objectness logits (sorted descending),
            ``raw_logits`` / ``raw_deltas``: per-level raw head outputs.
        """
        cfg = self.cfg
        feats = [features[k] for k in RPN_LEVELS]
        raw_logits, raw_deltas = self.rpn_head(feats)
        boxes_all, scores_all, levels_all = [], [], []
        for lvl, (lg, dl) in enumerate(zip(raw_logits, raw_deltas)):
            _, a, h, w = lg.shape
            logits = lg[0].permute(1, 2, 0).reshape(-1)  # (H*W*A,)
            deltas = dl[0].view(a, 4, h, w).permute(2, 3, 0, 1).reshape(-1, 4)
            k = min(logits.shape[0], cfg.rpn_pre_nms_topk)
            top, idx = logits.topk(k, sorted=True)
            boxes = apply_deltas(deltas[idx], self.anchors(lvl, h, w, lg.device)[idx], cfg.rpn_bbox_reg_weights)
            boxes_all.append(boxes)
            scores_all.append(top)
            levels_all.append(torch.full((k,), lvl, dtype=torch.long, device=lg.device))
        boxes = torch.cat(boxes_all)
        scores = torch.cat(scores_all)
        levels = torch.cat(levels_all)
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores)
        if not bool(valid.all()):
            boxes, scores, levels = boxes[valid], scores[valid], levels[valid]
        boxes = clip_boxes(boxes, *image_size)
        nonempty = ((boxes[:, 2] - boxes[:, 0]) > cfg.proposal_min_size) & (
            (boxes[:, 3] - boxes[:, 1]) > cfg.proposal_min_size
        )
        if not bool(nonempty.all()):
            boxes, scores, levels = boxes[nonempty], scores[nonempty], levels[nonempty]
        keep = batched_nms(boxes, scores, levels, cfg.rpn_nms_thresh)[: cfg.rpn_post_nms_topk]
        return {
            "proposals": boxes[keep],
            "logits": scores[keep],
            "raw_logits": raw_logits,
            "raw_deltas": raw_deltas,
        }


# ---------------------------------------------------------------------- poolers
def assign_boxes_to_levels(boxes: torch.Tensor, min_level: int = 2, max_level: int = 5) -> torch.Tensor:
    """FPN level index (0 = ``min_level``) of each ``(N, 4)`` box:
    ``floor(4 + log2(sqrt(area) / 224 + 1e-8))`` clamped to ``[min_level, max_level]``.

    Source:
        detectron2 ``detectron2/modeling/poolers.py`` ``assign_boxes_to_levels``.
    """
    sizes = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    lv = torch.floor(4 + torch.log2(sizes / 224 + 1e-8))
    return lv.clamp(min=min_level, max=max_level).to(torch.int64) - min_level


def multilevel_roi_align(
    features: list[torch.Tensor],
    boxes: torch.Tensor,
    output_size: int,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """ROIAlign of ``(N, 4)`` image-0 boxes, each on its FPN level (p2..p5).

    Returns:
        ``(N, C, output_size, output_size)``.

    Source:
        detectron2 ``detectron2/modeling/poolers.py`` ``ROIPooler.forward``.
    """
    if len(features) == 1:
        return roi_align(features[0], boxes, output_size, 1.0 / 4, sampling_ratio, aligned)
    levels = assign_boxes_to_levels(boxes)
    c = features[0].shape[1]
    out = features[0].new_zeros((boxes.shape[0], c, output_size, output_size))
    for lvl, feat in enumerate(features):
        idx = torch.nonzero(levels == lvl).squeeze(1)
        if idx.numel():
            out[idx] = roi_align(feat, boxes[idx], output_size, 1.0 / 2 ** (lvl + 2), sampling_ratio, aligned)
    return out


# --------------------------------------------------------------------- box head
class _BoxHead(nn.Module):
    def __init__(self, in_dim: int, fc_dim: int, num_fc: int):
        super().__init__()
        for i in range(num_fc):
            self.add_module(f"fc{i + 1}", nn.Linear(in_dim if i == 0 else fc_dim, fc_dim))
        self.num_fc = num_fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, start_dim=1)
        for i in range(self.num_fc):
            x = F.relu(getattr(self, f"fc{i + 1}")(x))
        return x


class _BoxPredictor(nn.Module):
    def __init__(self, fc_dim: int, num_classes: int):
        super().__init__()
        self.cls_score = nn.Linear(fc_dim, num_classes + 1)
        self.bbox_pred = nn.Linear(fc_dim, num_classes * 4)


class FastRCNNHead(nn.Module):
    """Box head (``FastRCNNConvFCHead``: flatten, FC+ReLU x2) and predictor
    (softmax classes, class-specific deltas) plus test-time inference
    (clip, score threshold, per-class NMS, top-k).

    Not an ``nn.Module`` child tree of its own in detectron2: the parameters
    live in ``box_head`` / ``box_predictor`` of :class:`ROIHeads`.

    Source:
        detectron2 ``detectron2/modeling/roi_heads/box_head.py``,
        ``detectron2/modeling/roi_heads/fast_rcnn.py`` (``FastRCNNOutputLayers``,
        ``fast_rcnn_inference_single_image``).
    """

    @staticmethod
    def inference(
        cfg: DensePoseConfig,
        proposals: torch.Tensor,
        cls_logits: torch.Tensor,
        deltas: torch.Tensor,
        image_size: tuple[int, int],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Final detections from box-head outputs.

        Args:
            cfg: Thresholds and weights.
            proposals: ``(P, 4)`` XYXY resized pixels.
            cls_logits: ``(P, K + 1)`` logits, background last.
            deltas: ``(P, 4K)`` deltas.
            image_size: Resized ``(h, w)`` clip bounds.

        Returns:
            ``boxes`` ``(N, 4)`` float32, ``scores`` ``(N,)`` softmax
            probabilities, ``classes`` ``(N,)`` int64, sorted by score.
        """
        boxes = apply_deltas(deltas, proposals, cfg.box_bbox_reg_weights)
        scores = F.softmax(cls_logits, dim=-1)
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
        if not bool(valid.all()):
            boxes, scores = boxes[valid], scores[valid]
        scores = scores[:, :-1]
        k = boxes.shape[1] // 4
        boxes = clip_boxes(boxes.reshape(-1, 4), *image_size).view(-1, k, 4)
        mask = scores > cfg.score_thresh
        inds = mask.nonzero()
        boxes = boxes[inds[:, 0], 0] if k == 1 else boxes[mask]
        scores = scores[mask]
        keep = batched_nms(boxes, scores, inds[:, 1], cfg.nms_thresh)[: cfg.detections_per_image]
        return boxes[keep], scores[keep], inds[keep, 1]


# ------------------------------------------------------------- DensePose branch
class Decoder(nn.Module):
    """Fuses p2..p5 into one stride-4 map: per level ``max(1, log2(stride / 4))``
    x [3x3 conv + ReLU (+ bilinear x2 when stride > 4)], summed, then a 1x1 conv.

    Source:
        detectron2 ``projects/DensePose/densepose/modeling/roi_heads/roi_head.py`` ``Decoder``.
    """

    def __init__(self, in_channels: int, conv_dims: int, num_classes: int, common_stride: int = 4):
        super().__init__()
        self.in_features = ROI_LEVELS
        for name in self.in_features:
            stride = _STRIDES[name]
            length = max(1, int(math.log2(stride) - math.log2(common_stride)))
            ops: list[nn.Module] = []
            for k in range(length):
                ops.append(Conv2dNorm(in_channels if k == 0 else conv_dims, conv_dims, 3, padding=1, relu=True))
                if stride != common_stride:
                    ops.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            self.add_module(name, nn.Sequential(*ops))
        self.predictor = nn.Conv2d(conv_dims, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """``[p2, p3, p4, p5]`` -> ``(B, num_classes, H/4, W/4)``."""
        x = None
        for name, feat in zip(self.in_features, features):
            y = getattr(self, name)(feat)
            x = y if x is None else x + y
        return self.predictor(x)


class _ASPPPooling(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        return F.interpolate(super().forward(x), size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling with GroupNorm(32): 1x1, three dilated
    3x3 (rates), image pooling; concat -> 1x1 projection + ReLU.

    Source:
        detectron2 ``projects/DensePose/densepose/modeling/roi_heads/deeplab.py`` ``ASPP``.
    """

    def __init__(self, in_channels: int, rates: tuple = (6, 12, 56), out_channels: int = 256):
        super().__init__()
        convs: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.GroupNorm(32, out_channels), nn.ReLU()
            )
        ]
        for r in rates:
            convs.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 3, padding=r, dilation=r, bias=False),
                    nn.GroupNorm(32, out_channels),
                    nn.ReLU(),
                )
            )
        convs.append(
            _ASPPPooling(
                nn.AdaptiveAvgPool2d(1),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.GroupNorm(32, out_channels),
                nn.ReLU(),
            )
        )
        self.convs = nn.ModuleList(convs)
        self.project = nn.Sequential(nn.Conv2d(len(convs) * out_channels, out_channels, 1, bias=False), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C_in, S, S)`` -> ``(N, C_out, S, S)``."""
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


class DeepLabHead(nn.Module):
    """DensePose DeepLab head: ASPP(rates 6, 12, 56) then ``num_stacked_convs``
    x [3x3 conv (no bias) + GroupNorm(32) + ReLU].

    Source:
        detectron2 ``projects/DensePose/densepose/modeling/roi_heads/deeplab.py``
        ``DensePoseDeepLabHead``.
    """

    def __init__(self, cfg: DensePoseConfig, in_channels: int):
        super().__init__()
        k = cfg.conv_head_kernel
        dim = cfg.conv_head_dim
        self.ASPP = ASPP(in_channels, (6, 12, 56), in_channels)
        self.n_stacked_convs = cfg.num_stacked_convs
        use_norm = cfg.deeplab_norm == "GN"
        c = in_channels
        for i in range(self.n_stacked_convs):
            norm = nn.GroupNorm(32, dim) if use_norm else None
            conv = Conv2dNorm(c, dim, k, padding=k // 2, bias=not use_norm, norm=norm, relu=True)
            self.add_module(f"body_conv_fcn{i + 1}", conv)
            c = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, 28, 28)`` pooled -> ``(N, conv_head_dim, 28, 28)``."""
        x = self.ASPP(x)
        for i in range(self.n_stacked_convs):
            x = getattr(self, f"body_conv_fcn{i + 1}")(x)
        return x


class V1ConvXHead(nn.Module):
    """``num_stacked_convs`` x [3x3 conv with bias + ReLU] (R_50_FPN_s1x head).

    Source:
        detectron2 ``projects/DensePose/densepose/modeling/roi_heads/v1convx.py``
        ``DensePoseV1ConvXHead``.
    """

    def __init__(self, cfg: DensePoseConfig, in_channels: int):
        super().__init__()
        k = cfg.conv_head_kernel
        self.n_stacked_convs = cfg.num_stacked_convs
        c = in_channels
        for i in range(self.n_stacked_convs):
            self.add_module(f"body_conv_fcn{i + 1}", Conv2dNorm(c, cfg.conv_head_dim, k, padding=k // 2, relu=True))
            c = cfg.conv_head_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, 28, 28)`` -> ``(N, conv_head_dim, 28, 28)``."""
        for i in range(self.n_stacked_convs):
            x = getattr(self, f"body_conv_fcn{i + 1}")(x)
        return x


@dataclass
class ChartOutput:
    """Raw chart outputs for ``N`` boxes (no softmax/sigmoid applied).

    Attributes:
        coarse_segm: ``(N, 2, 112, 112)`` float32 foreground/background logits (S).
        fine_segm: ``(N, 25, 112, 112)`` float32 part logits, 0 = background (I).
        u: ``(N, 25, 112, 112)`` float32 per-part U coordinate (about [0, 1]).
        v: ``(N, 25, 112, 112)`` float32 per-part V coordinate.

    Source:
        detectron2 ``projects/DensePose/densepose/structures/chart.py``
        ``DensePoseChartPredictorOutput``.
    """

    coarse_segm: torch.Tensor
    fine_segm: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor


class ChartPredictor(nn.Module):
    """Four ``ConvTranspose2d(k=4, s=2, p=1)`` (28 -> 56) then bilinear x2 (-> 112).

    Source:
        detectron2 ``projects/DensePose/densepose/modeling/predictors/chart.py``
        ``DensePoseChartPredictor``.
    """

    def __init__(self, cfg: DensePoseConfig, in_channels: int):
        super().__init__()
        k = cfg.deconv_kernel
        n = cfg.num_patches + 1
        pad = int(k / 2 - 1)
        self.ann_index_lowres = nn.ConvTranspose2d(in_channels, cfg.num_coarse_segm_channels, k, stride=2, padding=pad)
        self.index_uv_lowres = nn.ConvTranspose2d(in_channels, n, k, stride=2, padding=pad)
        self.u_lowres = nn.ConvTranspose2d(in_channels, n, k, stride=2, padding=pad)
        self.v_lowres = nn.ConvTranspose2d(in_channels, n, k, stride=2, padding=pad)
        self.scale_factor = cfg.up_scale

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> ChartOutput:
        """``(N, C, 28, 28)`` -> :class:`ChartOutput` with 112x112 maps."""
        return ChartOutput(
            coarse_segm=self._up(self.ann_index_lowres(x)),
            fine_segm=self._up(self.index_uv_lowres(x)),
            u=self._up(self.u_lowres(x)),
            v=self._up(self.v_lowres(x)),
        )


class ROIHeads(nn.Module):
    """Box head + predictor, DensePose decoder, head and chart predictor.

    Source:
        detectron2 ``projects/DensePose/densepose/modeling/roi_heads/roi_head.py``
        ``DensePoseROIHeads`` (on ``StandardROIHeads``).
    """

    def __init__(self, cfg: DensePoseConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.fpn_out_channels
        r = cfg.box_pooler_resolution
        self.box_head = _BoxHead(c * r * r, cfg.box_fc_dim, cfg.box_num_fc)
        self.box_predictor = _BoxPredictor(cfg.box_fc_dim, cfg.num_classes)
        self.decoder = Decoder(c, cfg.decoder_conv_dims, cfg.decoder_num_classes, cfg.decoder_common_stride)
        head_cls = DeepLabHead if cfg.head_name == "DensePoseDeepLabHead" else V1ConvXHead
        self.densepose_head = head_cls(cfg, cfg.decoder_num_classes)
        self.densepose_predictor = ChartPredictor(cfg, cfg.conv_head_dim)

    def box_outputs(self, features: dict[str, torch.Tensor], proposals: torch.Tensor):
        """Box-head logits ``(P, K+1)`` and deltas ``(P, 4K)`` for ``(P, 4)`` proposals."""
        cfg = self.cfg
        pooled = multilevel_roi_align(
            [features[k] for k in ROI_LEVELS],
            proposals,
            cfg.box_pooler_resolution,
            cfg.box_pooler_sampling_ratio,
            cfg.box_pooler_aligned,
        )
        x = self.box_head(pooled)
        return self.box_predictor.cls_score(x), self.box_predictor.bbox_pred(x)

    def decode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Decoder output ``(1, decoder_num_classes, H/4, W/4)``."""
        return self.decoder([features[k] for k in ROI_LEVELS])

    def densepose(self, decoded: torch.Tensor, boxes: torch.Tensor) -> dict[str, object]:
        """DensePose branch on all ``(N, 4)`` boxes (resized pixels) at once.

        Returns:
            dict with ``pooled`` ``(N, C, 28, 28)``, ``head_out``
            ``(N, conv_head_dim, 28, 28)`` and ``chart`` (:class:`ChartOutput`).
        """
        cfg = self.cfg
        pooled = roi_align(
            decoded,
            boxes,
            cfg.dp_pooler_resolution,
            1.0 / cfg.decoder_common_stride,
            cfg.dp_pooler_sampling_ratio,
            cfg.dp_pooler_aligned,
        )
        head_out = self.densepose_head(pooled)
        return {"pooled": pooled, "head_out": head_out, "chart": self.densepose_predictor(head_out)}

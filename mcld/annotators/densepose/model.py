"""The whole DensePose R-CNN (``GeneralizedRCNN`` + ``DensePoseROIHeads``) as one
``nn.Module`` whose ``state_dict`` names equal detectron2's.
"""

from __future__ import annotations

import torch
from torch import nn

from .backbone import FPN
from .config import DensePoseConfig
from .heads import RPN, FastRCNNHead, ROIHeads

__all__ = ["DensePoseRCNN"]


class DensePoseRCNN(nn.Module):
    """ResNet-FPN backbone, RPN, box head, DensePose decoder/head/predictor.

    The steps are separate methods so that callers (and the golden tests) can
    run and inspect them one by one; :class:`~mcld.annotators.densepose.DensePosePredictor`
    chains them.

    Args:
        cfg: Architecture and test-time settings.

    Source:
        detectron2 ``detectron2/modeling/meta_arch/rcnn.py`` ``GeneralizedRCNN.inference``;
        ``projects/DensePose/densepose/modeling/roi_heads/roi_head.py``.
    """

    def __init__(self, cfg: DensePoseConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = FPN(cfg)
        self.proposal_generator = RPN(cfg)
        self.roi_heads = ROIHeads(cfg)

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the convolution weights (float32 unless cast)."""
        return self.backbone.bottom_up.stem.conv1.weight.dtype

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """FPN maps of a normalised, padded BGR batch ``(B, 3, H, W)`` (H, W multiples of 32)."""
        return self.backbone(images)

    def detect(self, features: dict[str, torch.Tensor], image_size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """RPN + box head + box inference for image 0.

        Args:
            features: FPN maps ``p2..p6`` of a batch of one.
            image_size: Unpadded resized ``(h, w)``.

        Returns:
            dict: ``boxes`` ``(N, 4)`` XYXY resized pixels, ``scores`` ``(N,)``,
            ``classes`` ``(N,)``, plus ``proposals``, ``proposal_logits``,
            ``box_cls_logits``, ``box_deltas``, ``rpn_raw_logits``, ``rpn_raw_deltas``.
        """
        rpn = self.proposal_generator(features, image_size)
        cls_logits, deltas = self.roi_heads.box_outputs(features, rpn["proposals"])
        boxes, scores, classes = FastRCNNHead.inference(self.cfg, rpn["proposals"], cls_logits, deltas, image_size)
        return {
            "boxes": boxes,
            "scores": scores,
            "classes": classes,
            "proposals": rpn["proposals"],
            "proposal_logits": rpn["logits"],
            "box_cls_logits": cls_logits,
            "box_deltas": deltas,
            "rpn_raw_logits": rpn["raw_logits"],
            "rpn_raw_deltas": rpn["raw_deltas"],
        }

    def densepose(self, features: dict[str, torch.Tensor], boxes: torch.Tensor) -> dict[str, object]:
        """Decoder + DensePose pooler/head/predictor on ``(N, 4)`` resized-pixel boxes.

        Returns:
            dict: ``decoder_out``, ``pooled``, ``head_out``, ``chart``
            (:class:`~mcld.annotators.densepose.heads.ChartOutput`, 112x112 maps).
        """
        decoded = self.roi_heads.decode(features)
        out = self.roi_heads.densepose(decoded, boxes)
        out["decoder_out"] = decoded
        return out

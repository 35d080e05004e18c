"""Configuration of the DensePose R-CNN port: one frozen dataclass, real defaults.

:class:`DensePoseConfig` holds every inference-time setting of detectron2's
merged config that the port uses, with the values of
``densepose_rcnn_R_101_FPN_DL_s1x.yaml`` as defaults. Presets:
:data:`MODEL_CONFIGS` (``"R_101_FPN_DL_s1x"``, ``"R_50_FPN_s1x"``). Tiny test
models come from a detectron2 ``cfg.dump()`` YAML (:meth:`DensePoseConfig.from_yaml`,
needs PyYAML) or from the shapes of a state_dict
(:meth:`DensePoseConfig.from_state_dict`, no extra dependency).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["DensePoseConfig", "MODEL_CONFIGS", "RESNET_BLOCKS"]

#: Bottleneck blocks per stage (res2..res5) for each ResNet depth.
RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

_HEADS = ("DensePoseDeepLabHead", "DensePoseV1ConvXHead")


@dataclass(frozen=True)
class DensePoseConfig:
    """Inference settings of a DensePose R-CNN (detectron2 names in brackets).

    Defaults are the full-size ``R_101_FPN_DL_s1x`` model MCLD uses
    (``Base-DensePose-RCNN-FPN.yaml`` + depth 101 + DeepLab head, everything
    else detectron2 / DensePose defaults).

    Attributes:
        depth: ResNet depth, 50 or 101 [RESNETS.DEPTH].
        stem_out_channels: Stem conv width [RESNETS.STEM_OUT_CHANNELS].
        width_per_group: Bottleneck width of res2 [RESNETS.WIDTH_PER_GROUP];
            doubles per stage.
        res2_out_channels: Output width of res2 [RESNETS.RES2_OUT_CHANNELS];
            doubles per stage.
        stride_in_1x1: Stride in the 1x1 conv of a bottleneck [RESNETS.STRIDE_IN_1X1].
        fpn_out_channels: FPN width [FPN.OUT_CHANNELS].
        anchor_sizes: One anchor size (pixels) per level p2..p6 [ANCHOR_GENERATOR.SIZES].
        aspect_ratios: Anchor aspect ratios h/w [ANCHOR_GENERATOR.ASPECT_RATIOS].
        anchor_offset: Grid offset in strides [ANCHOR_GENERATOR.OFFSET].
        rpn_bbox_reg_weights: [RPN.BBOX_REG_WEIGHTS].
        rpn_pre_nms_topk: Per-level top-k before NMS [RPN.PRE_NMS_TOPK_TEST].
        rpn_post_nms_topk: Proposals kept after NMS [RPN.POST_NMS_TOPK_TEST].
        rpn_nms_thresh: [RPN.NMS_THRESH].
        proposal_min_size: Minimum proposal side, pixels [PROPOSAL_GENERATOR.MIN_SIZE].
        box_fc_dim: [ROI_BOX_HEAD.FC_DIM]; box_num_fc: [ROI_BOX_HEAD.NUM_FC].
        box_pooler_resolution: [ROI_BOX_HEAD.POOLER_RESOLUTION].
        box_pooler_sampling_ratio: [ROI_BOX_HEAD.POOLER_SAMPLING_RATIO].
        box_pooler_aligned: False for "ROIAlign", True for "ROIAlignV2" [ROI_BOX_HEAD.POOLER_TYPE].
        box_bbox_reg_weights: [ROI_BOX_HEAD.BBOX_REG_WEIGHTS].
        num_classes: [ROI_HEADS.NUM_CLASSES].
        score_thresh: [ROI_HEADS.SCORE_THRESH_TEST]; nms_thresh: [ROI_HEADS.NMS_THRESH_TEST].
        detections_per_image: [TEST.DETECTIONS_PER_IMAGE].
        head_name: "DensePoseDeepLabHead" or "DensePoseV1ConvXHead" [ROI_DENSEPOSE_HEAD.NAME].
        conv_head_dim, conv_head_kernel, num_stacked_convs: DensePose head convs.
        deeplab_norm: Norm of the DeepLab head convs, "GN" or "" [DEEPLAB.NORM].
        decoder_conv_dims, decoder_num_classes, decoder_common_stride: Decoder.
        dp_pooler_resolution, dp_pooler_sampling_ratio, dp_pooler_aligned: DensePose pooler.
        num_patches: Body parts (24) [NUM_PATCHES];
        num_coarse_segm_channels: [NUM_COARSE_SEGM_CHANNELS].
        deconv_kernel, up_scale: Chart predictor [DECONV_KERNEL, UP_SCALE].
        pixel_mean, pixel_std: Per-channel BGR normalisation, 0..255 scale.
        min_size_test, max_size_test: ``ResizeShortestEdge`` sizes in pixels.

    Source:
        detectron2 ``detectron2/config/defaults.py``,
        ``projects/DensePose/densepose/config.py``,
        ``projects/DensePose/configs/Base-DensePose-RCNN-FPN.yaml``,
        ``densepose_rcnn_R_101_FPN_DL_s1x.yaml``, ``densepose_rcnn_R_50_FPN_s1x.yaml``.
    """

    depth: int = 101
    stem_out_channels: int = 64
    width_per_group: int = 64
    res2_out_channels: int = 256
    stride_in_1x1: bool = True
    fpn_out_channels: int = 256
    anchor_sizes: tuple = (32.0, 64.0, 128.0, 256.0, 512.0)
    aspect_ratios: tuple = (0.5, 1.0, 2.0)
    anchor_offset: float = 0.0
    rpn_bbox_reg_weights: tuple = (1.0, 1.0, 1.0, 1.0)
    rpn_pre_nms_topk: int = 1000
    rpn_post_nms_topk: int = 1000
    rpn_nms_thresh: float = 0.7
    proposal_min_size: float = 0.0
    box_fc_dim: int = 1024
    box_num_fc: int = 2
    box_pooler_resolution: int = 7
    box_pooler_sampling_ratio: int = 2
    box_pooler_aligned: bool = False
    box_bbox_reg_weights: tuple = (10.0, 10.0, 5.0, 5.0)
    num_classes: int = 1
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    detections_per_image: int = 100
    head_name: str = "DensePoseDeepLabHead"
    conv_head_dim: int = 512
    conv_head_kernel: int = 3
    num_stacked_convs: int = 8
    deeplab_norm: str = "GN"
    decoder_conv_dims: int = 256
    decoder_num_classes: int = 256
    decoder_common_stride: int = 4
    dp_pooler_resolution: int = 28
    dp_pooler_sampling_ratio: int = 2
    dp_pooler_aligned: bool = False
    num_patches: int = 24
    num_coarse_segm_channels: int = 2
    deconv_kernel: int = 4
    up_scale: int = 2
    pixel_mean: tuple = (103.530, 116.280, 123.675)
    pixel_std: tuple = (1.0, 1.0, 1.0)
    min_size_test: int = 800
    max_size_test: int = 1333
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        if self.depth not in RESNET_BLOCKS:
            raise ValueError(f"depth must be one of {sorted(RESNET_BLOCKS)}, got {self.depth}")
        if self.head_name not in _HEADS:
            raise ValueError(f"head_name must be one of {_HEADS}, got {self.head_name!r}")
        if len(self.anchor_sizes) != 5:
            raise ValueError(f"anchor_sizes needs one size per level p2..p6, got {self.anchor_sizes}")

    # ------------------------------------------------------------------ helpers
    @property
    def num_blocks(self) -> tuple:
        """Bottleneck blocks per stage res2..res5."""
        return RESNET_BLOCKS[self.depth]

    @property
    def stage_out_channels(self) -> tuple:
        """Output channels of res2..res5."""
        return tuple(self.res2_out_channels * 2**i for i in range(4))

    @property
    def stage_bottleneck_channels(self) -> tuple:
        """Bottleneck widths of res2..res5."""
        return tuple(self.width_per_group * 2**i for i in range(4))

    def replace(self, **changes) -> "DensePoseConfig":
        """Return a copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------- factories
    @classmethod
    def from_name(cls, name: str) -> "DensePoseConfig":
        """Preset by model-zoo name, ``"R_101_FPN_DL_s1x"`` or ``"R_50_FPN_s1x"``.

        Raises:
            ValueError: unknown name.
        """
        if name not in MODEL_CONFIGS:
            raise ValueError(f"unknown DensePose model {name!r}; known: {sorted(MODEL_CONFIGS)}")
        return MODEL_CONFIGS[name]

    @classmethod
    def from_detectron2_dict(cls, cfg: Mapping[str, Any]) -> "DensePoseConfig":
        """Build from a detectron2 config as a nested dict (``cfg.dump()`` parsed).

        Args:
            cfg: Mapping with ``MODEL``, ``INPUT``, ``TEST`` sections; missing
                entries keep the defaults of this class.

        Raises:
            ValueError: an unsupported setting (other backbone, deformable
                convs, groups != 1, RES5 dilation, confidence estimation,
                non-local block, non-RPN proposals).
        """
        model = cfg.get("MODEL", {})
        res = model.get("RESNETS", {})
        fpn = model.get("FPN", {})
        anc = model.get("ANCHOR_GENERATOR", {})
        rpn = model.get("RPN", {})
        box = model.get("ROI_BOX_HEAD", {})
        heads = model.get("ROI_HEADS", {})
        dp = model.get("ROI_DENSEPOSE_HEAD", {})
        inp = cfg.get("INPUT", {})
        test = cfg.get("TEST", {})
        d = cls()

        def get(section, key, default):
            return section.get(key, default)

        unsupported = []
        if get(res, "NUM_GROUPS", 1) != 1:
            unsupported.append("RESNETS.NUM_GROUPS != 1")
        if get(res, "RES5_DILATION", 1) != 1:
            unsupported.append("RESNETS.RES5_DILATION != 1")
        if any(get(res, "DEFORM_ON_PER_STAGE", [False] * 4)):
            unsupported.append("deformable convs")
        if get(res, "NORM", "FrozenBN") != "FrozenBN":
            unsupported.append(f"RESNETS.NORM {res.get('NORM')!r}")
        if fpn.get("NORM", "") != "":
            unsupported.append("FPN.NORM")
        if get(dp.get("UV_CONFIDENCE", {}), "ENABLED", False) or get(dp.get("SEGM_CONFIDENCE", {}), "ENABLED", False):
            unsupported.append("DensePose confidence estimation")
        if get(dp.get("DEEPLAB", {}), "NONLOCAL_ON", 0):
            unsupported.append("DEEPLAB.NONLOCAL_ON")
        if not get(dp, "DECODER_ON", True):
            unsupported.append("ROI_DENSEPOSE_HEAD.DECODER_ON False")
        if dp.get("DECODER_NORM", ""):
            unsupported.append("ROI_DENSEPOSE_HEAD.DECODER_NORM")
        if get(box, "NUM_CONV", 0):
            unsupported.append("ROI_BOX_HEAD.NUM_CONV")
        if get(box, "CLS_AGNOSTIC_BBOX_REG", False) or get(box, "USE_SIGMOID_CE", False):
            unsupported.append("class-agnostic / sigmoid box head")
        if unsupported:
            raise ValueError("unsupported DensePose config settings: " + ", ".join(unsupported))

        sizes = anc.get("SIZES", [[s] for s in d.anchor_sizes])
        ratios = anc.get("ASPECT_RATIOS", [list(d.aspect_ratios)])
        return cls(
            depth=int(get(res, "DEPTH", d.depth)),
            stem_out_channels=int(get(res, "STEM_OUT_CHANNELS", d.stem_out_channels)),
            width_per_group=int(get(res, "WIDTH_PER_GROUP", d.width_per_group)),
            res2_out_channels=int(get(res, "RES2_OUT_CHANNELS", d.res2_out_channels)),
            stride_in_1x1=bool(get(res, "STRIDE_IN_1X1", d.stride_in_1x1)),
            fpn_out_channels=int(get(fpn, "OUT_CHANNELS", d.fpn_out_channels)),
            anchor_sizes=tuple(float(s[0]) if isinstance(s, (list, tuple)) else float(s) for s in sizes),
            aspect_ratios=tuple(float(r) for r in (ratios[0] if isinstance(ratios[0], (list, tuple)) else ratios)),
            anchor_offset=float(get(anc, "OFFSET", d.anchor_offset)),
            rpn_bbox_reg_weights=tuple(float(w) for w in get(rpn, "BBOX_REG_WEIGHTS", d.rpn_bbox_reg_weights)),
            rpn_pre_nms_topk=int(get(rpn, "PRE_NMS_TOPK_TEST", d.rpn_pre_nms_topk)),
            rpn_post_nms_topk=int(get(rpn, "POST_NMS_TOPK_TEST", d.rpn_post_nms_topk)),
            rpn_nms_thresh=float(get(rpn, "NMS_THRESH", d.rpn_nms_thresh)),
            proposal_min_size=float(get(model.get("PROPOSAL_GENERATOR", {}), "MIN_SIZE", d.proposal_min_size)),
            box_fc_dim=int(get(box, "FC_DIM", d.box_fc_dim)),
            box_num_fc=int(get(box, "NUM_FC", d.box_num_fc)),
            box_pooler_resolution=int(get(box, "POOLER_RESOLUTION", d.box_pooler_resolution)),
            box_pooler_sampling_ratio=int(get(box, "POOLER_SAMPLING_RATIO", d.box_pooler_sampling_ratio)),
            box_pooler_aligned=_pooler_aligned(get(box, "POOLER_TYPE", "ROIAlign")),
            box_bbox_reg_weights=tuple(float(w) for w in get(box, "BBOX_REG_WEIGHTS", d.box_bbox_reg_weights)),
            num_classes=int(get(heads, "NUM_CLASSES", d.num_classes)),
            score_thresh=float(get(heads, "SCORE_THRESH_TEST", d.score_thresh)),
            nms_thresh=float(get(heads, "NMS_THRESH_TEST", d.nms_thresh)),
            detections_per_image=int(get(test, "DETECTIONS_PER_IMAGE", d.detections_per_image)),
            head_name=str(get(dp, "NAME", d.head_name)),
            conv_head_dim=int(get(dp, "CONV_HEAD_DIM", d.conv_head_dim)),
            conv_head_kernel=int(get(dp, "CONV_HEAD_KERNEL", d.conv_head_kernel)),
            num_stacked_convs=int(get(dp, "NUM_STACKED_CONVS", d.num_stacked_convs)),
            deeplab_norm=str(get(dp.get("DEEPLAB", {}), "NORM", d.deeplab_norm)),
            decoder_conv_dims=int(get(dp, "DECODER_CONV_DIMS", d.decoder_conv_dims)),
            decoder_num_classes=int(get(dp, "DECODER_NUM_CLASSES", d.decoder_num_classes)),
            decoder_common_stride=int(get(dp, "DECODER_COMMON_STRIDE", d.decoder_common_stride)),
            dp_pooler_resolution=int(get(dp, "POOLER_RESOLUTION", d.dp_pooler_resolution)),
            dp_pooler_sampling_ratio=int(get(dp, "POOLER_SAMPLING_RATIO", d.dp_pooler_sampling_ratio)),
            dp_pooler_aligned=_pooler_aligned(get(dp, "POOLER_TYPE", "ROIAlign")),
            num_patches=int(get(dp, "NUM_PATCHES", d.num_patches)),
            num_coarse_segm_channels=int(get(dp, "NUM_COARSE_SEGM_CHANNELS", d.num_coarse_segm_channels)),
            deconv_kernel=int(get(dp, "DECONV_KERNEL", d.deconv_kernel)),
            up_scale=int(get(dp, "UP_SCALE", d.up_scale)),
            pixel_mean=tuple(float(v) for v in model.get("PIXEL_MEAN", d.pixel_mean)),
            pixel_std=tuple(float(v) for v in model.get("PIXEL_STD", d.pixel_std)),
            min_size_test=int(get(inp, "MIN_SIZE_TEST", d.min_size_test)),
            max_size_test=int(get(inp, "MAX_SIZE_TEST", d.max_size_test)),
        )

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "DensePoseConfig":
        """Read a detectron2 ``cfg.dump()`` YAML (a fully merged config).

        ``_BASE_`` includes are not followed; pass a merged dump.

        Raises:
            ImportError: PyYAML is not installed (use :meth:`from_state_dict`).
            ValueError: the file is not a mapping, uses ``_BASE_``, or holds an
                unsupported setting.
        """
        try:
            import yaml
        except ImportError as err:  # pragma: no cover - PyYAML ships with the project deps
            raise ImportError(
                "Reading a detectron2 YAML config needs PyYAML (pip install pyyaml); "
                "DensePoseConfig.from_state_dict derives the config from the weights instead."
            ) from err
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a YAML mapping, got {type(data).__name__}")
        if "_BASE_" in data:
            raise ValueError(f"{path}: uses _BASE_; pass a merged cfg.dump() instead")
        return cls.from_detectron2_dict(data)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Any], base: "DensePoseConfig | None" = None) -> "DensePoseConfig":
        """Derive depth, widths and head type from a state_dict's keys and shapes.

        Thresholds, sizes and everything not visible in the weights are taken
        from ``base`` (default: the real R_101_FPN_DL_s1x settings).

        Args:
            state_dict: detectron2-named tensors or arrays (anything with ``.shape``).
            base: Config supplying the settings weights do not determine.

        Raises:
            ValueError: the keys are not a DensePose R-CNN FPN model.
        """
        base = base or cls()

        def shape(key):
            if key not in state_dict:
                raise ValueError(f"state_dict has no {key!r}; not a DensePose R-CNN FPN checkpoint")
            return tuple(state_dict[key].shape)

        blocks = []
        for stage in range(2, 6):
            pat = re.compile(rf"^backbone\.bottom_up\.res{stage}\.(\d+)\.conv1\.weight$")
            idx = [int(m.group(1)) for k in state_dict if (m := pat.match(k))]
            blocks.append(max(idx) + 1 if idx else 0)
        depth = {v: k for k, v in RESNET_BLOCKS.items()}.get(tuple(blocks))
        if depth is None:
            raise ValueError(f"unknown ResNet layout, blocks per stage {blocks}")
        deeplab = any(k.startswith("roi_heads.densepose_head.ASPP.") for k in state_dict)
        head_w = shape("roi_heads.densepose_head.body_conv_fcn1.weight")
        n_stacked = sum(1 for k in state_dict if re.match(r"^roi_heads\.densepose_head\.body_conv_fcn\d+\.weight$", k))
        patches = shape("roi_heads.densepose_predictor.index_uv_lowres.weight")[1] - 1
        return base.replace(
            depth=depth,
            stem_out_channels=shape("backbone.bottom_up.stem.conv1.weight")[0],
            width_per_group=shape("backbone.bottom_up.res2.0.conv1.weight")[0],
            res2_out_channels=shape("backbone.bottom_up.res2.0.conv3.weight")[0],
            fpn_out_channels=shape("backbone.fpn_output2.weight")[0],
            box_fc_dim=shape("roi_heads.box_head.fc1.weight")[0],
            head_name="DensePoseDeepLabHead" if deeplab else "DensePoseV1ConvXHead",
            deeplab_norm=("GN" if "roi_heads.densepose_head.body_conv_fcn1.norm.weight" in state_dict else "")
            if deeplab
            else base.deeplab_norm,
            conv_head_dim=head_w[0],
            conv_head_kernel=head_w[2],
            num_stacked_convs=n_stacked,
            decoder_conv_dims=shape("roi_heads.decoder.p2.0.weight")[0],
            decoder_num_classes=shape("roi_heads.decoder.predictor.weight")[0],
            num_classes=shape("roi_heads.box_predictor.cls_score.weight")[0] - 1,
            num_patches=patches,
            num_coarse_segm_channels=shape("roi_heads.densepose_predictor.ann_index_lowres.weight")[1],
            deconv_kernel=shape("roi_heads.densepose_predictor.ann_index_lowres.weight")[2],
        )


def _pooler_aligned(pooler_type: str) -> bool:
    if pooler_type == "ROIAlign":
        return False
    if pooler_type == "ROIAlignV2":
        return True
    raise ValueError(f"unsupported POOLER_TYPE {pooler_type!r} (ROIAlign or ROIAlignV2)")


#: Presets of the two official DensePose IUV models (full size).
MODEL_CONFIGS: dict[str, DensePoseConfig] = {
    "R_101_FPN_DL_s1x": DensePoseConfig(),
    "R_50_FPN_s1x": DensePoseConfig(depth=50, head_name="DensePoseV1ConvXHead"),
}

"""Detection ops that torchvision would give, written in plain vectorised torch.

Everything here runs on any device torch supports (CPU, CUDA) without compiled
extensions: :func:`roi_align` (aligned and unaligned), :func:`nms`,
:func:`batched_nms`, pairwise :func:`box_iou`, plus the small box helpers the
detector needs (:func:`apply_deltas`, :func:`clip_boxes`).

Boxes are ``(N, 4)`` float tensors in XYXY order ``(x0, y0, x1, y1)``, in pixels.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = [
    "roi_align",
    "box_area",
    "box_iou",
    "nms",
    "batched_nms",
    "apply_deltas",
    "clip_boxes",
    "DEFAULT_SCALE_CLAMP",
]

#: Upper clamp of the log-space size deltas dw, dh (detectron2 ``_DEFAULT_SCALE_CLAMP``).
DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)

# Elements (rois x samples x channels) gathered at once by roi_align; bounds the
# peak memory of the four corner gathers (~4 bytes each, float32).
_ROI_ALIGN_CHUNK_ELEMENTS = 1 << 24
# IoU entries computed at once by batched_nms.
_NMS_CHUNK_ELEMENTS = 1 << 22


def _sample_coords(
    start: torch.Tensor, bin_size: torch.Tensor, pooled: int, grid: torch.Tensor, grid_max: int
) -> torch.Tensor:
    """Sample positions along one axis, ``(K, pooled, grid_max)``, same float ops
    as torchvision's kernel: ``start + p * bin + (i + 0.5) * bin / grid``."""
    dev, dt = start.device, start.dtype
    p = torch.arange(pooled, device=dev, dtype=dt).view(1, pooled, 1)
    i = torch.arange(grid_max, device=dev, dtype=dt).view(1, 1, grid_max) + 0.5
    b = bin_size.view(-1, 1, 1)
    return start.view(-1, 1, 1) + p * b + i * b / grid.to(dt).view(-1, 1, 1)


def roi_align(
    features: torch.Tensor,
    boxes: torch.Tensor,
    output_size: int | Sequence[int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """Bilinear RoIAlign, numerically the torchvision CPU kernel.

    Every output bin is the mean of ``grid_h x grid_w`` bilinear samples at
    ``start + p * bin + (i + 0.5) * bin / grid``. ``aligned=False`` (what the
    DensePose configs use, pooler type ``"ROIAlign"``) takes the box corners
    times ``spatial_scale`` as is and clamps the RoI width/height to ``>= 1``;
    ``aligned=True`` (``"ROIAlignV2"``) shifts the corners by -0.5 px and does
    not clamp. A sample with ``y < -1`` or ``y > H`` (or ``x`` outside
    ``[-1, W]``) contributes 0 but still counts in the mean; samples in
    ``[-1, 0)`` read row/column 0; samples past ``H - 1`` read row ``H - 1``.

    Args:
        features: ``(B, C, H, W)`` float feature map.
        boxes: ``(K, 5)`` rows ``(batch_index, x0, y0, x1, y1)``, or ``(K, 4)``
            XYXY boxes of image 0; in input-image pixels (multiplied by
            ``spatial_scale`` to reach feature pixels).
        output_size: ``P`` or ``(P_h, P_w)`` bins.
        spatial_scale: Feature pixels per input pixel, e.g. ``1/4``.
        sampling_ratio: Samples per bin along each axis; ``<= 0`` means
            adaptive, ``ceil(roi_size / P)`` per RoI.
        aligned: Pixel-model flag described above.

    Returns:
        ``(K, C, P_h, P_w)`` tensor, same dtype and device as ``features``
        (float16/bfloat16 features are sampled in float32, as torchvision's
        autocast rule for ``roi_align`` does).

    Raises:
        ValueError: ``features`` is not 4-D, ``boxes`` is not ``(K, 4|5)`` or
            holds non-finite values.

    Source:
        torchvision ``torchvision/csrc/ops/cpu/roi_align_kernel.cpp``
        (``roi_align_forward_kernel_impl``, ``pre_calc_for_bilinear_interpolate``),
        as wrapped by detectron2 ``detectron2/layers/roi_align.py``. Our own
        vectorised re-implementation (gathers, no per-pixel loops).
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features.shape)}")
    if boxes.dim() != 2 or boxes.shape[1] not in (4, 5):
        raise ValueError(f"boxes must be (K, 4) or (K, 5), got shape {tuple(boxes.shape)}")
    if not bool(torch.isfinite(boxes).all()):
        raise ValueError("roi_align boxes contain NaN or infinite values")
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    bsz, chans, height, width = features.shape
    num = boxes.shape[0]
    if num == 0:
        return features.new_zeros((0, chans, ph, pw))
    if features.dtype in (torch.float16, torch.bfloat16):
        # As torchvision's autocast rule for roi_align: sample in float32 (box
        # corners of an 800x1333 image need more than a half's 11 mantissa bits),
        # return in the input dtype.
        out = roi_align(features.float(), boxes.float(), output_size, spatial_scale, sampling_ratio, aligned)
        return out.to(features.dtype)
    dt, dev = features.dtype, features.device
    boxes = boxes.to(device=dev, dtype=dt)
    if boxes.shape[1] == 4:
        batch_idx = torch.zeros(num, dtype=torch.long, device=features.device)
        coords = boxes
    else:
        batch_idx = boxes[:, 0].long()
        coords = boxes[:, 1:]

    offset = 0.5 if aligned else 0.0
    scale = torch.tensor(spatial_scale, dtype=dt, device=features.device)
    x0 = coords[:, 0] * scale - offset
    y0 = coords[:, 1] * scale - offset
    x1 = coords[:, 2] * scale - offset
    y1 = coords[:, 3] * scale - offset
    roi_w = x1 - x0
    roi_h = y1 - y0
    if not aligned:
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    bin_h = roi_h / ph
    bin_w = roi_w / pw
    if sampling_ratio > 0:
        grid_h = torch.full((num,), sampling_ratio, dtype=torch.long, device=features.device)
        grid_w = grid_h
        gh_max = gw_max = sampling_ratio
    else:  # adaptive: ceil(roi / P) samples, possibly 0 (then the bin is 0)
        grid_h = torch.ceil(roi_h / ph).long().clamp(min=0)
        grid_w = torch.ceil(roi_w / pw).long().clamp(min=0)
        gh_max, gw_max = max(1, int(grid_h.max())), max(1, int(grid_w.max()))
    count = (grid_h * grid_w).clamp(min=1).to(dt)

    ys = _sample_coords(y0, bin_h, ph, grid_h.clamp(min=1), gh_max)  # (K, ph, gh)
    xs = _sample_coords(x0, bin_w, pw, grid_w.clamp(min=1), gw_max)  # (K, pw, gw)
    # torchvision: a sample outside [-1, size] contributes 0 (but still counts).
    y_valid = (ys >= -1.0) & (ys <= height)
    x_valid = (xs >= -1.0) & (xs <= width)

    # Per-axis bilinear terms, laid out (grid, K, pooled) so that the samples
    # of one bin sit in separate contiguous slabs (cheap sum, no strided reduce).
    y_lo, y_hi, ly, hy = _axis_terms(ys, height)
    x_lo, x_hi, lx, hx = _axis_terms(xs, width)
    if sampling_ratio <= 0:  # samples beyond a RoI's own grid are masked out
        y_valid = y_valid & (torch.arange(gh_max, device=dev).view(1, 1, -1) < grid_h.view(-1, 1, 1))
        x_valid = x_valid & (torch.arange(gw_max, device=dev).view(1, 1, -1) < grid_w.view(-1, 1, 1))

    def yt(t):  # (K, ph, gh) -> (gh, 1, K, ph, 1)
        return t.permute(2, 0, 1).reshape(gh_max, 1, num, ph, 1)

    def xt(t):  # (K, pw, gw) -> (1, gw, K, 1, pw)
        return t.permute(2, 0, 1).reshape(1, gw_max, num, 1, pw)

    y_valid, y_lo, y_hi, ly, hy = (yt(t) for t in (y_valid, y_lo, y_hi, ly, hy))
    x_valid, x_lo, x_hi, lx, hx = (xt(t) for t in (x_valid, x_lo, x_hi, lx, hx))
    mask = (y_valid & x_valid).to(dt)
    base = (batch_idx * (height * width)).view(1, 1, num, 1, 1)
    corners = (
        (base + y_lo * width + x_lo, hy * hx * mask),
        (base + y_lo * width + x_hi, hy * lx * mask),
        (base + y_hi * width + x_lo, ly * hx * mask),
        (base + y_hi * width + x_hi, ly * lx * mask),
    )
    full = (gh_max, gw_max, num, ph, pw)
    corners = tuple((i.expand(full), w.expand(full)) for i, w in corners)
    flat = features.permute(0, 2, 3, 1).reshape(bsz * height * width, chans)

    out = features.new_empty((num, chans, ph, pw))
    step = max(1, _ROI_ALIGN_CHUNK_ELEMENTS // max(1, ph * pw * gh_max * gw_max * chans))
    for s in range(0, num, step):
        e = min(num, s + step)
        acc = None
        for idx, weight in corners:
            i = idx[:, :, s:e].reshape(-1)
            w = weight[:, :, s:e].reshape(-1, 1)
            term = flat.index_select(0, i)
            acc = term.mul_(w) if acc is None else acc.addcmul_(term, w)
        acc = acc.view(gh_max * gw_max, (e - s) * ph * pw, chans).sum(dim=0)
        acc = acc / count[s:e].repeat_interleave(ph * pw).view(-1, 1)
        out[s:e] = acc.view(e - s, ph, pw, chans).permute(0, 3, 1, 2)
    return out


def _axis_terms(coord: torch.Tensor, size: int):
    """torchvision's per-axis bilinear terms: clamp to >= 0, ``low = floor``,
    at or past ``size - 1`` both neighbours are ``size - 1`` with the
    coordinate set to it. Returns ``(low, high, frac, 1 - frac)``."""
    c = coord.clamp(min=0)
    low = c.floor().long()
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    c = torch.where(at_edge, low.to(c.dtype), c)
    frac = c - low.to(c.dtype)
    return low, high, frac, 1.0 - frac


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area ``(x1 - x0) * (y1 - y0)`` of ``(N, 4)`` XYXY boxes (no ``+1``), ``(N,)``.

    Source:
        detectron2 ``detectron2/structures/boxes.py`` ``Boxes.area``.
    """
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU, ``inter / (area_a + area_b - inter)``, as torchvision's NMS.

    Args:
        boxes_a: ``(N, 4)`` XYXY float boxes.
        boxes_b: ``(M, 4)`` XYXY float boxes.

    Returns:
        ``(N, M)`` float IoU in ``[0, 1]`` (NaN for two empty boxes, which
        never exceeds a threshold).

    Source:
        torchvision ``torchvision/csrc/ops/cpu/nms_kernel.cpp`` (IoU formula).
    """
    area_a = box_area(boxes_a)
    area_b = box_area(boxes_b)
    xx0 = torch.maximum(boxes_a[:, None, 0], boxes_b[None, :, 0])
    yy0 = torch.maximum(boxes_a[:, None, 1], boxes_b[None, :, 1])
    xx1 = torch.minimum(boxes_a[:, None, 2], boxes_b[None, :, 2])
    yy1 = torch.minimum(boxes_a[:, None, 3], boxes_b[None, :, 3])
    inter = (xx1 - xx0).clamp(min=0) * (yy1 - yy0).clamp(min=0)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _greedy_keep(suppresses: torch.Tensor) -> torch.Tensor:
    """Resolve greedy NMS from ``suppresses[j, i]`` (j ranks before i, IoU > thr).

    Box ``i`` survives iff no surviving earlier box suppresses it. The
    fixed-point iteration below reaches exactly that greedy answer: after
    ``t`` rounds the first ``t`` decisions are final, and the recurrence has a
    single fixed point. In practice it converges in a handful of rounds, each
    one ``(N, N)`` matrix-vector product (no Python loop over boxes).
    """
    n = suppresses.shape[0]
    sup = suppresses.to(torch.float32)
    keep = torch.ones(n, dtype=torch.bool, device=suppresses.device)
    for _ in range(n + 1):
        new_keep = (keep.to(torch.float32) @ sup) == 0
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    return keep


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression.

    Boxes are visited by descending score (stable on ties); a box is dropped
    when its IoU with an already kept box is ``> iou_threshold``.

    Args:
        boxes: ``(N, 4)`` XYXY float boxes.
        scores: ``(N,)`` float scores (any range, e.g. logits).
        iou_threshold: IoU above which the lower-scored box is suppressed.

    Returns:
        ``(K,)`` int64 indices into ``boxes`` of the kept boxes, sorted by
        descending score.

    Raises:
        ValueError: shapes do not match.

    Source:
        torchvision ``torchvision/csrc/ops/cpu/nms_kernel.cpp`` (``nms_kernel_impl``);
        our own vectorised resolution of the greedy order.
    """
    if boxes.dim() != 2 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:1]:
        raise ValueError(
            f"nms expects boxes (N, 4) and scores (N,), got {tuple(boxes.shape)} and {tuple(scores.shape)}"
        )
    return batched_nms(boxes, scores, torch.zeros_like(scores, dtype=torch.long), iou_threshold)


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """NMS done independently per category ``idxs`` (boxes of different
    categories never suppress each other).

    Args:
        boxes: ``(N, 4)`` XYXY float boxes.
        scores: ``(N,)`` float scores.
        idxs: ``(N,)`` int category (or FPN level) of each box.
        iou_threshold: IoU above which the lower-scored box is suppressed.

    Returns:
        ``(K,)`` int64 indices of the kept boxes, sorted by descending score.

    Raises:
        ValueError: shapes do not match.

    Source:
        torchvision ``torchvision/ops/boxes.py`` ``batched_nms`` (as called by
        detectron2 ``detectron2/layers/nms.py``); IoU masked by category
        instead of the coordinate-offset trick.
    """
    if boxes.dim() != 2 or boxes.shape[-1] != 4 or scores.shape != boxes.shape[:1] or idxs.shape != scores.shape:
        raise ValueError(
            f"batched_nms expects boxes (N, 4), scores (N,), idxs (N,); got {tuple(boxes.shape)}, "
            f"{tuple(scores.shape)}, {tuple(idxs.shape)}"
        )
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order].float()
    cls = idxs[order]
    n = b.shape[0]
    over = torch.empty((n, n), dtype=torch.bool, device=b.device)
    rows = max(1, _NMS_CHUNK_ELEMENTS // n)  # bounds the float temporaries of the IoU
    for s in range(0, n, rows):
        e = min(n, s + rows)
        over[s:e] = (box_iou(b[s:e], b) > iou_threshold) & (cls[s:e, None] == cls[None, :])
    over = torch.triu(over, diagonal=1)
    return order[_greedy_keep(over)]


def apply_deltas(
    deltas: torch.Tensor,
    boxes: torch.Tensor,
    weights: Sequence[float],
    scale_clamp: float = DEFAULT_SCALE_CLAMP,
) -> torch.Tensor:
    """Decode ``(dx, dy, dw, dh)`` regression deltas relative to ``boxes``.

    ``ctr = x0 + 0.5 * w``; ``pred_ctr = dx / wx * w + ctr``; ``pred_w =
    exp(min(dw / ww, scale_clamp)) * w``; box = ``pred_ctr -/+ 0.5 * pred_w``.

    Args:
        deltas: ``(N, 4 * k)`` float deltas, ``k`` sets of 4 (class-specific).
        boxes: ``(N, 4)`` XYXY reference boxes (anchors or proposals), pixels.
        weights: ``(wx, wy, ww, wh)``, e.g. ``(1, 1, 1, 1)`` (RPN) or
            ``(10, 10, 5, 5)`` (box head).
        scale_clamp: Upper clamp of ``dw / ww`` and ``dh / wh``.

    Returns:
        ``(N, 4 * k)`` float32 XYXY boxes in pixels.

    Source:
        detectron2 ``detectron2/modeling/box_regression.py`` ``Box2BoxTransform.apply_deltas``.
    """
    deltas = deltas.float()
    boxes = boxes.to(deltas.dtype)
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx = deltas[:, 0::4] / wx
    dy = deltas[:, 1::4] / wy
    dw = (deltas[:, 2::4] / ww).clamp(max=scale_clamp)
    dh = (deltas[:, 3::4] / wh).clamp(max=scale_clamp)
    pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
    pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
    pred_w = torch.exp(dw) * widths[:, None]
    pred_h = torch.exp(dh) * heights[:, None]
    x0 = pred_ctr_x - 0.5 * pred_w
    y0 = pred_ctr_y - 0.5 * pred_h
    x1 = pred_ctr_x + 0.5 * pred_w
    y1 = pred_ctr_y + 0.5 * pred_h
    return torch.stack((x0, y0, x1, y1), dim=-1).reshape(deltas.shape)


def clip_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Clamp ``(N, 4)`` XYXY boxes to ``x in [0, width]``, ``y in [0, height]``.

    Source:
        detectron2 ``detectron2/structures/boxes.py`` ``Boxes.clip``.
    """
    x0 = boxes[:, 0].clamp(min=0, max=width)
    y0 = boxes[:, 1].clamp(min=0, max=height)
    x1 = boxes[:, 2].clamp(min=0, max=width)
    y1 = boxes[:, 3].clamp(min=0, max=height)
    return torch.stack((x0, y0, x1, y1), dim=-1)

"""roi_align / nms / batched_nms / box decoding against hand-computed cases and
a plain-Python transcription of the torchvision kernels' rules."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from mcld.annotators.densepose.ops import apply_deltas, batched_nms, box_iou, clip_boxes, nms, roi_align


def _ramp(h: int = 4, w: int = 4) -> torch.Tensor:
    """(1, 1, H, W) map with value 10*y + x: bilinear sampling of it is exact."""
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    return (10 * y + x)[None, None]


def _one(boxes, aligned, sampling_ratio=2, out=1, scale=1.0, feat=None):
    feat = _ramp() if feat is None else feat
    return roi_align(feat, torch.tensor(boxes, dtype=torch.float32), out, scale, sampling_ratio, aligned)


# ------------------------------------------------------------------- roi_align
def test_roi_align_unaligned_interior():
    # box (0,0,2,2): bin 2 px, samples at 0.5 and 1.5 -> mean (1, 1) -> 10*1 + 1
    assert _one([[0, 0, 2, 2]], aligned=False).item() == pytest.approx(11.0)


def test_roi_align_aligned_shifts_half_pixel():
    # corners shifted by -0.5: samples at 0 and 1 -> mean (0.5, 0.5) -> 5.5
    assert _one([[0, 0, 2, 2]], aligned=True).item() == pytest.approx(5.5)


def test_roi_align_unaligned_clamps_small_roi_to_one_pixel():
    # 0.2 px box: unaligned clamps to 1 px -> samples 1.25, 1.75 -> mean 1.5 -> 16.5
    assert _one([[1, 1, 1.2, 1.2]], aligned=False).item() == pytest.approx(16.5)
    # aligned keeps 0.2 px: samples 0.55, 0.65 -> mean 0.6 -> 6.6
    assert _one([[1, 1, 1.2, 1.2]], aligned=True).item() == pytest.approx(6.6, abs=1e-5)


def test_roi_align_samples_outside_count_as_zero():
    # y samples at -3 (outside [-1, H]: contributes 0) and -1 (clamped to row 0);
    # x samples 0.5, 1.5 -> (0 + 0 + 0.5 + 1.5) / 4
    assert _one([[0, -4, 2, 0]], aligned=False).item() == pytest.approx(0.5)


def test_roi_align_samples_past_last_row_read_last_row():
    # one sample per bin at y = 3.7 (> H - 1 = 3, <= H): reads row 3; x = 1.0
    assert _one([[0, 3.2, 2, 4.2]], aligned=False, sampling_ratio=1).item() == pytest.approx(31.0)


def test_roi_align_adaptive_sampling():
    # sampling_ratio 0 on a 4 px box -> 4 samples 0.5..3.5, the last clamped to 3 -> mean 1.875
    assert _one([[0, 0, 4, 4]], aligned=False, sampling_ratio=0).item() == pytest.approx(1.875 * 11)


def test_roi_align_spatial_scale_and_batch_index():
    feat = torch.cat([_ramp(), 100 + _ramp()], dim=0).repeat(1, 3, 1, 1)  # (2, 3, 4, 4)
    feat[:, 1] *= 2
    rois = torch.tensor([[1, 0, 0, 4, 4], [0, 0, 0, 4, 4]], dtype=torch.float32)  # image pixels, scale 1/2
    out = roi_align(feat, rois, (1, 2), 0.5, 2, False)
    assert out.shape == (2, 3, 1, 2)
    # roi (0,0,2,2) in feature px: bins 1 px wide; y mean 1.0, x means 0.5 / 1.5
    np.testing.assert_allclose(out[1, 0, 0].numpy(), [10.5, 11.5], rtol=1e-6)
    np.testing.assert_allclose(out[0, 0, 0].numpy(), [110.5, 111.5], rtol=1e-6)
    np.testing.assert_allclose(out[:, 1].numpy(), 2 * out[:, 0].numpy(), rtol=1e-6)


def _reference_roi_align(feat: np.ndarray, rois: np.ndarray, ph: int, pw: int, scale: float, sr: int, aligned: bool):
    """Scalar transcription of the kernel's rules (float64) for cross-checking."""
    _, c, h, w = feat.shape
    out = np.zeros((len(rois), c, ph, pw))
    off = 0.5 if aligned else 0.0

    def sample(b, y, x):
        if y < -1.0 or y > h or x < -1.0 or x > w:
            return np.zeros(c)
        y, x = max(y, 0.0), max(x, 0.0)
        yl, xl = int(y), int(x)
        if yl >= h - 1:
            yl = yh = h - 1
            y = float(yl)
        else:
            yh = yl + 1
        if xl >= w - 1:
            xl = xh = w - 1
            x = float(xl)
        else:
            xh = xl + 1
        ly, lx = y - yl, x - xl
        f = feat[b]
        top = (1 - lx) * f[:, yl, xl] + lx * f[:, yl, xh]
        bottom = (1 - lx) * f[:, yh, xl] + lx * f[:, yh, xh]
        return (1 - ly) * top + ly * bottom

    for k, (b, x0, y0, x1, y1) in enumerate(rois):
        sx, sy, ex, ey = x0 * scale - off, y0 * scale - off, x1 * scale - off, y1 * scale - off
        rw, rh = ex - sx, ey - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph, rw / pw
        gh = sr if sr > 0 else math.ceil(rh / ph)
        gw = sr if sr > 0 else math.ceil(rw / pw)
        for py in range(ph):
            for px in range(pw):
                acc = np.zeros(c)
                for iy in range(gh):
                    for ix in range(gw):
                        acc += sample(int(b), sy + py * bh + (iy + 0.5) * bh / gh, sx + px * bw + (ix + 0.5) * bw / gw)
                out[k, :, py, px] = acc / max(gh * gw, 1)
    return out


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [2, 0])
def test_roi_align_matches_scalar_reference(aligned, sampling_ratio):
    gen = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 3, 9, 11, generator=gen)
    xy = torch.rand(12, 2, generator=gen) * torch.tensor([50.0, 40.0]) - 6
    wh = torch.rand(12, 2, generator=gen) * 30 + 0.1
    rois = torch.cat([torch.randint(0, 2, (12, 1), generator=gen).float(), xy, xy + wh], dim=1)
    ours = roi_align(feat, rois, (3, 4), 0.25, sampling_ratio, aligned)
    ref = _reference_roi_align(feat.double().numpy(), rois.double().numpy(), 3, 4, 0.25, sampling_ratio, aligned)
    np.testing.assert_allclose(ours.numpy(), ref, atol=2e-5, rtol=1e-5)


def test_roi_align_empty_and_bad_shapes():
    assert roi_align(_ramp(), torch.zeros(0, 4), 7, 1.0, 2, False).shape == (0, 1, 7, 7)
    with pytest.raises(ValueError, match=re.escape("features must be (B, C, H, W), got shape (1, 4, 4)")):
        roi_align(_ramp()[0], torch.zeros(1, 4), 7, 1.0, 2, False)
    with pytest.raises(ValueError, match=re.escape("boxes must be (K, 4) or (K, 5), got shape (1, 3)")):
        roi_align(_ramp(), torch.zeros(1, 3), 7, 1.0, 2, False)


# ------------------------------------------------------------------------- nms
def test_box_iou_hand_computed():
    a = torch.tensor([[0.0, 0, 10, 10]])
    b = torch.tensor([[1.0, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 5]])
    np.testing.assert_allclose(box_iou(a, b).numpy(), [[81 / 119, 0.0, 0.5]], rtol=1e-6)


def test_nms_threshold_is_strict_and_output_sorted():
    boxes = torch.tensor([[20.0, 20, 30, 30], [0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 5]])
    scores = torch.tensor([0.7, 0.9, 0.8, 0.6])
    # IoU(1, 2) = 0.68 > 0.5 -> 2 dropped; IoU(1, 3) = 0.5 is not > 0.5 -> kept
    assert nms(boxes, scores, 0.5).tolist() == [1, 0, 3]
    assert nms(boxes, scores, 0.7).tolist() == [1, 2, 0, 3]


def test_nms_suppressed_box_does_not_suppress():
    # A suppresses B (IoU 0.667); B would suppress C but is gone; IoU(A, C) = 0.43 -> C kept
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 2, 10, 12], [0, 4, 10, 14]])
    assert nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]


def test_batched_nms_categories_are_independent():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [1, 1, 11, 11]])
    scores = torch.tensor([0.9, 0.8, 0.95])
    assert batched_nms(boxes, scores, torch.tensor([0, 0, 1]), 0.5).tolist() == [2, 0]
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 2]), 0.5).tolist() == [2, 0, 1]
    assert batched_nms(boxes[:0], scores[:0], torch.zeros(0, dtype=torch.long), 0.5).numel() == 0


def _greedy_reference(boxes: np.ndarray, scores: np.ndarray, cls: np.ndarray, thr: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            if cls[i] != cls[j]:
                continue
            xx0, yy0 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            xx1, yy1 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, xx1 - xx0) * max(0.0, yy1 - yy0)
            ai = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            aj = (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1])
            if inter / (ai + aj - inter) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_batched_nms_matches_greedy_reference(thr):
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(300, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + torch.rand(300, 2, generator=gen) * 40 + 1], dim=1)
    scores = torch.rand(300, generator=gen)
    cls = torch.randint(0, 3, (300,), generator=gen)
    ours = batched_nms(boxes, scores, cls, thr).tolist()
    assert ours == _greedy_reference(boxes.double().numpy(), scores.numpy(), cls.numpy(), thr)


# --------------------------------------------------------------- box decoding
def test_apply_deltas_hand_computed_and_clamp():
    box = torch.tensor([[10.0, 20, 30, 60]])  # w 20, h 40, centre (20, 40)
    out = apply_deltas(torch.tensor([[1.0, -0.5, math.log(2), 0.0]]), box, (1, 1, 1, 1))
    # ctr (20 + 1 * 20, 40 - 0.5 * 40) = (40, 20); size (2 * 20, 40)
    np.testing.assert_allclose(out.numpy(), [[20.0, 0, 60, 40]], rtol=1e-6)
    out = apply_deltas(torch.tensor([[10.0, 0, 0, 0]]), box, (10, 10, 5, 5))  # dx / 10 = 1
    np.testing.assert_allclose(out.numpy(), [[30.0, 20, 50, 60]], rtol=1e-6)
    big = apply_deltas(torch.tensor([[0.0, 0, 100, 100]]), box, (1, 1, 1, 1))
    np.testing.assert_allclose((big[0, 2] - big[0, 0]).item(), 20 * 1000 / 16, rtol=1e-5)


def test_clip_boxes():
    out = clip_boxes(torch.tensor([[-5.0, -1, 300, 50]]), height=40, width=256)
    assert out.tolist() == [[0.0, 0.0, 256.0, 40.0]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_ops_same_on_cuda():
    gen = torch.Generator().manual_seed(0)
    feat = torch.randn(1, 8, 20, 20, generator=gen)
    rois = torch.tensor([[1.0, 2, 50, 60], [0, 0, 79, 79]])
    cpu = roi_align(feat, rois, 7, 0.25, 2, False)
    gpu = roi_align(feat.cuda(), rois.cuda(), 7, 0.25, 2, False).cpu()
    np.testing.assert_allclose(gpu.numpy(), cpu.numpy(), atol=1e-5)
    boxes = torch.cat([rois, rois + 1])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes.cuda(), scores.cuda(), 0.5).cpu().tolist() == nms(boxes, scores, 0.5).tolist()


def test_roi_align_aligned_empty_roi_adaptive_is_zero():
    # aligned, adaptive sampling, zero-size RoI: ceil(0 / P) = 0 samples -> bin value 0
    assert _one([[1, 1, 1, 1]], aligned=True, sampling_ratio=0).item() == 0.0
    with pytest.raises(ValueError, match="roi_align boxes contain NaN or infinite values"):
        _one([[0, 0, float("nan"), 2]], aligned=False)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_roi_align_half_features_sample_in_float32(dtype):
    # Box corners of an 800x1333 input do not fit a half's mantissa: sampling
    # must happen in float32 (torchvision's autocast rule), the result keeps
    # the features' dtype.
    gen = torch.Generator().manual_seed(0)
    feat = torch.randn(1, 3, 200, 334, generator=gen)
    boxes = torch.tensor([[1003.37, 517.81, 1291.55, 795.13]], dtype=torch.float32)
    half = roi_align(feat.to(dtype), boxes, 7, 1.0 / 4, 2, False)
    assert half.dtype == dtype
    expected = roi_align(feat.to(dtype).float(), boxes, 7, 1.0 / 4, 2, False).to(dtype)
    assert torch.equal(half, expected)

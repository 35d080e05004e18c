"""Pose-transfer metrics over folders, as the literature computes them.

``python -m mcld evaluate --pred DIR --gt DIR [--size 256x176|512x352]``
pairs the PNGs of two folders by file name (upstream ``test.py`` layout:
``DIR/256/<name>.png`` and ``DIR/512/<name>.png``; a folder without those
subfolders is used as is) and reports the mean over the pairs of:

* **SSIM** (what upstream's ``evaluate.py`` prints as "SSIM"): ``skimage.metrics.structural_similarity(gt,
  pred, data_range=1, win_size=51, channel_axis=0)`` on ``(3, H, W)`` float32
  RGB in ``[0, 1]``: a 51x51 *uniform* window, sample covariance
  (``N / (N - 1)``), ``K1 = 0.01``, ``K2 = 0.03``, the mean SSIM of each
  channel averaged over R, G, B (image borders of 25 px excluded).
* **SSIM_256** (PIDM-style): the same on ``x * 255`` with
  ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False`` and
  ``data_range = pred.max() - pred.min()`` (of the *generated* image).
* **PSNR**: ``skimage.metrics.peak_signal_noise_ratio(gt, pred, data_range=1)``
  = ``10 log10(1 / MSE)``, MSE over all pixels and the 3 channels, float32
  RGB in ``[0, 1]``.
* **LPIPS** (optional): ``lpips.LPIPS(net="alex")(pred, gt, normalize=True)``,
  inputs ``(1, 3, H, W)`` in ``[0, 1]``.
* **FID** (optional): Fréchet distance between Inception-v3 pool features
  (2048-d) of the generated images and of ``--fid-real`` (default: the
  ground-truth folder), with ``pytorch-fid``'s FID Inception weights.
  Upstream (and CFLD) instead take torchvision's ImageNet Inception-v3,
  bilinear-resize to 299 and compare against all DeepFashion *training*
  images (CFLD issue #43), so this FID is comparable between runs of this
  command, not with the paper's table.

Images are read with PIL as RGB ``uint8`` and divided by 255, as upstream's
``pil_to_tensor(...) / 255.``; both images of a pair must have the same size.
The ground truth in upstream's layout (its dataset's ``gt_256`` /
``gt_512``: the whole target frame, PIL bicubic) is what
``python -m mcld batch --gt-dir`` writes; upstream's ``test.py`` writes none.
LPIPS and FID need ``torchvision`` (not a dependency of this package); where
their packages or weights are missing the command says what to install or
fetch and still reports SSIM and PSNR.

Source:
    Upstream ``jqliu09/MCLD`` ``evaluate.py`` (``evaluate_whole_image``) and
    ``validation/metrics.py`` (``build_metric.forward``, authored for CFLD by
    Yanzuo Lu, ``YanzuoLu/CFLD`` ``metrics.py``); PIDM (Bhunia et al., CVPR
    2023) for the Gaussian SSIM variant.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from .errors import MCLDError

__all__ = [
    "EVAL_SIZES",
    "EvaluationResult",
    "EvaluationError",
    "find_pairs",
    "load_image_chw",
    "ssim",
    "ssim_256",
    "psnr",
    "evaluate_folders",
    "format_table",
    "write_json",
]

#: ``--size`` -> (subfolder name as upstream ``test.py`` writes it, (height, width)).
EVAL_SIZES = {"256x176": ("256", (256, 176)), "512x352": ("512", (512, 352))}
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

LPIPS_INSTALL = (
    "LPIPS skipped: `pip install lpips torchvision` (AlexNet ImageNet weights are fetched by torchvision on first use, "
    "into ~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth)"
)
FID_INSTALL = (
    "FID skipped: `pip install pytorch-fid torchvision` (the FID Inception weights pt_inception-2015-12-05-6726825d.pth "
    "are fetched from github.com/mseitzer/pytorch-fid/releases on first use, into ~/.cache/torch/hub/checkpoints)"
)


class EvaluationError(MCLDError, ValueError):
    """The folders cannot be compared (missing, no common images, size mismatch)."""


@dataclass
class EvaluationResult:
    """Mean metrics over the image pairs of two folders.

    Attributes:
        size: ``"256x176"`` or ``"512x352"`` (or ``None`` when not checked).
        num_images: Pairs evaluated.
        metrics: ``{"SSIM", "SSIM_256", "PSNR"[, "LPIPS"][, "FID"]}`` means
            (PSNR in dB; FID is not a mean).
        skipped: Metrics not computed, with what to install or fetch.
        per_image: ``{name: {"SSIM", "SSIM_256", "PSNR"[, "LPIPS"]}}``.
        pred_dir, gt_dir: The folders actually read.
    """

    size: str | None
    num_images: int
    metrics: dict
    skipped: dict = field(default_factory=dict)
    per_image: dict = field(default_factory=dict)
    pred_dir: str = ""
    gt_dir: str = ""

    def to_json(self) -> dict:
        """JSON-ready dict of every field."""
        return {
            "size": self.size, "num_images": self.num_images, "metrics": self.metrics, "skipped": self.skipped,
            "pred_dir": self.pred_dir, "gt_dir": self.gt_dir, "per_image": self.per_image,
        }


def _size_dir(folder: Path, size: str | None) -> Path:
    if size is None:
        return folder
    sub = folder / EVAL_SIZES[size][0]
    return sub if sub.is_dir() else folder


def find_pairs(pred_dir: str | Path, gt_dir: str | Path, size: str | None = None) -> tuple[Path, Path, list[str]]:
    """The folders to compare and the file names they share.

    Args:
        pred_dir, gt_dir: Folders of generated and ground-truth images; when
            ``size`` is given and ``DIR/256`` (or ``DIR/512``) exists, that
            subfolder is used (upstream ``test.py`` layout).
        size: ``"256x176"``, ``"512x352"`` or ``None``.

    Returns:
        ``(pred_folder, gt_folder, names)``: names (``.png``/``.jpg``) present
        in both, sorted; names are matched on their stem, so ``a.png`` pairs
        with ``a.jpg``.

    Raises:
        EvaluationError: a folder is missing, ``size`` unknown, or no name is shared.
    """
    if size is not None and size not in EVAL_SIZES:
        raise EvaluationError(f"--size must be one of {', '.join(EVAL_SIZES)}.", f"got {size!r}")
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for what, folder in (("prediction", pred_dir), ("ground-truth", gt_dir)):
        if not folder.is_dir():
            raise EvaluationError(f"The {what} folder {folder} does not exist.")
    pred, gt = _size_dir(pred_dir, size), _size_dir(gt_dir, size)

    def stems(folder: Path) -> dict:
        return {p.stem: p.name for p in sorted(folder.iterdir()) if p.suffix.lower() in _IMAGE_SUFFIXES}

    p_names, g_names = stems(pred), stems(gt)
    common = sorted(set(p_names) & set(g_names))
    if not common:
        raise EvaluationError(
            f"No image names are shared by {pred} ({len(p_names)} images) and {gt} ({len(g_names)} images)."
        )
    return pred, gt, common


def load_image_chw(path: str | Path) -> np.ndarray:
    """``(3, H, W)`` float32 RGB in ``[0, 1]``: PIL RGB uint8 / 255 (upstream ``pil_to_tensor(...) / 255.``).

    Raises:
        EvaluationError: the file is not a readable image.
    """
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except OSError as err:
        raise EvaluationError(f"{path} is not a readable image.", str(err)) from err
    return np.ascontiguousarray(array.transpose(2, 0, 1)).astype(np.float32) / 255.0


def ssim(gt: np.ndarray, pred: np.ndarray) -> float:
    """The paper's SSIM of one pair (uniform 51x51 window; module docstring).

    Args:
        gt, pred: ``(3, H, W)`` float32 in ``[0, 1]``, ``H, W >= 51``.

    Source:
        Upstream ``validation/metrics.py`` L74 (CFLD).
    """
    from skimage.metrics import structural_similarity

    return float(structural_similarity(gt, pred, data_range=1, win_size=51, channel_axis=0))


def ssim_256(gt: np.ndarray, pred: np.ndarray) -> float:
    """PIDM-style SSIM of one pair (Gaussian sigma 1.5 on ``x * 255``; module docstring).

    Args:
        gt, pred: ``(3, H, W)`` float32 in ``[0, 1]``.

    Source:
        Upstream ``validation/metrics.py`` L76-79 (CFLD's ``ssim_256``).
    """
    from skimage.metrics import structural_similarity

    g, p = gt * 255.0, pred * 255.0
    return float(
        structural_similarity(
            g, p, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=0,
            data_range=float(p.max() - p.min()),
        )
    )


def psnr(gt: np.ndarray, pred: np.ndarray) -> float:
    """PSNR in dB of one pair, data range 1 (``inf`` for identical images).

    Args:
        gt, pred: ``(3, H, W)`` float32 in ``[0, 1]``.

    Source:
        Upstream ``validation/metrics.py`` L73 (CFLD).
    """
    from skimage.metrics import peak_signal_noise_ratio

    if np.array_equal(gt, pred):
        return math.inf
    return float(peak_signal_noise_ratio(gt, pred, data_range=1))


def _lpips_model(device: str):
    """``lpips.LPIPS(net="alex")`` or the reason it is unavailable."""
    try:
        import lpips  # noqa: F401  (needs torchvision)
    except ImportError:
        return None, LPIPS_INSTALL
    try:
        model = lpips.LPIPS(net="alex", verbose=False).eval().to(device)
    except Exception as err:  # weights not downloadable (offline)
        return None, f"{LPIPS_INSTALL}; loading failed: {err}"
    return model, None


def _fid_features(paths: Sequence[Path], device: str, model) -> np.ndarray:
    import torch

    feats = []
    with torch.no_grad():
        for path in paths:
            x = torch.from_numpy(load_image_chw(path))[None].to(device)
            feats.append(model(x)[0].reshape(1, -1).cpu().numpy())
    return np.concatenate(feats).astype(np.float64)


def _fid(pred_paths, real_paths, device: str):
    """FID with pytorch-fid's Inception, or ``(None, reason)``."""
    try:
        from pytorch_fid.fid_score import calculate_frechet_distance
        from pytorch_fid.inception import InceptionV3
    except ImportError:
        return None, FID_INSTALL
    try:
        model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval().to(device)
    except Exception as err:
        return None, f"{FID_INSTALL}; loading failed: {err}"
    a, b = _fid_features(pred_paths, device, model), _fid_features(real_paths, device, model)
    if len(a) < 2 or len(b) < 2:
        return None, "FID skipped: it needs at least 2 images on each side"
    value = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    return float(value), None


def evaluate_folders(
    pred_dir: str | Path,
    gt_dir: str | Path,
    size: str | None = None,
    *,
    lpips: bool = True,
    fid: bool = True,
    fid_real: str | Path | None = None,
    device: str = "cpu",
    callback: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """SSIM, SSIM_256, PSNR (and LPIPS, FID where available) over two folders.

    Args:
        pred_dir, gt_dir: See :func:`find_pairs`.
        size: ``"256x176"`` / ``"512x352"``: use that subfolder and check
            every image has that ``height x width``; ``None``: any size.
        lpips, fid: Try these metrics (skipped with a reason when their
            package or weights are missing).
        fid_real: Folder of real images for FID (default: the ground-truth folder).
        device: Torch device for LPIPS / FID.
        callback: ``callback(done, total)`` after each pair.

    Returns:
        :class:`EvaluationResult`.

    Raises:
        EvaluationError: see :func:`find_pairs`; a pair of different sizes, or
            an image not of ``size``.
    """
    pred, gt, names = find_pairs(pred_dir, gt_dir, size)
    p_files = {p.stem: p for p in pred.iterdir()}
    g_files = {p.stem: p for p in gt.iterdir()}
    expected = EVAL_SIZES[size][1] if size else None
    skipped: dict = {}
    lpips_model = None
    if lpips:
        lpips_model, reason = _lpips_model(device)
        if reason:
            skipped["LPIPS"] = reason
    per_image: dict = {}
    for k, name in enumerate(names, start=1):
        a, b = load_image_chw(g_files[name]), load_image_chw(p_files[name])
        if a.shape != b.shape:
            raise EvaluationError(
                f"{name}: the generated image is {b.shape[1]}x{b.shape[2]}, the ground truth {a.shape[1]}x{a.shape[2]}."
            )
        if expected is not None and a.shape[1:] != expected:
            raise EvaluationError(f"{name}: images are {a.shape[1]}x{a.shape[2]}, --size {size} expects {expected[0]}x{expected[1]}.")
        row = {"SSIM": ssim(a, b), "SSIM_256": ssim_256(a, b), "PSNR": psnr(a, b)}
        if lpips_model is not None:
            import torch

            with torch.no_grad():
                pa, pb = (torch.from_numpy(x)[None].to(device) for x in (a, b))
                row["LPIPS"] = float(lpips_model(pb, pa, normalize=True).reshape(()))
        per_image[name] = row
        if callback is not None:
            callback(k, len(names))
    metrics = {key: float(np.mean([r[key] for r in per_image.values()])) for key in per_image[names[0]]}
    if fid:
        real = Path(fid_real) if fid_real else gt
        real_paths = sorted(p for p in real.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        value, reason = _fid([p_files[n] for n in names], real_paths, device)
        if reason:
            skipped["FID"] = reason
        else:
            metrics["FID"] = value
    return EvaluationResult(
        size=size, num_images=len(names), metrics=metrics, skipped=skipped, per_image=per_image,
        pred_dir=str(pred), gt_dir=str(gt),
    )


def format_table(result: EvaluationResult) -> str:
    """A plain-text table of :attr:`EvaluationResult.metrics` (and what was skipped)."""
    order = [m for m in ("FID", "LPIPS", "SSIM", "SSIM_256", "PSNR") if m in result.metrics]
    lines = [f"{result.num_images} image pairs, size {result.size or 'any'}", f"{'metric':<10} {'value':>12}"]
    lines += [f"{m:<10} {result.metrics[m]:>12.6f}" for m in order]
    lines += [f"note: {reason}" for reason in result.skipped.values()]
    return "\n".join(lines)


def write_json(result: EvaluationResult, path: str | Path) -> Path:
    """Write :meth:`EvaluationResult.to_json` to ``path`` (``inf`` PSNR as the string ``"inf"``)."""

    def clean(value):
        if isinstance(value, float) and math.isinf(value):
            return "inf"
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    path = Path(path)
    path.write_text(json.dumps(clean(result.to_json()), indent=1))
    return path

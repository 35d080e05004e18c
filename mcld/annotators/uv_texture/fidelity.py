"""How close one texture map is to another (e.g. ours to upstream's).

The metric names and definitions are those of
``shared/golden/texture_pws/manifest.json`` (``metric_definitions``), so that
tests and ``bench/texture_fidelity.py`` can compare with its tolerances.

Source:
    Our own; definitions from ``shared/golden/texture_pws/manifest.json``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["compare_textures"]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0:
        return math.inf
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def compare_textures(ours: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Pixel statistics of ``ours`` against ``reference``.

    Args:
        ours: ``(H, W, 3)`` uint8 image (e.g. a 512x512 RGB texture map).
        reference: ``(H, W, 3)`` uint8 image of the same shape and channel order.

    Returns:
        ``{"max_abs", "mean_abs", "psnr_all", "psnr_nonblack_union",
        "coverage_mismatch", "exact_px", "exact_px_in_union"}``: max and mean
        of ``|a - b|`` over pixels and channels (grey levels 0..255); PSNR in
        dB, peak 255, over all pixels and over the pixels non-black (any
        channel > 0) in either image (``inf`` when equal); the fraction of all
        pixels black in exactly one image; the fraction of pixels equal in all
        channels, overall and among the non-black-in-either pixels.

    Raises:
        ValueError: shapes differ, or the images are not ``(H, W, 3)`` uint8.
    """
    a = np.asarray(ours)
    b = np.asarray(reference)
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"need two (H, W, 3) uint8 images of one shape, got {a.shape} {a.dtype} and {b.shape} {b.dtype}")
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    nb_a, nb_b = a.any(axis=-1), b.any(axis=-1)
    union = nb_a | nb_b
    exact = ~diff.any(axis=-1)
    return {
        "max_abs": float(diff.max()),
        "mean_abs": float(diff.mean()),
        "psnr_all": _psnr(a, b),
        "psnr_nonblack_union": _psnr(a[union], b[union]),
        "coverage_mismatch": float((nb_a ^ nb_b).mean()),
        "exact_px": float(exact.mean()),
        "exact_px_in_union": float(exact[union].mean()) if union.any() else 1.0,
    }

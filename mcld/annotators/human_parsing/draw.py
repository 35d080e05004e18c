"""Drawing helpers for parsing results (stateless, canvas in / canvas out)."""

from __future__ import annotations

import numpy as np

from ...image_utils import to_numpy_rgb
from .regions import REGION_COLORS, ParsingResult

__all__ = ["colorize_label_map", "draw_parsing_overlay"]


def colorize_label_map(label_map: np.ndarray, region_names: tuple[str, ...]) -> np.ndarray:
    """Paint each region in its :data:`REGION_COLORS` colour.

    Args:
        label_map: ``(H, W)`` integer region ids.
        region_names: Region names indexed by id.

    Returns:
        ``(H, W, 3)`` ``uint8`` RGB; background black.

    Raises:
        ValueError: ids outside ``region_names``.

    Source:
        Our own.
    """
    if label_map.size and int(label_map.max()) >= len(region_names):
        raise ValueError(f"label ids must be < {len(region_names)}, got max {int(label_map.max())}")
    palette = np.array([REGION_COLORS.get(name, (255, 255, 255)) for name in region_names], dtype=np.uint8)
    return palette[label_map]


def draw_parsing_overlay(image, result: ParsingResult, alpha: float = 0.5, legend: bool = True) -> np.ndarray:
    """Blend region colours over the photo and draw a legend of the regions found.

    Args:
        image: The parsed photo: ``(H, W, 3)`` ``uint8`` RGB array or PIL
            image, same size as ``result.label_map``.
        result: The parser output.
        alpha: Colour opacity on labelled pixels, in ``[0, 1]``; background
            pixels are left as they are.
        legend: Draw a legend (colour swatch + region name, one line per
            region present) in the top-left corner.

    Returns:
        ``(H, W, 3)`` ``uint8`` RGB overlay.

    Raises:
        ValueError: the image and the label map differ in size, or ``alpha``
            is outside ``[0, 1]``.

    Source:
        Our own.
    """
    import cv2

    canvas = to_numpy_rgb(image).copy()
    if canvas.shape[:2] != result.label_map.shape:
        raise ValueError(f"image is {canvas.shape[:2]} but the label map is {result.label_map.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    colours = colorize_label_map(result.label_map, result.region_names)
    fg = result.label_map > 0
    blended = (1.0 - alpha) * canvas[fg].astype(np.float32) + alpha * colours[fg].astype(np.float32)
    canvas[fg] = np.clip(blended.round(), 0, 255).astype(np.uint8)
    if not legend:
        return canvas
    h, w = canvas.shape[:2]
    font_scale = max(0.3, min(h, w) / 700.0)
    line = max(10, int(round(26 * font_scale)))
    for row, name in enumerate(result.present_regions()):
        y = 4 + row * line
        if y + line > h:
            break
        cv2.rectangle(canvas, (4, y), (4 + line - 3, y + line - 3), REGION_COLORS.get(name, (255, 255, 255)), -1)
        cv2.rectangle(canvas, (4, y), (4 + line - 3, y + line - 3), (255, 255, 255), 1)
        org = (8 + line, y + line - 5)
        cv2.putText(canvas, name, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(canvas, name, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas

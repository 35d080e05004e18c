"""One PNG with several results side by side, each captioned: the page a
reviewer downloads to compare seeds, poses or settings.

Tiles keep their aspect ratio (every image is scaled to one height, never
stretched) and sit left to right, ``columns`` per row, each with its caption
wrapped underneath in Pillow's bundled font.

Source:
    Our own layout (no upstream counterpart; upstream writes single images).
"""

from __future__ import annotations

from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

__all__ = ["MAX_SHEET_IMAGES", "contact_sheet", "wrap_text"]

#: Most images one sheet holds (the app's results history keeps 24).
MAX_SHEET_IMAGES = 48

_PAD = 8
_LINE_GAP = 3


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap of ``text`` into at most ``max_lines`` lines of ``width`` pixels ("…" if cut)."""
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


def wrap_text(text: str, font, width: int, max_lines: int) -> list[str]:
    """Word-wrap ``text`` as captions are wrapped here (greedy, "…" when cut).

    Args:
        text: The text.
        font: A Pillow font (e.g. ``ImageFont.load_default(size=13)``).
        width: Line width in pixels.
        max_lines: Most lines returned.

    Returns:
        Lines, each at most ``width`` pixels wide (a single over-long word
        stays whole on its line unless it is the cut last line).
    """
    return _wrap(ImageDraw.Draw(Image.new("RGB", (1, 1))), text, font, width, max_lines)


def contact_sheet(
    images: Sequence[Image.Image],
    captions: Sequence[str] | None = None,
    *,
    columns: int = 4,
    tile_height: int = 256,
    caption_lines: int = 4,
    font_size: int = 13,
) -> Image.Image:
    """Lay ``images`` out in a captioned grid.

    Args:
        images: 1..:data:`MAX_SHEET_IMAGES` PIL images of any size and mode
            (converted to RGB).
        captions: One string per image (``None``: no captions).
        columns: Tiles per row (1..12).
        tile_height: Height in pixels every image is scaled to (32..1024),
            keeping its aspect ratio; tiles are as wide as the widest scaled
            image, narrower ones centred.
        caption_lines: Lines of caption text under each tile (longer captions
            end in "…").
        font_size: Caption font size in pixels.

    Returns:
        One RGB image on white: ``rows x columns`` tiles with ``8`` px gaps.

    Raises:
        ValueError: no images, more than :data:`MAX_SHEET_IMAGES`, a caption
            count that differs from the image count, or an out-of-range
            ``columns`` / ``tile_height``.
    """
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    if len(images) > MAX_SHEET_IMAGES:
        raise ValueError(f"contact_sheet takes at most {MAX_SHEET_IMAGES} images, got {len(images)}")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"got {len(captions)} captions for {len(images)} images")
    if not 1 <= columns <= 12 or not 32 <= tile_height <= 1024:
        raise ValueError(f"columns must be in 1..12 and tile_height in 32..1024, got {columns}, {tile_height}")

    scaled = [
        image.convert("RGB").resize(
            (max(1, round(image.width * tile_height / image.height)), tile_height), Image.Resampling.LANCZOS
        )
        for image in images
    ]
    tile_width = max(image.width for image in scaled)
    font = ImageFont.load_default(size=font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_height = font_size + _LINE_GAP
    texts = [
        _wrap(probe, caption, font, tile_width, caption_lines) for caption in (captions or [""] * len(images))
    ]
    caption_height = line_height * max(len(lines) for lines in texts) + (_PAD // 2 if captions else 0)
    columns = min(columns, len(images))
    rows = -(-len(images) // columns)
    cell_w, cell_h = tile_width + _PAD, tile_height + caption_height + _PAD
    sheet = Image.new("RGB", (columns * cell_w + _PAD, rows * cell_h + _PAD), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (image, lines) in enumerate(zip(scaled, texts)):
        x0, y0 = _PAD + (k % columns) * cell_w, _PAD + (k // columns) * cell_h
        sheet.paste(image, (x0 + (tile_width - image.width) // 2, y0))
        for n, line in enumerate(lines):
            draw.text((x0, y0 + tile_height + _PAD // 2 + n * line_height), line, fill=(40, 40, 40), font=font)
    return sheet

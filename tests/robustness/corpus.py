"""Generator of the bad-input corpus (nothing binary is committed).

Every case is written into a caller-given folder (``tmp_path``) from the shared
test photos (``../shared/images``) or from scratch. :func:`build_image_corpus`
returns :class:`BadInput` records naming the file, what ``mcld`` must do with
it, and a fragment of the visitor-facing message that must appear.

Outcomes:

* ``"error"``: a documented :class:`~mcld.errors.MCLDError` subclass
  (``expect``) whose ``user_message`` contains ``fragment`` (case-insensitive).
* ``"ok"``: the file is accepted; ``check`` (optional) validates the loaded
  image (e.g. EXIF upright, transparency on white).
* ``"note"``: accepted, and one of the warnings shown to the visitor contains
  ``fragment`` (e.g. several people: the largest is used).

``stage`` says where the case is decided: ``"load"`` (by
:func:`mcld.image_utils.load_image`) or ``"person"`` (by person detection in
:meth:`mcld.pose_transfer.PoseTransfer.prepare_source`).

Weight-file cases are built by the test module itself (they need the tiny
modules); see ``test_bad_inputs.py``.

Run ``python -m tests.robustness.corpus OUT_DIR`` to write the corpus to a
folder for a manual look.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image

from mcld.errors import InputImageError, NoPersonError

__all__ = ["BadInput", "build_image_corpus", "person_photo", "two_people_photo", "SHARED_PERSON"]

#: Shared photo used as "a good photo of one person" (full body, 420x560).
SHARED_PERSON = "test.jpg"


@dataclass(frozen=True)
class BadInput:
    """One corpus case.

    Attributes:
        name: Short identifier (test id).
        path: The generated file.
        outcome: ``"error"``, ``"ok"`` or ``"note"`` (see module docstring).
        stage: ``"load"`` or ``"person"``.
        expect: Exception class for ``"error"`` cases.
        fragment: Lower-case text that must appear in the user message (or
            in a note for ``"note"`` cases).
        check: For ``"ok"``/``"note"`` cases, ``check(loaded_rgb_image)``
            raising ``AssertionError`` when the loaded image is wrong.
        app: Whether the case is also sent through the app (upload size
            limits and cost decide).
    """

    name: str
    path: Path
    outcome: str
    stage: str = "load"
    expect: Optional[type] = None
    fragment: str = ""
    check: Optional[Callable[[Image.Image], None]] = field(default=None, compare=False)
    app: bool = True


# Helpers -----------------------------------------------------------------------


def person_photo(images_dir: Path) -> Image.Image:
    """The shared full-body photo as RGB (420x560)."""
    return Image.open(images_dir / SHARED_PERSON).convert("RGB")


def two_people_photo(images_dir: Path) -> Image.Image:
    """Two shared photos pasted side by side: the left one larger (so the
    'largest person' choice is well defined)."""
    a = person_photo(images_dir)
    b = Image.open(images_dir / "reference_img_1.png").convert("RGB").resize((300, 300), Image.LANCZOS)
    canvas = Image.new("RGB", (a.width + b.width + 40, a.height), (235, 235, 235))
    canvas.paste(a, (0, 0))
    canvas.paste(b, (a.width + 40, a.height - b.height))
    return canvas


def _mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    if a.size != b.size:
        b = b.resize(a.size, Image.BILINEAR)
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png_bytes(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width x height`` white pixels, built row by row
    with a streaming compressor (a few MB of RAM, a few hundred KB on disk)."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b"")


def _jpeg_with_orientation(img: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92, exif=exif.tobytes())
    return buf.getvalue()


# Checks for accepted files -----------------------------------------------------


def _close_to(reference: Image.Image, tol: float) -> Callable[[Image.Image], None]:
    def check(loaded: Image.Image) -> None:
        assert loaded.mode == "RGB", loaded.mode
        assert loaded.size == reference.size, (loaded.size, reference.size)
        diff = _mean_abs_diff(reference, loaded)
        assert diff < tol, f"mean abs difference {diff:.1f} >= {tol}"

    return check


def _upright(reference: Image.Image) -> Callable[[Image.Image], None]:
    """The loaded image must match the upright reference, and clearly not its
    rotations (so a missed EXIF tag fails)."""

    def check(loaded: Image.Image) -> None:
        assert loaded.size == reference.size, f"not upright: size {loaded.size} vs {reference.size}"
        upright = _mean_abs_diff(reference, loaded)
        flipped = _mean_abs_diff(reference, loaded.transpose(Image.Transpose.ROTATE_180))
        assert upright < 6.0 and upright < flipped / 3, (upright, flipped)

    return check


def _transparent_on_white(loaded: Image.Image) -> None:
    arr = np.asarray(loaded)
    assert loaded.mode == "RGB"
    # the left quarter was fully transparent: it must be white, not black
    assert arr[:, : arr.shape[1] // 4].min() >= 250, arr[:, : arr.shape[1] // 4].min()


# The corpus --------------------------------------------------------------------


def build_image_corpus(images_dir: Path, out_dir: Path) -> list[BadInput]:
    """Write every file-based case into ``out_dir`` and describe it.

    Args:
        images_dir: ``../shared/images``.
        out_dir: Empty folder to write into.

    Returns:
        The cases, in a stable order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    person = person_photo(images_dir)
    w, h = person.size
    cases: list[BadInput] = []

    def save(name: str, img: Image.Image, fmt: str = "PNG", **kw) -> Path:
        path = out_dir / name
        img.save(path, fmt, **kw)
        return path

    def write(name: str, data: bytes) -> Path:
        path = out_dir / name
        path.write_bytes(data)
        return path

    png = io.BytesIO()
    person.save(png, "PNG")
    png_bytes = png.getvalue()
    jpg = io.BytesIO()
    person.save(jpg, "JPEG", quality=90)
    jpg_bytes = jpg.getvalue()

    # --- not an image / damaged -------------------------------------------------
    cases += [
        BadInput("empty_upload", write("empty.jpg", b""), "error", expect=InputImageError, fragment="empty"),
        BadInput(
            "text_renamed_jpg",
            write("notes.jpg", b"This is a shopping list, not a photo.\nmilk\neggs\n" * 20),
            "error",
            expect=InputImageError,
            fragment="not an image",
        ),
        BadInput(
            "html_renamed_png",
            write("page.png", b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"),
            "error",
            expect=InputImageError,
            fragment="not an image",
        ),
        BadInput(
            "truncated_png",
            write("truncated.png", png_bytes[: len(png_bytes) // 2]),
            "error",
            expect=InputImageError,
            fragment="damaged",
        ),
        BadInput(
            "corrupt_png",
            write(
                "corrupt.png",
                png_bytes[:64] + bytes(np.random.default_rng(0).integers(0, 256, len(png_bytes) - 64, dtype=np.uint8)),
            ),
            "error",
            expect=InputImageError,
            fragment="damaged",
        ),
        BadInput(
            "truncated_jpeg",
            write("truncated.jpg", jpg_bytes[: len(jpg_bytes) // 3]),
            "error",
            expect=InputImageError,
            fragment="damaged",
        ),
        BadInput(
            "corrupt_jpeg",
            write("corrupt.jpg", jpg_bytes[:4] + b"\x00" * 400 + jpg_bytes[404:]),
            "error",
            expect=InputImageError,
            fragment="damaged",
        ),
        BadInput(
            "header_only_png",
            write("header_only.png", png_bytes[:8]),
            "error",
            expect=InputImageError,
            fragment="damaged",
        ),
    ]

    # --- sizes -------------------------------------------------------------------
    cases += [
        BadInput("tiny_1x1", save("one_pixel.png", Image.new("RGB", (1, 1), (200, 10, 10))), "error",
                 expect=InputImageError, fragment="too small"),
        BadInput("tiny_16x16", save("sixteen.png", person.resize((16, 16))), "error",
                 expect=InputImageError, fragment="too small"),
        BadInput("sliver_2000x8", save("sliver.png", Image.new("RGB", (2000, 8), (90, 90, 90))), "error",
                 expect=InputImageError, fragment="too small"),
        BadInput("huge_10000x10000", write("huge.png", huge_png_bytes(10_000, 10_000)), "error",
                 expect=InputImageError, fragment="too large"),
        BadInput("file_100mb", write("big.jpg", jpg_bytes + b"\x00" * (100 * 2**20 - len(jpg_bytes))), "error",
                 expect=InputImageError, fragment="too large"),
    ]

    # --- formats that must be accepted and converted ------------------------------
    cmyk = save("cmyk.jpg", person.convert("CMYK"), "JPEG", quality=95)
    arr16 = (np.asarray(person.convert("L"), np.uint16) * 257).astype(np.uint16)
    png16 = save("sixteen_bit.png", Image.fromarray(arr16, "I;16"))
    palette = save("palette.png", person.quantize(colors=256))
    rgba_img = person.convert("RGBA")
    alpha = np.full((h, w), 255, np.uint8)
    alpha[:, : w // 4] = 0
    rgba_img.putalpha(Image.fromarray(alpha, "L"))
    rgba = save("transparent.png", rgba_img)
    exif6 = write("exif_orientation_6.jpg", _jpeg_with_orientation(person.transpose(Image.Transpose.ROTATE_90), 6))
    exif8 = write("exif_orientation_8.jpg", _jpeg_with_orientation(person.transpose(Image.Transpose.ROTATE_270), 8))
    frames = [person, person.transpose(Image.Transpose.FLIP_TOP_BOTTOM), Image.new("RGB", person.size, (0, 0, 0))]
    gif = out_dir / "animated.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=200, loop=0)
    webp = save("photo.webp", person, "WEBP", quality=90)
    grey = save("grey.png", person.convert("L"))
    cases += [
        BadInput("cmyk_jpeg", cmyk, "ok", stage="person", check=_close_to(person, 12.0)),
        BadInput("png_16bit", png16, "ok", stage="person", check=_close_to(person.convert("L").convert("RGB"), 2.0)),
        BadInput("palette_png", palette, "ok", stage="person", check=_close_to(person, 8.0)),
        BadInput("rgba_transparent", rgba, "ok", stage="person", check=_transparent_on_white),
        BadInput("exif_orientation_6", exif6, "ok", stage="person", check=_upright(person)),
        BadInput("exif_orientation_8", exif8, "ok", stage="person", check=_upright(person)),
        BadInput("animated_gif", gif, "ok", stage="person", check=_close_to(person, 14.0)),
        BadInput("webp", webp, "ok", check=_close_to(person, 8.0)),
        BadInput("greyscale", grey, "ok", check=_close_to(person.convert("L").convert("RGB"), 2.0)),
    ]

    # --- people: none, several, parts, rotated -----------------------------------
    rng = np.random.default_rng(1)
    texture = Image.fromarray(rng.integers(0, 256, (480, 360, 3), dtype=np.uint8)).resize((360, 480), Image.NEAREST)
    bricks = np.full((480, 360, 3), (150, 70, 50), np.uint8)
    bricks[::24] = 220
    for row in range(0, 480, 24):
        bricks[row : row + 24, (row // 24 % 2) * 24 :: 48] = 220
    cases += [
        BadInput("no_person_plain", save("plain.png", Image.new("RGB", (360, 480), (128, 160, 200))), "error",
                 stage="person", expect=NoPersonError, fragment="no person"),
        BadInput("no_person_noise", save("noise.png", texture), "error", stage="person",
                 expect=NoPersonError, fragment="no person"),
        BadInput("no_person_bricks", save("bricks.png", Image.fromarray(bricks)), "error", stage="person",
                 expect=NoPersonError, fragment="no person"),
        BadInput("two_people", save("two_people.png", two_people_photo(images_dir)), "note", stage="person",
                 fragment="people were found"),
    ]
    # Partial and rotated people. The outcome is what the person detector
    # (MediaPipe) decides on these files; the pinned behaviour is: a part of a
    # body is "no person" (with advice to use a full-body photo), a rotated
    # whole body is accepted with a note that the result may be poor.
    head = person.crop((int(w * 0.30), 0, int(w * 0.70), int(h * 0.22))).resize((480, 400), Image.LANCZOS)
    legs = person.crop((0, 2 * h // 3, w, h))
    cut = Image.new("RGB", (w, h), (235, 235, 235))
    cut.paste(person, (int(w * 0.55), 0))
    cases += [
        BadInput("only_face", save("only_face.png", head), "error", stage="person", expect=NoPersonError,
                 fragment="body"),
        BadInput("only_legs", save("only_legs.png", legs), "error", stage="person", expect=NoPersonError,
                 fragment="body"),
        BadInput("cut_at_border", save("cut_at_border.png", cut), "error", stage="person", expect=NoPersonError,
                 fragment="fully in frame"),
        BadInput("lying_down_90", save("lying_down.png", person.transpose(Image.Transpose.ROTATE_90)), "note",
                 stage="person", fragment="lying down"),
        BadInput("upside_down_180", save("upside_down.png", person.transpose(Image.Transpose.ROTATE_180)), "note",
                 stage="person", fragment="upside down"),
    ]
    return cases


def main(argv: list[str] | None = None) -> int:
    """Write the corpus to a folder: ``python -m tests.robustness.corpus OUT``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tests.robustness.corpus OUT_DIR", file=sys.stderr)
        return 2
    from tests.conftest import SHARED

    for case in build_image_corpus(SHARED / "images", Path(argv[0])):
        print(f"{case.name:22s} {case.outcome:8s} {case.path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

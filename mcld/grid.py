"""Comparison grids: one source person, up to 6 target poses, up to 2 axes of settings.

A reviewer's questions ("the same person in five poses", "seed against
seed", "guidance 2 against 3.5 against 5", "with and without the face
tokens") are one :func:`run_grid` call. The grid is

* **rows**: the values of the first axis (one row without axes);
* **columns**: the target poses, each split into the values of the second
  axis (pose-major);

and the output (:class:`GridResult`) is one PNG sheet with a column header
(pose, second-axis value) and a row header (first-axis value), every cell's
image at full output resolution (pasted, never resampled, so a cell of the
sheet equals the cell's own PNG pixel for pixel), and a JSON / CSV of every
cell's settings and position. Each cell's own PNG carries its settings as
JSON in the ``mcld_settings`` PNG text chunk, as the Space's results do.

Axes (:data:`GRID_AXES`): ``seed``, ``guidance_scale``,
``num_inference_steps``, ``scheduler`` and ``ablation``. Ablation values
(:data:`GRID_ABLATIONS`): ``"none"``, the pipeline's condition ablations
(:data:`mcld.pipeline_mcld.ABLATIONS`: ``"face_tokens"``, ``"source_clip"``,
``"texture_clip"``, ``"reference_attention"``, each switched off) and
``"parsing_attention"`` (parsing-guided reference attention switched on).

The source's conditions (crop, DensePose IUV, UV texture, face embedding)
are built once, each target's IUV once; every cell reuses them. A cell is
exactly :meth:`mcld.pose_transfer.PoseTransfer.generate` with the cell's
settings, so it equals the single-image call bit for bit.

ZeroGPU: :func:`grid_gpu_duration` is the ``spaces.GPU(duration=...)`` of a
GPU function that runs a whole grid; it refuses (:class:`GridTooLargeError`,
naming the largest grid that fits) a grid over the project's per-call cap
:data:`mcld.zerogpu.GPU_MAX_S` (ZeroGPU documents no per-call ceiling; see
that constant for where 120 s comes from).

Source:
    Our own layout and orchestration (upstream ``jqliu09/MCLD`` writes single
    images); the ablations follow the conditions of the MCLD paper (Liu et
    al., CVPR 2025) Sec. 3 / its ablation study.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import defaults
from PIL import Image, ImageDraw, ImageFont

from .errors import MCLDError

__all__ = [
    "GRID_AXES",
    "GRID_ABLATIONS",
    "ABLATION_LABELS",
    "GRID_OUTPUT_SIZES",
    "MAX_GRID_POSES",
    "MAX_GRID_AXES",
    "MAX_GRID_CELLS",
    "GridAxis",
    "GridCell",
    "GridResult",
    "GridTooLargeError",
    "parse_axis",
    "plan_grid",
    "grid_gpu_seconds",
    "grid_gpu_duration",
    "iuv_to_crop_frame",
    "prepare_grid_targets",
    "run_grid",
    "save_png_with_settings",
]

#: Axis name -> value type.
GRID_AXES = {
    "seed": int,
    "guidance_scale": float,
    "num_inference_steps": int,
    "scheduler": str,
    "ablation": str,
}
#: Ablation axis values: ``"none"``, each pipeline ablation (that condition
#: off), and ``"parsing_attention"`` (parsing-guided attention on).
GRID_ABLATIONS = ("none", "face_tokens", "source_clip", "texture_clip", "reference_attention", "parsing_attention")
#: Readable names of the ablation values for headers.
ABLATION_LABELS = {
    "none": "full MCLD",
    "face_tokens": "no face tokens",
    "source_clip": "no source CLIP",
    "texture_clip": "no texture CLIP",
    "reference_attention": "no reference attn",
    "parsing_attention": "parsing attention",
}
#: Output sizes a grid can show, name -> ``(height, width)`` (upstream ``test.py``).
GRID_OUTPUT_SIZES = {"512x352": (512, 352), "256x176": (256, 176)}
#: Most target poses in one grid.
MAX_GRID_POSES = 6
#: Most setting axes in one grid.
MAX_GRID_AXES = 2
#: Most cells in one grid (the sheet stays a readable, downloadable PNG).
MAX_GRID_CELLS = 48

_AXIS_SHORT = {"seed": "seed", "guidance_scale": "guidance", "num_inference_steps": "steps", "scheduler": "scheduler"}
_PAD = 8
_FONT_SIZE = 14
_LINE_GAP = 3


class GridTooLargeError(MCLDError, ValueError):
    """A grid needs more GPU time than this project's per-call cap
    (:data:`mcld.zerogpu.GPU_MAX_S`) or more cells than :data:`MAX_GRID_CELLS`;
    the message says what fits."""


@dataclass(frozen=True)
class GridAxis:
    """One axis of settings.

    Attributes:
        name: One of :data:`GRID_AXES`.
        values: 1..6 distinct values of the axis type (ablations: names
            from :data:`GRID_ABLATIONS`; schedulers: names from
            :data:`mcld.schedulers.SCHEDULERS`).
    """

    name: str
    values: tuple

    def __post_init__(self):
        if self.name not in GRID_AXES:
            raise ValueError(f"unknown grid axis {self.name!r}; choose from {tuple(GRID_AXES)}")
        kind = GRID_AXES[self.name]
        try:
            values = tuple(kind(v) for v in self.values)
        except (TypeError, ValueError) as err:
            raise ValueError(f"axis {self.name}: values must be {kind.__name__}, got {list(self.values)}") from err
        if not 1 <= len(values) <= 6 or len(set(values)) != len(values):
            raise ValueError(f"axis {self.name}: give 1..6 distinct values, got {list(values)}")
        if self.name == "ablation":
            bad = [v for v in values if v not in GRID_ABLATIONS]
            if bad:
                raise ValueError(f"unknown ablation values {bad}; choose from {GRID_ABLATIONS}")
        if self.name == "scheduler":
            from .schedulers import SCHEDULERS

            bad = [v for v in values if v not in SCHEDULERS]
            if bad:
                raise ValueError(f"unknown schedulers {bad}; choose from {tuple(SCHEDULERS)}")
        object.__setattr__(self, "values", values)

    def label(self, value) -> str:
        """Header text of one value, e.g. ``"seed 7"``, ``"guidance 3.5"``, ``"no face tokens"``."""
        if self.name == "ablation":
            return ABLATION_LABELS[value]
        return f"{_AXIS_SHORT[self.name]} {value:g}" if isinstance(value, float) else f"{_AXIS_SHORT[self.name]} {value}"


def parse_axis(text: str) -> GridAxis:
    """Parse a CLI axis ``"name=v1,v2,..."`` (e.g. ``"seed=0,1"``, ``"ablation=none,face_tokens"``).

    Aliases: ``guidance`` for ``guidance_scale``, ``steps`` for ``num_inference_steps``.

    Raises:
        ValueError: no ``=``, unknown axis or bad values.
    """
    name, sep, values = text.partition("=")
    if not sep:
        raise ValueError(f"an axis is NAME=V1,V2 (e.g. seed=0,1), got {text!r}")
    name = {"guidance": "guidance_scale", "steps": "num_inference_steps"}.get(name.strip(), name.strip())
    return GridAxis(name, tuple(v.strip() for v in values.split(",") if v.strip()))


def _axes(axes: Sequence[GridAxis] | None) -> tuple[GridAxis, ...]:
    axes = tuple(axes or ())
    if len(axes) > MAX_GRID_AXES:
        raise ValueError(f"a grid has at most {MAX_GRID_AXES} axes, got {len(axes)}")
    if len({a.name for a in axes}) != len(axes):
        raise ValueError(f"the two axes must differ, got {[a.name for a in axes]}")
    return axes


def plan_grid(
    num_poses: int,
    axes: Sequence[GridAxis] | None = None,
    *,
    num_inference_steps: int = defaults.NUM_INFERENCE_STEPS,
    guidance_scale: float = defaults.GUIDANCE_SCALE,
    seed: int = defaults.API_SEED,
    scheduler: str | None = None,
    ablation: str = "none",
) -> list[dict]:
    """Every cell's position and sampling settings, in run order (row-major).

    Args:
        num_poses: Target poses, 1..:data:`MAX_GRID_POSES`.
        axes: 0..2 :class:`GridAxis`; the first gives rows, the second splits
            each pose's column.
        num_inference_steps, guidance_scale, seed, scheduler, ablation: The
            settings of every cell, except the axes' own.

    Returns:
        One dict per cell: ``row``, ``column``, ``pose_index``, ``seed``,
        ``guidance_scale``, ``num_inference_steps``, ``scheduler``, ``ablation``.

    Raises:
        ValueError: pose count, axes or settings out of range.
        GridTooLargeError: more than :data:`MAX_GRID_CELLS` cells.
    """
    from .pose_transfer import check_sampling_args

    if not 1 <= int(num_poses) <= MAX_GRID_POSES:
        raise ValueError(f"a grid takes 1..{MAX_GRID_POSES} target poses, got {num_poses}")
    axes = _axes(axes)
    base = {
        "seed": int(seed),
        "guidance_scale": float(guidance_scale),
        "num_inference_steps": int(num_inference_steps),
        "scheduler": scheduler or "ddim",
        "ablation": GridAxis("ablation", (ablation,)).values[0],
    }
    rows = axes[0].values if axes else (None,)
    splits = axes[1].values if len(axes) > 1 else (None,)
    total = len(rows) * num_poses * len(splits)
    if total > MAX_GRID_CELLS:
        raise GridTooLargeError(
            f"This grid has {total} images; at most {MAX_GRID_CELLS} fit in one sheet. Use fewer poses or values."
        )
    cells = []
    for r, row_value in enumerate(rows):
        for p, (s, split_value) in itertools.product(range(num_poses), enumerate(splits)):
            cell = dict(base, row=r, column=p * len(splits) + s, pose_index=p)
            if axes:
                cell[axes[0].name] = row_value
            if len(axes) > 1:
                cell[axes[1].name] = split_value
            check_sampling_args(cell["num_inference_steps"], cell["guidance_scale"], cell["seed"])
            cells.append(cell)
    return cells


def grid_gpu_seconds(cells: Sequence[dict], num_photo_targets: int) -> float:
    """GPU seconds a whole grid needs, on ZeroGPU's terms (:mod:`mcld.zerogpu`).

    ``GPU_OVERHEAD_S`` once (weights to the GPU, VAE, CLIP), half of
    ``GPU_CONDITIONS_S`` (which covers two photos: the source and one photo
    target) per photo run through DensePose (the source and each photo
    target; gallery poses and IUVs need none), and ``GPU_SECONDS_PER_STEP``
    per denoising step of every cell. For one cell and one photo target this
    is exactly :func:`mcld.zerogpu.gpu_duration` before rounding.

    Args:
        cells: :func:`plan_grid` output.
        num_photo_targets: Targets given as photos (0..6).

    Returns:
        Seconds (not rounded, not capped).
    """
    from . import zerogpu

    steps = sum(int(c["num_inference_steps"]) for c in cells)
    photos = 1 + int(num_photo_targets)
    return zerogpu.GPU_OVERHEAD_S + zerogpu.GPU_CONDITIONS_S / 2 * photos + steps * zerogpu.GPU_SECONDS_PER_STEP


def grid_gpu_duration(cells: Sequence[dict], num_photo_targets: int) -> int:
    """``spaces.GPU(duration=...)`` for a GPU function that runs a whole grid.

    Args:
        cells: :func:`plan_grid` output.
        num_photo_targets: Targets given as photos.

    Returns:
        :func:`grid_gpu_seconds` rounded up, at most :data:`mcld.zerogpu.GPU_MAX_S`.

    Raises:
        GridTooLargeError: the grid needs more than ``GPU_MAX_S`` (the
            project's per-call cap, not a documented ZeroGPU limit); the message names the most cells that fit at
            these steps, so the caller can refuse or split it.
    """
    from . import zerogpu

    seconds = grid_gpu_seconds(cells, num_photo_targets)
    if seconds > zerogpu.GPU_MAX_S:
        fixed = grid_gpu_seconds([], num_photo_targets)
        mean_steps = sum(int(c["num_inference_steps"]) for c in cells) / max(1, len(cells))
        fits = max(0, int((zerogpu.GPU_MAX_S - fixed) // (mean_steps * zerogpu.GPU_SECONDS_PER_STEP)))
        raise GridTooLargeError(
            f"This grid of {len(cells)} images needs about {math.ceil(seconds)} s of GPU, more than the "
            f"{zerogpu.GPU_MAX_S} s this Space allows one call; at {mean_steps:g} steps about {fits} images fit. "
            "Use fewer poses, values or steps, or split the grid.",
            f"{seconds:.1f} s > GPU_MAX_S",
        )
    return int(max(1, math.ceil(seconds)))


def iuv_to_crop_frame(iuv: np.ndarray) -> np.ndarray:
    """A DensePose IUV image of any size -> the ``(512, 352)`` crop frame.

    Padded with background (zeros) to the 176:256 aspect, centred, then
    resized with nearest neighbour (part indices must not be blended).

    Args:
        iuv: ``(H, W, 3)`` uint8 ``(I, U*255, V*255)`` (cv2 order of upstream's
            ``*_iuv.png``; a PIL-read file is ``(V, U, I)``: reverse it).

    Returns:
        ``(512, 352, 3)`` uint8, same channel order.

    Raises:
        ValueError: not ``(H, W, 3)`` uint8, or channel 0 is not a part index (0..24).
    """
    from .pose_transfer import CROP_SIZE

    a = np.asarray(iuv)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"an IUV target must be an (H, W, 3) uint8 array, got {a.shape} {a.dtype}")
    if a[..., 0].max() > 24:
        raise ValueError(
            "IUV channel 0 must be the DensePose part index (0..24); a PNG read with PIL is (V, U, I): reverse its channels"
        )
    width, height = CROP_SIZE
    h, w = a.shape[:2]
    if (h, w) == (height, width):
        return a.copy()
    if w * height > h * width:  # too wide: pad rows
        new_h, new_w = round(w * height / width), w
    else:
        new_h, new_w = h, round(h * width / height)
    canvas = np.zeros((new_h, new_w, 3), np.uint8)
    y0, x0 = (new_h - h) // 2, (new_w - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = a
    return np.asarray(Image.fromarray(canvas).resize((width, height), Image.Resampling.NEAREST))


def prepare_grid_targets(pose_transfer, targets: Sequence[Any], source=None, *, align: bool = False):
    """Turn each target into :class:`~mcld.pose_transfer.TargetConditions`, once.

    Args:
        pose_transfer: The :class:`~mcld.pose_transfer.PoseTransfer`.
        targets: 1..6 of: ``TargetConditions`` (used as given), a
            :class:`~mcld.pose_gallery.GalleryPose`, an ``(H, W, 3)`` uint8
            IUV array (see :func:`iuv_to_crop_frame`), or a photo (path,
            bytes, PIL; DensePose runs on it).
        source: The :class:`~mcld.pose_transfer.SourceConditions` (for ``align``).
        align: Fit photo and gallery poses to the source person's size and place.

    Returns:
        ``(conditions, labels, num_photos)``: the targets, a header label for
        each (gallery label, file name, or ``"pose k"``), how many were photos.

    Raises:
        ValueError: no target or more than :data:`MAX_GRID_POSES`.
        InputImageError, NoPersonError: from a photo target.
    """
    from .pose_gallery import GalleryPose, gallery_target
    from .pose_transfer import TargetConditions

    if not 1 <= len(targets) <= MAX_GRID_POSES:
        raise ValueError(f"a grid takes 1..{MAX_GRID_POSES} target poses, got {len(targets)}")
    align_to = source if align else None
    out, labels, photos = [], [], 0
    for k, target in enumerate(targets):
        label = f"pose {k + 1}"
        if isinstance(target, TargetConditions):
            cond = target
        elif isinstance(target, GalleryPose):
            cond, label = gallery_target(target, align_to=align_to), target.label
        elif isinstance(target, np.ndarray):
            iuv = iuv_to_crop_frame(target)
            cond = TargetConditions(photo=None, people=[], person_index=0, pose=None, iuv=iuv)
        else:
            cond = pose_transfer.prepare_target(target, align_to=align_to)
            photos += 1
            if isinstance(target, (str, Path)):
                label = Path(target).stem
        out.append(cond)
        labels.append(label)
    return out, labels, photos


@dataclass
class GridCell:
    """One generated cell.

    Attributes:
        row, column: Position in the grid (0-based).
        pose_index: Which target.
        pose_label: Its header label.
        settings: ``PoseTransfer.generate`` settings plus ``pose_index``,
            ``pose_label``, ``row``, ``column``, ``ablation``, ``output_size``.
        image: RGB PIL at the output size (``352 x 512`` or ``176 x 256``).
        box: ``(x0, y0, x1, y1)`` of the image in the sheet, pixels.
    """

    row: int
    column: int
    pose_index: int
    pose_label: str
    settings: dict
    image: Image.Image
    box: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass
class GridResult:
    """A finished grid: the sheet, its cells and where everything is.

    Attributes:
        sheet: RGB PIL sheet (white background, headers in dark grey).
        cells: Row-major :class:`GridCell` list.
        layout: JSON-ready geometry: ``sheet_size`` ``[w, h]``, ``tile_size``
            ``[w, h]``, ``row_headers`` / ``column_headers`` (``{"lines",
            "box"}``), ``axes`` (``[{"name", "values"}]``), ``cells``
            (settings + ``box``).
        notes: Warnings of the source and targets (no face, approximate IUV...).
    """

    sheet: Image.Image
    cells: list[GridCell]
    layout: dict
    notes: list[str] = field(default_factory=list)

    def save(self, out_dir: str | Path, stem: str = "grid") -> dict[str, Path]:
        """Write ``<stem>.png`` (the sheet), ``<stem>.json`` (:attr:`layout`),
        ``<stem>.csv`` (one row per cell) and ``<stem>_cells/rRR_cCC.png``
        (each cell, settings in its ``mcld_settings`` text chunk).

        Returns:
            ``{"sheet", "json", "csv", "cells"}`` paths (``cells`` the folder).
        """
        out = Path(out_dir)
        cells_dir = out / f"{stem}_cells"
        cells_dir.mkdir(parents=True, exist_ok=True)
        paths = {"sheet": out / f"{stem}.png", "json": out / f"{stem}.json", "csv": out / f"{stem}.csv", "cells": cells_dir}
        self.sheet.save(paths["sheet"])
        layout = json.loads(json.dumps(self.layout))
        for cell, entry in zip(self.cells, layout["cells"]):
            name = f"r{cell.row:02d}_c{cell.column:02d}.png"
            save_png_with_settings(cell.image, cell.settings, cells_dir / name)
            entry["file"] = f"{cells_dir.name}/{name}"
        paths["json"].write_text(json.dumps(layout, indent=1))
        columns = sorted({k for entry in layout["cells"] for k in entry if k != "box"})
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns + ["x0", "y0", "x1", "y1"])
        writer.writeheader()
        for entry in layout["cells"]:
            flat = {k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in entry.items() if k != "box"}
            writer.writerow({**flat, **dict(zip(("x0", "y0", "x1", "y1"), entry["box"]))})
        paths["csv"].write_text(buf.getvalue())
        return paths


def save_png_with_settings(image: Image.Image, settings: dict, path: str | Path) -> Path:
    """Save a PNG whose ``mcld_settings`` text chunk holds ``settings`` as JSON
    (the Space's result format; read back with ``json.loads(Image.open(p).text["mcld_settings"])``)."""
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    meta.add_text("mcld_settings", json.dumps(settings))
    path = Path(path)
    image.save(path, pnginfo=meta)
    return path


def _draw_sheet(cells: list[GridCell], axes: tuple[GridAxis, ...], pose_labels: list[str], tile: tuple[int, int]):
    """Lay the cells out with headers; fills each ``cell.box``; returns ``(sheet, layout)``."""
    from .contact_sheet import wrap_text

    tile_w, tile_h = tile
    font = ImageFont.load_default(size=_FONT_SIZE)
    line_h = _FONT_SIZE + _LINE_GAP
    rows = axes[0].values if axes else (None,)
    splits = axes[1].values if len(axes) > 1 else (None,)
    n_cols = len(pose_labels) * len(splits)
    row_texts = [[axes[0].label(v)] if axes else [] for v in rows]
    col_texts = []
    for label, (_, split) in itertools.product(pose_labels, enumerate(splits)):
        lines = wrap_text(label, font, tile_w, 1)
        if split is not None:
            lines += wrap_text(axes[1].label(split), font, tile_w, 1)
        col_texts.append(lines)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    row_header_w = max([probe.textlength(t[0], font=font) for t in row_texts if t] or [0])
    row_header_w = int(math.ceil(row_header_w)) + _PAD if row_header_w else 0
    col_header_h = line_h * max(len(t) for t in col_texts) + _PAD
    x_origin, y_origin = _PAD + row_header_w, _PAD + col_header_h
    width = x_origin + n_cols * (tile_w + _PAD)
    height = y_origin + len(rows) * (tile_h + _PAD)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    column_headers, row_headers = [], []
    for c, lines in enumerate(col_texts):
        x0 = x_origin + c * (tile_w + _PAD)
        for n, line in enumerate(lines):
            draw.text((x0, _PAD + n * line_h), line, fill=(40, 40, 40), font=font)
        column_headers.append({"lines": lines, "box": [x0, _PAD, x0 + tile_w, _PAD + line_h * len(lines)]})
    for r, lines in enumerate(row_texts):
        y0 = y_origin + r * (tile_h + _PAD)
        for n, line in enumerate(lines):
            draw.text((_PAD, y0 + n * line_h), line, fill=(40, 40, 40), font=font)
        row_headers.append({"lines": lines, "box": [_PAD, y0, _PAD + max(0, row_header_w - _PAD), y0 + line_h * len(lines)]})
    for cell in cells:
        x0, y0 = x_origin + cell.column * (tile_w + _PAD), y_origin + cell.row * (tile_h + _PAD)
        sheet.paste(cell.image, (x0, y0))
        cell.box = (x0, y0, x0 + tile_w, y0 + tile_h)
    layout = {
        "sheet_size": [width, height],
        "tile_size": [tile_w, tile_h],
        "axes": [{"name": a.name, "values": list(a.values)} for a in axes],
        "pose_labels": list(pose_labels),
        "row_headers": row_headers,
        "column_headers": column_headers,
        "cells": [{**cell.settings, "box": list(cell.box)} for cell in cells],
    }
    return sheet, layout


def run_grid(
    pose_transfer,
    source,
    targets: Sequence[Any],
    axes: Sequence[GridAxis] | None = None,
    *,
    num_inference_steps: int = defaults.NUM_INFERENCE_STEPS,
    guidance_scale: float = defaults.GUIDANCE_SCALE,
    seed: int = defaults.API_SEED,
    scheduler: str | None = None,
    ablation: str = "none",
    size: str = defaults.OUTPUT_SIZE,
    align: bool = False,
    pose_labels: Sequence[str] | None = None,
    check_gpu_budget: bool = False,
    callback: Callable[[int, int], None] | None = None,
) -> GridResult:
    """Generate a comparison grid and its sheet.

    Args:
        pose_transfer: A :class:`~mcld.pose_transfer.PoseTransfer`.
        source: :class:`~mcld.pose_transfer.SourceConditions` or a photo
            (prepared once here).
        targets: 1..6 targets (see :func:`prepare_grid_targets`), each
            prepared once.
        axes: 0..2 :class:`GridAxis` (rows; column split).
        num_inference_steps, guidance_scale, seed, scheduler, ablation:
            Settings of every cell except the axes' own (as in
            :meth:`~mcld.pose_transfer.PoseTransfer.generate`).
        size: ``"512x352"`` or ``"256x176"``: the output each cell shows.
        align: Fit photo / gallery poses to the source person.
        pose_labels: Column header per target (default from the targets).
        check_gpu_budget: Check :func:`grid_gpu_duration` before generating
            anything (a ZeroGPU caller should have checked it already).
        callback: ``callback(done, total)`` after each cell (``gr.Progress``, tqdm).

    Returns:
        :class:`GridResult`.

    Raises:
        ValueError: bad axes, settings, size or target count.
        GridTooLargeError: too many cells, or over the GPU budget with ``check_gpu_budget``.
        InputImageError, NoPersonError, NaNOutputError, OutOfMemoryError: from
            :class:`~mcld.pose_transfer.PoseTransfer`.
    """
    from .pose_transfer import SourceConditions

    if size not in GRID_OUTPUT_SIZES:
        raise ValueError(f"size must be one of {tuple(GRID_OUTPUT_SIZES)}, got {size!r}")
    axes = _axes(axes)
    plan = plan_grid(
        len(targets), axes, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
        seed=seed, scheduler=scheduler, ablation=ablation,
    )
    if pose_labels is not None and len(pose_labels) != len(targets):
        raise ValueError(f"got {len(pose_labels)} pose labels for {len(targets)} targets")
    n_photos = sum(1 for t in targets if isinstance(t, (str, Path, bytes, Image.Image)))
    if check_gpu_budget:
        grid_gpu_duration(plan, n_photos)
    if not isinstance(source, SourceConditions):
        source = pose_transfer.prepare_source(source)
    conditions, labels, _ = prepare_grid_targets(pose_transfer, targets, source, align=align)
    labels = list(pose_labels) if pose_labels is not None else labels
    notes = list(dict.fromkeys(source.warnings + [w for t in conditions for w in t.warnings]))
    height, width = GRID_OUTPUT_SIZES[size]
    cells = []
    for done, spec in enumerate(plan, start=1):
        abl = spec["ablation"]
        result = pose_transfer.generate(
            source, conditions[spec["pose_index"]],
            num_inference_steps=spec["num_inference_steps"], guidance_scale=spec["guidance_scale"],
            seed=spec["seed"], scheduler=spec["scheduler"],
            ablations=(abl,) if abl not in ("none", "parsing_attention") else (),
            parsing_attention=abl == "parsing_attention",
        )
        image = result.image_512x352 if size == "512x352" else result.image_256x176
        settings = {
            **result.settings,
            "ablation": abl,
            "pose_index": spec["pose_index"],
            "pose_label": labels[spec["pose_index"]],
            "row": spec["row"],
            "column": spec["column"],
            "output_size": size,
        }
        cells.append(GridCell(spec["row"], spec["column"], spec["pose_index"], labels[spec["pose_index"]], settings, image))
        if callback is not None:
            callback(done, len(plan))
    sheet, layout = _draw_sheet(cells, axes, labels, (width, height))
    return GridResult(sheet=sheet, cells=cells, layout=layout, notes=notes)

"""Comparison grid (:mod:`mcld.grid`) on tiny random weights: 2 poses x 2 seeds
x 2 ablations, sheet geometry and headers, cells equal to single calls, the
shared condition preparation, progress, ZeroGPU budget and the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from mcld import cli, zerogpu
from mcld.grid import (
    GridAxis,
    GridTooLargeError,
    grid_gpu_duration,
    grid_gpu_seconds,
    iuv_to_crop_frame,
    parse_axis,
    plan_grid,
    prepare_grid_targets,
    run_grid,
)
from mcld.pose_transfer import PoseTransfer

SIZE = 64  # tiny model resolution (fast); outputs are still 256x176 / 512x352
STEPS = 1
AXES = (GridAxis("seed", (0, 5)), GridAxis("ablation", ("none", "face_tokens")))


@pytest.fixture(scope="module")
def pt():
    return PoseTransfer.tiny(seed=0, model_size=SIZE)


@pytest.fixture(scope="module")
def real_iuv(shared_dir):
    path = sorted((shared_dir / "poses").glob("*_iuv.png"))[0]
    return np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB"))[..., ::-1])  # PIL (V,U,I) -> (I,U,V)


@pytest.fixture(scope="module")
def grid(pt, images_dir, real_iuv):
    source = pt.prepare_source(images_dir / "reference_img_0.png")
    calls = {"compute_iuv": 0}
    original = pt.compute_iuv

    def counting(*args, **kwargs):  # a spy: counts, then runs the real method
        calls["compute_iuv"] += 1
        return original(*args, **kwargs)

    pt.compute_iuv = counting
    progress = []
    try:
        result = run_grid(
            pt, source, [real_iuv, images_dir / "reference_img_1.png"], AXES, num_inference_steps=STEPS,
            guidance_scale=3.5, size="256x176", callback=lambda done, total: progress.append((done, total)),
        )
    finally:
        del pt.compute_iuv
    return source, result, calls, progress


def test_grid_plan_and_progress_count_cells(grid):
    _, result, calls, progress = grid
    assert len(result.cells) == 2 * 2 * 2
    assert progress == [(k, 8) for k in range(1, 9)]
    assert calls["compute_iuv"] == 1  # only the photo target runs DensePose, once for its 4 cells
    seeds = {(c.row, c.settings["seed"]) for c in result.cells}
    assert seeds == {(0, 0), (1, 5)}
    assert {(c.column, c.pose_index, c.settings["ablation"]) for c in result.cells} == {
        (0, 0, "none"), (1, 0, "face_tokens"), (2, 1, "none"), (3, 1, "face_tokens")
    }


def test_sheet_geometry_and_headers(grid):
    _, result, _, _ = grid
    layout, sheet = result.layout, result.sheet
    tile_w, tile_h = layout["tile_size"]
    assert (tile_w, tile_h) == (176, 256)
    assert list(sheet.size) == layout["sheet_size"]
    # Column headers: pose label then the second axis' value; row headers: the first axis.
    assert [h["lines"] for h in layout["column_headers"]] == [
        ["pose 1", "full MCLD"], ["pose 1", "no face tokens"], ["reference_img_1", "full MCLD"],
        ["reference_img_1", "no face tokens"],
    ]
    assert [h["lines"] for h in layout["row_headers"]] == [["seed 0"], ["seed 5"]]
    pixels = np.asarray(sheet)
    for header in layout["column_headers"] + layout["row_headers"]:
        x0, y0, x1, y1 = header["box"]
        region = pixels[y0:y1, x0:x1]
        assert region.size and (region < 128).any(), header  # text was drawn
    # Cells: a regular lattice right of / below the headers, pasted unscaled.
    boxes = {(c.row, c.column): c.box for c in result.cells}
    x_first, y_first = boxes[(0, 0)][:2]
    assert x_first > max(h["box"][2] for h in layout["row_headers"])
    assert y_first > max(h["box"][3] for h in layout["column_headers"])
    for (r, c), (x0, y0, x1, y1) in boxes.items():
        assert (x1 - x0, y1 - y0) == (tile_w, tile_h)
        assert x0 - x_first == c * (tile_w + 8) and y0 - y_first == r * (tile_h + 8)
    assert sheet.size == (x_first + 4 * (tile_w + 8), y_first + 2 * (tile_h + 8))
    for cell in result.cells:
        assert np.array_equal(np.asarray(sheet.crop(cell.box)), np.asarray(cell.image))


def test_each_cell_equals_the_single_image_call(pt, grid, images_dir, real_iuv):
    source, result, _, _ = grid
    targets, _, _ = prepare_grid_targets(pt, [real_iuv, images_dir / "reference_img_1.png"], source)
    for cell in result.cells:
        abl = cell.settings["ablation"]
        single = pt.generate(
            source, targets[cell.pose_index], num_inference_steps=STEPS, guidance_scale=3.5,
            seed=cell.settings["seed"], ablations=() if abl == "none" else (abl,),
        )
        assert np.array_equal(np.asarray(single.image_256x176), np.asarray(cell.image)), cell.settings
    # The ablation changes the image; the seed changes it.
    by = {(c.row, c.column): np.asarray(c.image) for c in result.cells}
    assert not np.array_equal(by[(0, 0)], by[(0, 1)]) and not np.array_equal(by[(0, 0)], by[(1, 0)])


def test_save_writes_sheet_json_csv_and_cells_with_settings(grid, tmp_path):
    _, result, _, _ = grid
    paths = result.save(tmp_path)
    assert Image.open(paths["sheet"]).size == result.sheet.size
    layout = json.loads(paths["json"].read_text())
    rows = list(csv.DictReader(paths["csv"].open()))
    assert len(layout["cells"]) == len(rows) == 8
    for entry, row, cell in zip(layout["cells"], rows, result.cells):
        png = Image.open(tmp_path / entry["file"])
        assert json.loads(png.text["mcld_settings"]) == cell.settings
        assert np.array_equal(np.asarray(png.convert("RGB")), np.asarray(cell.image))
        assert [int(row[k]) for k in ("x0", "y0", "x1", "y1")] == entry["box"] == list(cell.box)
        assert int(row["seed"]) == cell.settings["seed"] and row["ablation"] == cell.settings["ablation"]


def test_axes_are_validated():
    assert parse_axis("guidance=2,3.5").values == (2.0, 3.5)
    assert parse_axis("steps=10,20").name == "num_inference_steps"
    with pytest.raises(ValueError, match="unknown grid axis"):
        parse_axis("colour=1,2")
    with pytest.raises(ValueError, match="unknown ablation"):
        GridAxis("ablation", ("none", "no_faces"))
    with pytest.raises(ValueError, match="distinct"):
        GridAxis("seed", (1, 1))
    with pytest.raises(ValueError, match="1..6 target poses"):
        plan_grid(7)
    with pytest.raises(ValueError, match="must differ"):
        plan_grid(1, [GridAxis("seed", (1,)), GridAxis("seed", (2,))])


def test_gpu_budget_covers_the_grid_and_refuses_what_does_not_fit():
    one = plan_grid(1, num_inference_steps=20)
    assert grid_gpu_duration(one, num_photo_targets=1) == zerogpu.gpu_duration(20, 1)
    plan = plan_grid(2, AXES, num_inference_steps=20)
    expected = zerogpu.GPU_OVERHEAD_S + zerogpu.GPU_CONDITIONS_S / 2 * 3 + 8 * 20 * zerogpu.GPU_SECONDS_PER_STEP
    assert grid_gpu_seconds(plan, 2) == pytest.approx(expected)
    big = plan_grid(6, [GridAxis("seed", tuple(range(6)))], num_inference_steps=20)
    assert grid_gpu_seconds(big, 6) > zerogpu.GPU_MAX_S
    with pytest.raises(GridTooLargeError, match="about \\d+ images fit") as err:
        grid_gpu_duration(big, 6)
    assert f"{zerogpu.GPU_MAX_S} s" in err.value.user_message
    with pytest.raises(GridTooLargeError, match="at most 48"):
        plan_grid(6, [GridAxis("seed", tuple(range(3))), GridAxis("guidance_scale", (1.0, 2.0, 3.0))])


def test_iuv_to_crop_frame_pads_to_the_crop_aspect(real_iuv):
    out = iuv_to_crop_frame(real_iuv)
    assert out.shape == (512, 352, 3) and out.dtype == np.uint8
    assert set(np.unique(out[..., 0])) <= set(np.unique(real_iuv[..., 0]))  # nearest: no blended part ids
    assert (out[:, :2] == 0).all() and (out[:, -2:] == 0).all()  # 348 -> 352: background columns
    with pytest.raises(ValueError, match="reverse its channels"):
        iuv_to_crop_frame(np.ascontiguousarray(real_iuv[..., ::-1]))


def test_cli_grid(tmp_path, images_dir, shared_dir):
    iuv = sorted((shared_dir / "poses").glob("*_iuv.png"))[0]
    rc = cli.main([
        "grid", "--tiny", "--tiny-model-size", "64", "--steps", "1", "--size", "256x176",
        "--source", str(images_dir / "reference_img_0.png"), "--pose", f"iuv:{iuv}", "--pose", "gallery:t_pose",
        "--out-dir", str(tmp_path),
    ])  # fmt: skip
    assert rc == 0
    layout = json.loads((tmp_path / "grid.json").read_text())
    assert [h["lines"] for h in layout["column_headers"]] == [[iuv.stem], ["t_pose"]]
    assert layout["row_headers"] == [{"lines": [], "box": layout["row_headers"][0]["box"]}]
    assert len(list((tmp_path / "grid_cells").glob("*.png"))) == 2
    assert Image.open(tmp_path / "grid.png").size == tuple(layout["sheet_size"])
    # Usage errors are found before any model loads.
    assert cli.main(["grid", "--tiny", "--source", "x.png", "--pose", "gallery:nope", "--out-dir", str(tmp_path)]) == 2
    assert cli.main(["grid", "--tiny", "--source", "x.png", "--pose", "y.png", "--axis", "seed=1,1",
                     "--out-dir", str(tmp_path)]) == 2  # fmt: skip

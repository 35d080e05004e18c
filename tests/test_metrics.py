"""``python -m mcld evaluate`` / :mod:`mcld.metrics` on folders of known
images: SSIM, SSIM_256 and PSNR equal an independent computation on the same
arrays (scikit-image called directly, and PSNR from its formula)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mcld import cli
from mcld.metrics import EvaluationError, evaluate_folders

H, W = 256, 176


@pytest.fixture()
def folders(tmp_path):
    """pred/256 and gt/256 with 3 pairs: a noisy copy, a shifted copy, a blurred-like copy."""
    rng = np.random.default_rng(0)
    gt_dir, pred_dir = tmp_path / "gt" / "256", tmp_path / "pred" / "256"
    gt_dir.mkdir(parents=True)
    pred_dir.mkdir(parents=True)
    arrays = {}
    yy, xx = np.mgrid[0:H, 0:W]
    for k in range(3):
        base = np.stack([(xx * (k + 1)) % 256, (yy * 2 + k * 40) % 256, ((xx + yy) * 3) % 256], -1).astype(np.uint8)
        noisy = np.clip(base.astype(int) + rng.integers(-30, 31, base.shape), 0, 255).astype(np.uint8)
        name = f"a_{k}_2_b_{k}"
        Image.fromarray(base).save(gt_dir / f"{name}.png")
        Image.fromarray(noisy).save(pred_dir / f"{name}.png")
        arrays[name] = (base, noisy)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(pred_dir / "only_in_pred.png")  # unpaired: ignored
    return tmp_path, arrays


def _independent(arrays):
    ssim, ssim256, psnr, psnr_formula = [], [], [], []
    for gt, pred in arrays.values():
        g = gt.transpose(2, 0, 1).astype(np.float32) / 255
        p = pred.transpose(2, 0, 1).astype(np.float32) / 255
        ssim.append(structural_similarity(g, p, data_range=1, win_size=51, channel_axis=0))
        ssim256.append(structural_similarity(
            g * 255, p * 255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=0,
            data_range=(p * 255).max() - (p * 255).min()))  # fmt: skip
        psnr.append(peak_signal_noise_ratio(g, p, data_range=1))
        mse = np.mean((gt.astype(np.float64) - pred.astype(np.float64)) ** 2) / 255**2
        psnr_formula.append(10 * np.log10(1 / mse))
    return np.mean(ssim), np.mean(ssim256), np.mean(psnr), np.mean(psnr_formula)


def test_ssim_psnr_equal_an_independent_computation(folders):
    root, arrays = folders
    result = evaluate_folders(root / "pred", root / "gt", "256x176", lpips=False, fid=False)
    ssim, ssim256, psnr, psnr_formula = _independent(arrays)
    assert result.num_images == 3 and sorted(result.per_image) == sorted(arrays)
    assert abs(result.metrics["SSIM"] - ssim) < 1e-6
    assert abs(result.metrics["SSIM_256"] - ssim256) < 1e-6
    assert abs(result.metrics["PSNR"] - psnr) < 1e-6
    assert abs(result.metrics["PSNR"] - psnr_formula) < 1e-4  # float32 vs float64 MSE
    assert 0 < result.metrics["SSIM"] < 1 and 10 < result.metrics["PSNR"] < 40


def test_cli_table_json_and_missing_lpips_fid_named(folders, capsys):
    root, arrays = folders
    out = root / "m.json"
    assert cli.main(["evaluate", "--pred", str(root / "pred"), "--gt", str(root / "gt"), "--size", "256x176",
                     "--json", str(out)]) == 0  # fmt: skip
    table = capsys.readouterr().out
    data = json.loads(out.read_text())
    ssim, _, psnr, _ = _independent(arrays)
    assert abs(data["metrics"]["SSIM"] - ssim) < 1e-6 and abs(data["metrics"]["PSNR"] - psnr) < 1e-6
    assert f"{data['metrics']['SSIM']:.6f}" in table and "3 image pairs" in table
    try:
        import lpips  # noqa: F401
    except ImportError:
        assert "pip install lpips torchvision" in data["skipped"]["LPIPS"] and "LPIPS skipped" in table
    try:
        import pytorch_fid  # noqa: F401
    except ImportError:
        assert "pip install pytorch-fid torchvision" in data["skipped"]["FID"] and "pt_inception" in table


def test_bad_folders_are_clear_errors(folders, tmp_path):
    root, _ = folders
    with pytest.raises(EvaluationError, match="does not exist"):
        evaluate_folders(root / "nope", root / "gt")
    with pytest.raises(EvaluationError, match="expects 512x352"):
        evaluate_folders(root / "pred" / "256", root / "gt" / "256", "512x352", lpips=False, fid=False)
    other = tmp_path / "small"
    other.mkdir()
    Image.fromarray(np.zeros((128, 88, 3), np.uint8)).save(other / "a_0_2_b_0.png")
    with pytest.raises(EvaluationError, match="generated image is 128x88"):
        evaluate_folders(other, root / "gt" / "256", lpips=False, fid=False)

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from tasks.csmri.metrics import aggregate, mse, nmse, psnr, ssim


def test_metrics_against_hand_computation():
    gt = np.zeros((1, 2, 2))
    gt[0] = [[1.0, 2.0], [3.0, 4.0]]
    pred = gt + np.array([[[0.5, 0.0], [0.0, -0.5]]])
    assert mse(gt, pred) == pytest.approx(0.125)  # (0.25 + 0.25) / 4
    assert nmse(gt, pred) == pytest.approx(0.5 / 30.0)  # ||e||^2 / ||gt||^2 = 0.5 / 30
    assert psnr(gt, pred) == pytest.approx(10 * math.log10(16 / 0.125))  # max 4
    assert psnr(gt, gt) == float("inf")


def test_metrics_against_skimage():
    rng = np.random.default_rng(0)
    gt = rng.random((3, 40, 40)).astype(np.float32)
    pred = gt + 0.05 * rng.standard_normal(gt.shape).astype(np.float32)
    assert psnr(gt, pred) == pytest.approx(peak_signal_noise_ratio(gt, pred, data_range=gt.max()), rel=1e-5)
    ref = np.mean([structural_similarity(gt[i], pred[i], data_range=gt.max()) for i in range(3)])
    assert ssim(gt, pred) == pytest.approx(ref, rel=1e-5)
    assert ssim(gt, gt) == pytest.approx(1.0)


def test_metrics_shape_checks():
    with pytest.raises(ValueError, match="shape mismatch"):
        mse(np.zeros((1, 2, 2)), np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="slices"):
        ssim(np.zeros((4, 4)), np.zeros((4, 4)))


def test_aggregate_mean_and_std_over_volumes():
    rows = [dict(mse=1.0, nmse=0.1, psnr=30.0, ssim=0.8), dict(mse=3.0, nmse=0.3, psnr=20.0, ssim=0.6)]
    agg = aggregate(rows)
    assert agg["n_volumes"] == 2
    assert agg["psnr"] == {"mean": 25.0, "std": 5.0}
    assert agg["mse"]["mean"] == 2.0

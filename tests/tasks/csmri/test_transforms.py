import numpy as np
import pytest
import torch

from tasks.csmri.transforms import (
    DataConsistency,
    center_crop,
    chan_to_complex,
    complex_to_chan,
    data_consistency,
    fft2c,
    ifft2c,
)


def _rand_complex(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))


def test_fft_round_trip_and_parseval():
    x = _rand_complex(3, 33, 20)
    k = fft2c(x)
    assert torch.allclose(ifft2c(k), x, atol=1e-5)
    assert torch.allclose(fft2c(ifft2c(x)), x, atol=1e-5)
    # orthonormal: energy is preserved
    assert torch.allclose((k.abs() ** 2).sum(), (x.abs() ** 2).sum(), rtol=1e-5)


def test_fft_matches_numpy_centred_definition():
    x = _rand_complex(16, 10, seed=1)
    ref = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x.numpy()), norm="ortho"))
    assert np.allclose(fft2c(x).numpy(), ref, atol=1e-5)


def test_fft_of_centred_delta_is_flat():
    x = torch.zeros(8, 8, dtype=torch.complex64)
    x[4, 4] = 1
    assert torch.allclose(fft2c(x).abs(), torch.full((8, 8), 1 / 8.0), atol=1e-6)


def test_fft_rejects_real_input():
    with pytest.raises(ValueError, match="complex"):
        fft2c(torch.zeros(4, 4))


def test_center_crop():
    x = torch.arange(6 * 7).reshape(6, 7)
    c = center_crop(x, (2, 3))
    assert c.tolist() == [[16, 17, 18], [23, 24, 25]]
    with pytest.raises(ValueError, match="larger than the image"):
        center_crop(x, (8, 3))


def test_complex_channels_round_trip():
    x = _rand_complex(2, 5, 6)
    c = complex_to_chan(x)
    assert c.shape == (2, 2, 5, 6)
    assert torch.equal(c[:, 0], x.real) and torch.equal(c[:, 1], x.imag)
    assert torch.equal(chan_to_complex(c), x)
    with pytest.raises(ValueError):
        chan_to_complex(torch.zeros(1, 3, 4, 4))


def test_dc_infinite_lambda_is_exact_on_sampled_lines():
    k_net = _rand_complex(2, 12, 10, seed=2)
    s = _rand_complex(2, 12, 10, seed=3)
    mask = torch.zeros(2, 1, 10)
    mask[:, :, [0, 3, 4, 9]] = 1
    s = s * mask
    out = data_consistency(k_net, s, mask)
    sampled = mask.expand_as(out) > 0
    assert torch.equal(out[sampled], s[sampled])
    assert torch.equal(out[~sampled], k_net[~sampled])


def test_dc_finite_lambda_is_weighted_mean():
    k_net = _rand_complex(1, 6, 6, seed=4)
    s = _rand_complex(1, 6, 6, seed=5)
    mask = torch.zeros(1, 1, 6)
    mask[..., 2] = 1
    out = data_consistency(k_net, s, mask, lam=3.0)
    assert torch.allclose(out[..., 2], (k_net[..., 2] + 3 * s[..., 2]) / 4)
    assert torch.allclose(out[..., 0], k_net[..., 0])


def test_dc_layer_on_channels_and_learned_lambda():
    img = complex_to_chan(_rand_complex(2, 8, 8, seed=6))
    target = _rand_complex(2, 8, 8, seed=7)
    mask = torch.zeros(2, 1, 1, 8)
    mask[..., ::2] = 1
    k_meas = complex_to_chan(fft2c(target) * mask[:, 0])
    out = DataConsistency()(img, k_meas, mask)
    k_out = fft2c(chan_to_complex(out))
    assert torch.allclose(k_out[..., ::2], fft2c(target)[..., ::2], atol=1e-5)
    assert torch.allclose(k_out[..., 1::2], fft2c(chan_to_complex(img))[..., 1::2], atol=1e-5)
    layer = DataConsistency(lam=2.0, learn_lam=True)
    assert isinstance(layer.lam, torch.nn.Parameter)
    layer(img, k_meas, mask).sum().backward()
    assert layer.lam.grad is not None
    with pytest.raises(ValueError):
        DataConsistency(lam=-1.0)

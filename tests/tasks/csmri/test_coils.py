"""Multi-coil physics: the SENSE operator's adjoint, CG on the normal equations, birdcage
sensitivities, correlated receiver noise and fastMRI's root-sum-of-squares target."""

import numpy as np
import torch

from tasks.csmri.coils import (
    birdcage_maps,
    conjugate_gradient,
    correlated_noise,
    noise_covariance,
    rss,
    rss_target,
    sense_adjoint,
    sense_cg_dc,
    sense_forward,
)
from tasks.csmri.transforms import center_crop, fft2c, ifft2c


def crandn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g, dtype=torch.float64),
                         torch.randn(*shape, generator=g, dtype=torch.float64))


def random_mask(w, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = (torch.rand(w, generator=g) < 0.4).double()
    m[w // 2 - 2: w // 2 + 2] = 1
    return m.view(1, 1, w)


def test_sense_adjoint_is_the_adjoint_dot_product_test():
    """<A x, y> = <x, A^H y> for random images, coil k-spaces, sensitivities (not normalised) and a mask."""
    for h, w, c in ((12, 10, 4), (9, 15, 3)):
        x, y, sens = crandn(2, h, w, seed=1), crandn(2, c, h, w, seed=2), crandn(2, c, h, w, seed=3)
        mask = random_mask(w)
        lhs = (sense_forward(x, sens, mask).conj() * y).sum()
        rhs = (x.conj() * sense_adjoint(y, sens, mask)).sum()
        assert abs(lhs - rhs) / abs(lhs) < 1e-12
        assert abs(lhs) > 1.0  # a real number, not two zeros


def test_birdcage_maps_are_normalised_and_each_coil_sees_its_side():
    s = birdcage_maps(8, 40, 48)
    assert s.shape == (8, 40, 48) and s.dtype == np.complex64
    np.testing.assert_allclose((np.abs(s) ** 2).sum(0), 1.0, rtol=1e-5)
    # coil 0 sits at +x (angle 0), coil 2 at +y: each is strongest on its own side of the image
    assert np.abs(s[0][:, -1]).mean() > 3 * np.abs(s[0][:, 0]).mean()
    assert np.abs(s[2][-1, :]).mean() > 3 * np.abs(s[2][0, :]).mean()
    # with normalised maps and nothing masked, A^H A is the identity (a SENSE sanity check)
    x = crandn(40, 48, seed=4)
    sens = torch.from_numpy(s).to(torch.complex128)
    np.testing.assert_allclose(sense_adjoint(sense_forward(x, sens), sens).numpy(), x.numpy(), atol=1e-5)


def test_correlated_noise_has_the_covariance_asked_for():
    rng = np.random.RandomState(0)
    cov = noise_covariance(6, rng)
    np.testing.assert_allclose(cov, cov.conj().T, atol=1e-12)
    assert np.linalg.eigvalsh(cov).min() > 0 and abs(np.trace(cov).real - 6) < 1e-9
    off = np.abs(cov - np.diag(np.diag(cov))).max()
    assert off > 0.05  # coils are coupled
    n = correlated_noise((6, 64, 64), cov, rng).reshape(6, -1)
    est = n @ n.conj().T / n.shape[1]
    assert np.abs(est - cov).max() < 0.05


def test_conjugate_gradient_solves_the_sense_normal_equations():
    """MoDL's DC: (A^H A + lam I) x = A^H y + lam z, checked against a dense solve."""
    h, w, c, lam = 8, 6, 3, 0.05
    sens, z = crandn(c, h, w, seed=5) / 2, crandn(h, w, seed=6)
    mask = random_mask(w, seed=1)
    y = sense_forward(crandn(h, w, seed=7), sens, mask)
    x = sense_cg_dc(z, y, sens, mask, lam, iters=200, tol=1e-12)
    basis = torch.eye(h * w, dtype=torch.complex128).reshape(h * w, h, w)
    normal = torch.stack([(sense_adjoint(sense_forward(b, sens, mask), sens) + lam * b).reshape(-1) for b in basis], 1)
    rhs = (sense_adjoint(y, sens, mask) + lam * z).reshape(-1)
    direct = torch.linalg.solve(normal, rhs).reshape(h, w)
    assert (x - direct).abs().max() / direct.abs().max() < 1e-8
    # batched: two problems at once (the second's right-hand side doubled), each solved as if alone
    few = conjugate_gradient(lambda v: sense_adjoint(sense_forward(v, sens, mask), sens) + lam * v,
                             torch.stack([rhs.reshape(h, w), 2 * rhs.reshape(h, w)]), torch.zeros(2, h, w, dtype=torch.complex128),
                             iters=300, tol=1e-12)
    np.testing.assert_allclose(few[1].numpy(), 2 * few[0].numpy(), rtol=1e-8, atol=1e-10)
    assert (few[0] - direct).abs().max() / direct.abs().max() < 1e-8


def test_conjugate_gradient_is_differentiable():
    h, w, c = 6, 6, 2
    sens = crandn(c, h, w, seed=8)
    mask = random_mask(w, seed=2)
    y = sense_forward(crandn(h, w, seed=9), sens, mask)
    lam = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    z = crandn(h, w, seed=10).requires_grad_(True)
    out = sense_cg_dc(z, y, sens, mask, lam, iters=5).abs().sum()
    out.backward()
    assert torch.isfinite(lam.grad) and lam.grad != 0 and z.grad.abs().sum() > 0


def test_rss_target_is_fastmri_definition():
    k = crandn(4, 20, 16, seed=11)
    got = rss_target(k, (10, 8))
    coil_images = center_crop(ifft2c(k), (10, 8))
    hand = np.sqrt(sum(np.abs(coil_images[i].numpy()) ** 2 for i in range(4)))
    np.testing.assert_allclose(got.numpy(), hand, rtol=1e-12)
    # one coil: the RSS is the magnitude (fastMRI's single-coil reconstruction_esc)
    np.testing.assert_allclose(rss(ifft2c(k[:1])).numpy(), ifft2c(k[0]).abs().numpy(), rtol=1e-12)
    assert torch.allclose(fft2c(ifft2c(k)), k)

import numpy as np
import pytest

from tasks.csmri.subsample import EquispacedMaskFunc, RandomMaskFunc, create_mask_func, seed_from_name


@pytest.mark.parametrize("cols,cf,acc", [(320, 0.08, 4), (320, 0.04, 8), (368, 0.08, 4), (96, 0.04, 8)])
def test_exact_centre_line_count(cols, cf, acc):
    mf = RandomMaskFunc([cf], [acc], seed=0)
    mask, num_low, got_acc = mf(cols, seed=3)
    assert num_low == round(cols * cf)
    pad = (cols - num_low + 1) // 2
    assert mask[pad : pad + num_low].sum() == num_low
    assert got_acc == acc
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_random_mask_mean_acceleration_close_to_nominal():
    for acc, cf in ((4, 0.08), (8, 0.04)):
        mf = RandomMaskFunc([cf], [acc])
        lines = [mf(320, seed=s)[0].sum() for s in range(2000)]
        assert abs(320 / np.mean(lines) - acc) / acc < 0.02


def test_random_mask_probability_formula():
    # Outside the centre each line is kept with p = (cols/acc - low)/(cols - low).
    mf = RandomMaskFunc([0.08], [4])
    cols, low = 320, round(320 * 0.08)
    masks = np.stack([mf(cols, seed=s)[0] for s in range(3000)])
    pad = (cols - low + 1) // 2
    outside = np.concatenate([masks[:, :pad], masks[:, pad + low :]], axis=1)
    p = (cols / 4 - low) / (cols - low)
    assert abs(outside.mean() - p) < 0.005


def test_same_file_name_same_mask_and_state_untouched():
    mf = create_mask_func("random", [4, 8])
    seed = seed_from_name("file1000001.h5")
    a, _, acc_a = mf(320, seed=seed)
    state = mf.rng.get_state()[1].copy()
    b, _, acc_b = mf(320, seed=seed)
    assert np.array_equal(a, b) and acc_a == acc_b
    assert np.array_equal(mf.rng.get_state()[1], state)  # seeded call restores the stream
    c, _, _ = mf(320, seed=seed_from_name("file1000002.h5"))
    assert not np.array_equal(a, c)


def test_mixed_accelerations_are_drawn_equally():
    mf = create_mask_func("random", [4, 8])
    accs = [mf(320, seed=s)[2] for s in range(1000)]
    frac4 = np.mean(np.array(accs) == 4)
    assert 0.45 < frac4 < 0.55
    # and each acceleration comes with the paper's centre fraction
    for s in range(50):
        mask, low, acc = mf(320, seed=s)
        assert low == (26 if acc == 4 else 13)


def test_equispaced_mask():
    mf = EquispacedMaskFunc([0.08], [4])
    mask, low, _ = mf(320, offset=1)
    assert mask[1::4].sum() == 80
    pad = (320 - low + 1) // 2
    expected = np.zeros(320)
    expected[1::4] = 1
    expected[pad : pad + low] = 1
    assert np.array_equal(mask, expected)


@pytest.mark.parametrize(
    "cf,acc,msg",
    [([0.08], [0.5], "acceleration must be >= 1"), ([0.0], [4], r"\(0, 1\)"), ([1.2], [4], r"\(0, 1\)"),
     ([0.5], [4], "impossible mask")],
)
def test_bad_mask_parameters(cf, acc, msg):
    with pytest.raises(ValueError, match=msg):
        RandomMaskFunc(cf, acc)


def test_unknown_mask_type():
    with pytest.raises(ValueError, match="unknown mask type"):
        create_mask_func("spiral", [4])

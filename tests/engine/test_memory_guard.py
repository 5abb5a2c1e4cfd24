"""The memory guard before a real run: saved-activation bytes by hand, scaling with the image, and
the one-line refusal of a run that cannot fit."""

import pytest
import torch
from torch import nn

from nas_engine.forecast import guard_memory, saved_bytes


def test_saved_bytes_count_what_autograd_keeps_by_hand():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 4, 3, padding=1)
    x = torch.randn(1, 2, 8, 8)
    # conv saves its input (2*8*8 floats) and weight (4*2*9); ReLU saves its output (4*8*8)
    assert saved_bytes(lambda: conv(x).sum()) == 4 * (2 * 64 + 72)
    assert saved_bytes(lambda: torch.relu(conv(x)).sum()) == 4 * (2 * 64 + 72 + 4 * 64)
    with torch.no_grad():
        assert saved_bytes(lambda: torch.relu(conv(x)).sum()) == 0
    # activations scale with the pixel count: 4x the pixels, 4x the input and output bytes
    big = torch.randn(1, 2, 16, 16)
    assert saved_bytes(lambda: torch.relu(conv(big)).sum()) - 4 * 72 == 4 * (saved_bytes(
        lambda: torch.relu(conv(x)).sum()) - 4 * 72)


class _Task:
    """The few task methods the guard uses."""

    def example_batch(self, size, batch=1):
        return {"input": torch.randn(batch, 2, size, size)}

    def loss(self, model, batch):
        return model(batch["input"]).abs().mean()


def test_guard_refuses_a_run_that_cannot_fit_in_one_line(monkeypatch):
    import psutil

    from nas_engine.errors import UserError

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 2, 3, padding=1),
                          nn.BatchNorm2d(2))
    data = [{"input": torch.zeros(2, 320, 320)}]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.random.get_rng_state()
    need = guard_memory(_Task(), model, data, 4, "this run", "the batch size")
    # the probe left the random state and the BatchNorm statistics as they were
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    # activations per sample at 320x320: 100x those of the 32x32 probe
    act = saved_bytes(lambda: _Task().loss(model, _Task().example_batch(32)))
    rss = psutil.Process().memory_info().rss
    assert need == pytest.approx(rss + 3 * 4 * sum(p.numel() for p in model.parameters()) + 4 * 100 * act, rel=0.05)
    # a machine with too little memory: one line naming the knobs
    fake = type("vm", (), {"available": 0})()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: fake)
    monkeypatch.setattr(psutil.Process, "memory_info", lambda self: type("mi", (), {"rss": int(need / 2)})())
    with pytest.raises(UserError, match=r"this run needs at least .* GB .* activations at batch 4, 320x320 images.*"
                                        r"lower the batch size"):
        guard_memory(_Task(), model, data, 4, "this run", "the batch size")


def test_forecast_of_a_supernet_that_draws_a_path_per_step_times_the_mean_draw():
    """A step's cost is its draw's: every other step here is slow (0.2 s) and the rest free. One
    timed step reads one draw (the slow one, 0.2 s, whatever the mean); eight read their mean (0.1 s)."""
    import time

    import pytorch_lightning as pl

    from nas_engine.forecast import forecast

    class Drawn(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 1)

        def training_step(self, batch, i):
            time.sleep(0.2 if i % 2 else 0.0)
            return self.lin(batch).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    def prepare(b):
        return Drawn(), torch.utils.data.DataLoader(torch.randn(64, 4), batch_size=b)

    one = forecast(prepare, 2, 64)
    assert one.draws == 1 and one.step_s == pytest.approx(0.2, abs=0.04)
    mean = forecast(prepare, 2, 64, draws=8)
    assert [b for b, _, _ in mean.measured] == [1, 2]
    assert mean.step_s == pytest.approx(0.1, abs=0.03) and mean.steps_per_epoch == 32
    lines = mean.lines("search", "knobs")
    assert "8 drawn paths (the mean step)" in lines[0] and "a heavier draw goes higher" in lines[3]
    assert mean.spread[0] < 0.05 and mean.spread[1] == pytest.approx(0.2, abs=0.04)
    assert len(one.lines("search", "knobs")) == 3  # a fixed path: no caveat
    with pytest.raises(ValueError, match="draws must be >= 1"):
        forecast(prepare, 2, 64, draws=0)

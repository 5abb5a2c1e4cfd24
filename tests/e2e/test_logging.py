"""Run logs: metrics.csv always, TensorBoard event files on request, validation metrics per
retrain epoch with the best epoch's checkpoint."""

import csv
import json
import struct

import pytest

pytestmark = pytest.mark.slow  # trains through the CLI


def read_events(folder):
    """Every (tag, step, value or 'image') of the TensorBoard event files in ``folder`` (TFRecord
    framing: length, crc, payload, crc)."""
    from tensorboardX.proto import event_pb2

    out = []
    for path in folder.glob("events.out.tfevents.*"):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                out.append((v.tag, event.step, "image" if v.HasField("image") else v.simple_value))
    return out


def test_retrain_logs_validation_and_keeps_the_best_epoch(cli, tmp_path):
    run = tmp_path / "rt"
    rc, out, err = cli("retrain", "--config", "tiny", "--method", "dccnn-2", "--out", run, "--epochs", 3,
                       "--no-progress", "--logger", "tensorboard", "--set", "train.lr=1e-2")
    assert rc == 0, err
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    history = json.loads((run / "train_history.json").read_text())
    for r, h in zip(rows, history):
        assert float(r["loss"]) == pytest.approx(h["loss"]) and float(r["val_psnr"]) == pytest.approx(h["val_psnr"])
    best = max(history, key=lambda h: h["val_psnr"])
    assert json.loads((run / "best.json").read_text())["epoch"] == best["epoch"]
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    # the best checkpoint holds the best epoch's weights: evaluating them on val gives its PSNR
    import torch

    from nas_engine.app.options import make_task
    from nas_engine.retrain import load_trained
    from nas_engine.task import get_task

    task, model, _ = load_trained(run, lambda cfg: make_task(get_task(cfg.task), cfg))
    model.load_state_dict(torch.load(run / "model_best.pt", map_location="cpu", weights_only=True))
    metrics, image = task.validate(model)
    assert metrics["psnr"] == pytest.approx(best["val_psnr"], abs=1e-6)
    assert image.ndim == 2 and 0 <= image.min() and image.max() <= 1
    events = read_events(run / "tensorboard")
    tags = {t for t, _, _ in events}
    assert {"epoch/loss", "epoch/lr", "epoch/val_psnr", "epoch/val_ssim", "val/reconstruction"} <= tags
    psnr = sorted((s, v) for t, s, v in events if t == "epoch/val_psnr")
    assert [s for s, _ in psnr] == [1, 2, 3] and psnr[1][1] == pytest.approx(history[1]["val_psnr"], rel=1e-5)
    # a run without --logger tensorboard writes metrics.csv only; validation can be switched off
    rc, _, err = cli("retrain", "--config", "tiny", "--method", "dccnn-2", "--out", tmp_path / "plain",
                     "--epochs", 1, "--no-progress", "--set", "train.validate=false")
    assert rc == 0, err
    assert not (tmp_path / "plain" / "tensorboard").exists() and not (tmp_path / "plain" / "best.json").exists()
    assert "val_psnr" not in (tmp_path / "plain" / "metrics.csv").read_text()


def test_search_logs_alphas_and_a_resumed_run_keeps_its_metrics(cli, tmp_path):
    run = tmp_path / "s"
    rc, _, err = cli("search", "--config", "tiny", "--out", run, "--no-progress", "--logger", "tensorboard",
                     "--set", "search.epochs=2")
    assert rc == 0, err
    rc, _, err = cli("search", "--out", run, "--resume", "--epochs", 3, "--no-progress", "--logger", "tensorboard")
    assert rc == 0, err
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    cost = json.loads((run / "cost.json").read_text())  # both calls counted, not the last one's only
    assert [c["command"] for c in cost["calls"]] == ["search", "search"] and all(c["cpu_s"] > 0 for c in cost["calls"])
    assert cost["cpu_s"] == pytest.approx(sum(c["cpu_s"] for c in cost["calls"]), abs=0.02)
    cost = json.loads((run / "cost.json").read_text())  # both calls counted, not the last one's only
    assert [c["command"] for c in cost["calls"]] == ["search", "search"] and all(c["cpu_s"] > 0 for c in cost["calls"])
    assert cost["cpu_s"] == pytest.approx(sum(c["cpu_s"] for c in cost["calls"]), abs=0.02)
    assert {"loss_w", "loss_alpha", "alpha_entropy", "arch_steps"} <= set(rows[0])
    events = read_events(run / "tensorboard")
    alpha = [(t, s, v) for t, s, v in events if t.startswith("alpha/")]
    # one weight per op per edge per epoch, matching alphas.csv
    probs = {(int(r["epoch"]), f"alpha/node{r['node']}_input{r['input']}/{r['op']}"): float(r["prob"])
             for r in csv.DictReader(open(run / "alphas.csv"))}
    assert len(alpha) == len(probs)
    for t, s, v in alpha:
        assert v == pytest.approx(probs[(s, t)], abs=1e-5)
    rc, _, err = cli("search", "--config", "tiny", "--out", tmp_path / "x", "--logger", "wandb")
    assert rc == 2 and "--logger wandb: choose one of csv, tensorboard" in err


def test_a_long_epoch_prints_lines_inside_it_without_a_progress_bar(cli, tmp_path, monkeypatch):
    import nas_engine.training as T

    monkeypatch.setattr(T, "IN_EPOCH_EVERY", 0.0)  # every step counts as long here
    out = tmp_path / "r"
    rc, stdout, err = cli("retrain", "--method", "dccnn-1", "--config", "tiny", "--out", out, "--no-progress")
    assert rc == 0, err
    lines = [x.strip() for x in stdout.splitlines() if "steps, about" in x]
    assert [x.split(",")[0] for x in lines] == ["epoch 1/2: 1/3 steps", "epoch 1/2: 2/3 steps",
                                                "epoch 2/2: 1/3 steps", "epoch 2/2: 2/3 steps"]
    assert "epoch 1/2: 2/3 steps" in (out / "log.txt").read_text()
    rc, stdout, _ = cli("retrain", "--method", "dccnn-1", "--config", "tiny", "--out", tmp_path / "q", "--quiet")
    assert rc == 0 and "steps, about" not in stdout

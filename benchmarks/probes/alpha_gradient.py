"""How much signal the architecture gradient carries in the bench search (issue 10's "a search
that converges"): builds the bench preset's DARTS supernet (seed 0), and at initialisation and
after each of two weight-only epochs (Adam 1e-3 on the weight split, as the search's weight step)
measures the gradient of the loss on 12 batches of the architecture split with respect to the
alphas:

* |grad|: mean absolute gradient per batch; |mean grad|: of its mean over the 12 batches;
* std over batches, and snr: |mean| / (std / sqrt(12)) averaged over alphas (a t statistic;
  about 0.8 for pure noise);
* wd*|alpha|: the weight-decay term NNI's architecture optimizer (Adam, wd 1e-3) adds;
* the mean gradient per op, averaged over the 9 edges (negative: the op's alpha grows).

    python benchmarks/probes/alpha_gradient.py > benchmarks/results/alpha_gradient.txt   # ~15 min here
"""

import sys
import time
import warnings

import torch

from nas_engine.config import build_config, resolve
from nas_engine.search import build_oneshot
from nas_engine.task import get_task, load_task_entry_points
from search_spaces import load_space

warnings.filterwarnings("ignore")


def main(sets: list[str]) -> None:
    load_task_entry_points()
    tc = get_task("csmri")
    cfg = build_config(resolve("bench", sets, {"task": "csmri"}, tc.presets))
    task = tc(cfg.data, data=cfg.data_path, seed=cfg.seed)
    torch.manual_seed(0)
    space = load_space("A")
    _, oneshot = build_oneshot(task, space, cfg)
    model = oneshot.training_module.model
    alphas = oneshot.arch_parameters()
    ops = [*space.searchable_ops(), "none"]  # NNI's order: the space's ops, then its zero op
    print(f"bench preset {sets or ''}: {len(alphas)} edges x {alphas[0].numel()} ops {ops}", flush=True)
    weights = [p for p in model.parameters() if all(p is not a for a in alphas)]
    opt = torch.optim.Adam(weights, lr=cfg.search.lr)
    train_w, train_a = task.search_datasets(cfg.search.alpha_fraction)
    load_w = torch.utils.data.DataLoader(train_w, batch_size=cfg.search.batch_size, shuffle=True)
    load_a = torch.utils.data.DataLoader(train_a, batch_size=cfg.search.batch_size, shuffle=True)

    def report(tag: str, n: int = 12) -> None:
        grads = []
        for i, batch in enumerate(load_a):
            if i == n:
                break
            model.zero_grad()
            for a in alphas:
                a.grad = None
            task.loss(model, batch).backward()
            grads.append(torch.stack([a.grad.clone() for a in alphas]))
        g = torch.stack(grads)  # batches x edges x ops
        mean, std = g.mean(0), g.std(0)
        wd = 1e-3 * torch.stack([a.data for a in alphas]).abs().mean()
        print(f"[{tag}] |grad| mean {g.abs().mean():.2e}  |mean grad| {mean.abs().mean():.2e}  "
              f"std over batches {std.mean():.2e}  snr {(mean.abs() / (std / n ** .5)).mean():.2f}  "
              f"wd*|alpha| {wd:.2e}")
        print("   mean grad per op (avg over edges):", [f"{x:+.2e}" for x in mean.mean(0).tolist()], flush=True)

    report("init")
    t, step = time.time(), 0
    for _ in range(2):
        for batch in load_w:
            opt.zero_grad()
            task.loss(model, batch).backward()
            opt.step()
            step += 1
            if step % 40 == 0:
                print("step", step, f"{time.time() - t:.0f}s", flush=True)
        report(f"after {step} weight steps")


if __name__ == "__main__":
    main(sys.argv[1:])

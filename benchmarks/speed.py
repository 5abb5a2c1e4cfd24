"""Step-time table of the speed levers, as ratios measured in one process.

For the demo and bench presets (CS-MRI, 96x96, C=16, N=2 cells, M=3 nodes, 3 cascades, batch 4):

* a retrain step (forward, backward, Adam) of the searched demo cell: NCHW against channels-last;
* a DARTS search step of the space A supernet: the two passes of NNI's
  ``DartsLightningModule.training_step`` (an architecture step, then a weight step that first zeroes
  the weight gradients the architecture step left), with every lever off, channels-last alone, the
  architecture-only backward alone, the weighted-sum cell alone, all three.

Variants run alternately (round-robin, ``--repeats`` rounds after a warm-up), so a slower or
faster spell of the machine hits every variant alike; the table gives medians and each variant's
speed-up over the all-off baseline of the same row. Achieved GFLOP/s: the step's convolution
FLOPs (ptflops of the image modules, forward, times 3 for forward + both backward passes; an
estimate) per second, next to a 2048x2048 float32 matmul measured in the same run.

    python benchmarks/speed.py                  # writes benchmarks/results/speed.{md,json}
    python benchmarks/speed.py --repeats 3 --out /tmp/speed   # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from nas_engine.complexity import modules_complexity  # noqa: E402
from nas_engine.config import build_config, resolve  # noqa: E402
from nas_engine.files import write_json, write_text  # noqa: E402
from nas_engine.genotype import Genotype  # noqa: E402
from nas_engine.network import fixed_module_factory, to_channels_last  # noqa: E402
from nas_engine.task import get_task, load_task_entry_points  # noqa: E402
from search_spaces import ops  # noqa: E402

DEMO_CELL = ROOT / "benchmarks" / "results" / "demo" / "table1" / "nas_a_3n" / "genotype.json"  # make demo's cell


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def config_of(preset: str):
    return build_config(resolve(preset, [], {"task": "csmri"}, task_presets=get_task("csmri").presets))


def retrain_variants(task, cfg, genotype):
    """name -> (step function, conv FLOPs of one step)."""
    out = {}
    batch = task.example_batch(96, cfg.train.batch_size)
    for name, cl, split in (("NCHW", False, False), ("channels-last", True, False), ("dilated backward", False, True),
                            ("both", True, True)):
        torch.manual_seed(0)
        model = task.build_model(fixed_module_factory(genotype, 2, cfg.model.channels, bias=cfg.model.bias))
        if cl:
            to_channels_last(model)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(model=model, opt=opt, split=split):
            ops.DILATED_BACKWARD = split
            opt.zero_grad()
            task.loss(model, batch).backward()
            opt.step()

        flops = 3 * cfg.train.batch_size * modules_complexity(task.image_modules(model), (2, 96, 96))[0]
        out[name] = (step, flops)
    return out


def search_variants(task, cfg):
    """A DARTS search step (architecture + weight step) through NNI's module, on a fake trainer."""
    import nas_engine.oneshot.strategies as S
    from nas_engine.oneshot.build import build_oneshot
    from search_spaces import load_space

    out = {}
    batch = task.example_batch(96, cfg.search.batch_size)
    for name, cl, arch_only, wsum, split in (("all off", False, False, False, False),
                                             ("channels-last", True, False, False, False),
                                             ("arch-only backward", False, True, False, False),
                                             ("weighted-sum cell", False, False, True, False),
                                             ("dilated backward", False, False, False, True),
                                             ("all four", True, True, True, True)):
        S.WEIGHTED_SUM_CELL = wsum
        torch.manual_seed(0)
        _, oneshot = build_oneshot(task, load_space("A"), cfg)
        model = oneshot.training_module.model
        if not cl:  # the training module made it channels-last: undo for the NCHW rows
            model.to(memory_format=torch.contiguous_format)
        arch, weights = oneshot.arch_parameters(), [p for p in model.parameters()
                                                     if id(p) not in {id(a) for a in oneshot.arch_parameters()}]
        a_opt = torch.optim.Adam(arch, lr=3e-3)
        w_opt = torch.optim.Adam(weights, lr=1e-3)

        def step(model=model, arch=arch, a_opt=a_opt, w_opt=w_opt, arch_only=arch_only, split=split):
            ops.DILATED_BACKWARD = split
            a_opt.zero_grad()
            loss = task.loss(model, batch)  # the architecture step (NNI: on the architecture split)
            loss.backward(inputs=arch) if arch_only else loss.backward()
            a_opt.step()
            w_opt.zero_grad()  # NNI's weight step begins by zeroing what the architecture step left
            task.loss(model, batch).backward()
            w_opt.step()

        flops = 2 * 3 * cfg.search.batch_size * modules_complexity(task.image_modules(model.net), (2, 96, 96))[0]
        out[name] = (step, flops)
    S.WEIGHTED_SUM_CELL = True
    return out


def polyphase(x, w, d: int):
    """A depthwise 3x3 convolution of dilation ``d`` (padding ``d``) as an undilated one on the d x d
    polyphase components (space-to-batch, as atrous convolution is implemented elsewhere); equal to
    the dilated convolution where ``d`` divides the image size."""
    import torch.nn.functional as F

    b, c, h, v = x.shape
    xs = x.reshape(b, c, h // d, d, v // d, d).permute(0, 3, 5, 1, 2, 4).reshape(b * d * d, c, h // d, v // d)
    y = F.conv2d(xs, w, None, 1, 1, 1, c)
    return y.reshape(b, d, d, c, h // d, v // d).permute(0, 3, 4, 1, 5, 2).reshape(b, c, h, v)


def split_forward(module, x):
    ops.DILATED_BACKWARD = True  # a step variant before may have left it off
    return module(x)


def dilated_variants(channels: int = 16, batch: int = 4, size: int = 96):
    """One depthwise 3x3 convolution of dilation 2 and 3, forward + backward: PyTorch's dilated kernels
    against polyphase and against the engine's split backward (``DilatedDepthwiseConv2d``), NCHW against
    channels-last."""
    import torch.nn.functional as F

    out = {}
    for d in (2, 3):
        w = torch.randn(channels, 1, 3, 3, requires_grad=True)
        for layout in ("NCHW", "channels-last"):
            x = torch.randn(batch, channels, size, size)
            if layout == "channels-last":
                x = x.contiguous(memory_format=torch.channels_last)
            x.requires_grad_()
            assert torch.allclose(polyphase(x, w, d), F.conv2d(x, w, None, 1, d, d, channels), atol=1e-5)
            flops = 3 * 2 * batch * channels * 9 * size * size
            split = ops.DilatedDepthwiseConv2d(channels, (3, 3), d)
            with torch.no_grad():
                split.weight.copy_(w)
            if layout == "channels-last":
                split = split.to(memory_format=torch.channels_last)
            for how, fn in (("dilated", lambda x=x, w=w, d=d: F.conv2d(x, w, None, 1, d, d, channels)),
                            ("polyphase", lambda x=x, w=w, d=d: polyphase(x, w, d)),
                            ("backward split", lambda x=x, split=split: split_forward(split, x))):
                out[f"dilation {d}, {layout}, {how}"] = (lambda fn=fn: fn().sum().backward(), flops)
    return out


def measure(variants: dict, repeats: int) -> dict:
    for step, _ in variants.values():
        step()  # warm-up (lazy imports, allocator, oneDNN primitives)
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (step, _) in variants.items():
            t = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t)
    return {name: {"median_s": statistics.median(ts), "times_s": ts, "gflops": variants[name][1] / 1e9}
            for name, ts in times.items()}


def write_report(result: dict, out: Path) -> None:
    """``speed.md`` from the measured ``result`` (``speed.json``)."""
    mm = (result["matmul_gflops_before"] + result["matmul_gflops_after"]) / 2
    lines = ["# Speed levers: step times as ratios", "",
             f"Made by `python benchmarks/speed.py` ({result['threads']} torch threads, torch {result['torch']}, on "
             "this CPU). Variants alternate within one process, medians of "
             f"{result['repeats']} rounds after a warm-up; speed-up: the all-off variant's median over this one's. "
             f"A 2048x2048 float32 matmul ran at {mm:.0f} GFLOP/s in the same run; achieved GFLOP/s counts the "
             "image modules' convolution FLOPs (ptflops, forward x3). The levers are on in the engine: "
             "channels-last weights (`nas_engine/network.py: to_channels_last`, every training and loaded "
             "network), the architecture-only backward of DARTS/GDAS/PC-DARTS steps and DARTS' weighted-sum cell "
             "(no stacked and zero-padded copies of the edges' outputs; `nas_engine/oneshot/strategies.py`), and "
             "the dilated depthwise convolution's backward split in two cheaper calls (`search_spaces/ops.py: "
             "DilatedDepthwiseConv2d`).", "",
             "| preset: step | variant | median (s) | speed-up | achieved GFLOP/s | % of matmul |",
             "|---|---|---|---|---|---|"]
    for key, row in result["rows"].items():
        base = next(iter(row.values()))["median_s"]
        for name, v in row.items():
            g = v["gflops"] / v["median_s"]
            lines.append(f"| {key} | {name} | {v['median_s']:.4g} | {base / v['median_s']:.2f}x | {g:.1f} | "
                         f"{100 * g / mm:.1f}% |")
    conv = result["rows"]["one depthwise 3x3 conv, fwd+bwd (C=16, batch 4, 96x96)"]

    def gain(d, lay, how):
        return conv[f"dilation {d}, {lay}, dilated"]["median_s"] / conv[f"dilation {d}, {lay}, {how}"]["median_s"]

    pairs = [(d, lay) for d in (2, 3) for lay in ("NCHW", "channels-last")]
    lines += ["", "The last rows are one op, not a step: a dilated depthwise convolution, forward and backward, with "
              "PyTorch's kernels, on its polyphase components (undilated, space-to-batch; equal outputs, checked), "
              "and with the engine's split backward (the input's gradient as the forward convolution with the "
              "kernel flipped, the weight's gradient alone; PyTorch's combined backward kernel costs ~30x its "
              "forward here). Over PyTorch's dilated kernels in this run: polyphase "
              + ", ".join(f"dilation {d} {lay} {gain(d, lay, 'polyphase'):.2f}x" for d, lay in pairs)
              + "; split backward " + ", ".join(f"dilation {d} {lay} {gain(d, lay, 'backward split'):.2f}x"
                                                for d, lay in pairs)
              + ". The engine keeps the split backward (training on CPU only; evaluation, export, autocast and "
              "tracing take `nn.Conv2d`'s path) and not the polyphase form, which needs the image size divisible "
              "by the dilation and gains little under channels-last."]
    write_text(out / "speed.md", "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report-only", action="store_true", help="rewrite speed.md from the kept speed.json")
    args = ap.parse_args()
    if args.report_only:
        write_report(json.loads((args.out / "speed.json").read_text()), args.out)
        return
    torch.set_num_threads(args.threads)
    load_task_entry_points()
    genotype = Genotype.load(DEMO_CELL)
    result = {"threads": args.threads, "torch": torch.__version__, "matmul_gflops_before": matmul_gflops(),
              "rows": {}}
    for preset in ("demo", "bench"):
        cfg = config_of(preset)
        task = get_task("csmri")(cfg.data, seed=0)
        for kind, variants in (("retrain step", retrain_variants(task, cfg, genotype)),
                               ("search step (darts, space A)", search_variants(task, cfg))):
            row = measure(variants, args.repeats)
            print(preset, kind, {k: round(v["median_s"], 3) for k, v in row.items()}, flush=True)
            result["rows"][f"{preset}: {kind}"] = row
    row = measure(dilated_variants(), 5 * args.repeats)
    print("dilated depthwise conv", {k: round(v["median_s"] * 1e3, 2) for k, v in row.items()}, flush=True)
    result["rows"]["one depthwise 3x3 conv, fwd+bwd (C=16, batch 4, 96x96)"] = row
    result["matmul_gflops_after"] = matmul_gflops()
    args.out.mkdir(parents=True, exist_ok=True)
    result["repeats"] = args.repeats
    write_json(args.out / "speed.json", result)
    write_report(result, args.out)
    print(f"wrote {args.out / 'speed.md'}")


if __name__ == "__main__":
    main()

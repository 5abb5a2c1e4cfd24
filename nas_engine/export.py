"""Exporting a trained network, data consistency included (ONNX or TorchScript), and running an
exported one (``nasengine export``; ``nasengine reconstruct --model FILE``).

The task names the network's inputs, gives an example batch and says which axes may change size
(:meth:`nas_engine.task.Task.export_signature`); the exported file carries the run's config as
metadata, so ``reconstruct --model`` rebuilds the task (data options) without the run directory.
ONNX export uses PyTorch's dynamo exporter (``torch.onnx.export(..., dynamo=True)``, opset 18,
FFTs as ONNX ``DFT``) and needs the ``onnx``/``onnxscript`` packages; running it needs
``onnxruntime`` (the ``export`` extra).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Callable

import torch

from .errors import RunFailed, UserError
from .files import atomic_write

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
META_KEY = "nasengine"  # ONNX metadata_props key / TorchScript extra file holding {"config", "inputs"}
TOLERANCE = 1e-3  # largest relative difference to PyTorch an export may show


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"ONNX needs the package {module!r}: pip install 'nasengine[export]' "
                        "(onnx, onnxscript, onnxruntime; `make setup` installs them)") from None


def max_relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def export_model(task, model: torch.nn.Module, config: dict, fmt: str, out: Path) -> float:
    """Write ``model`` to ``out`` in ``fmt`` and check the file against PyTorch on two example
    batches (the second of another batch and image size, where the task lets sizes change);
    returns the largest relative difference. ``RunFailed`` above :data:`TOLERANCE`."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    names, make_example, dynamic = task.export_signature()
    model = model.eval().float().cpu()  # exported on the CPU whatever device it trained on (the example batches are CPU tensors)
    example = make_example(0)
    meta = json.dumps({"config": config, "inputs": list(names)})
    with warnings.catch_warnings(), torch.no_grad():
        # the exporters' notes (deprecations, dynamo's progress) are not the user's business
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            _need("onnxscript")
            onnx = _need("onnx")
            from torch.export import Dim

            # torch.onnx logs a warning per torchvision op it cannot register (torchvision is not a dependency)
            logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
            dims: dict[str, Dim] = {}
            # min 2: torch.export specialises sizes 0 and 1; the ONNX graph itself takes any size
            shapes = tuple({axis: dims.setdefault(label, Dim(label, min=2)) for axis, label in d.items()}
                           for d in dynamic)
            try:
                program = torch.onnx.export(model, tuple(example), dynamo=True, input_names=list(names),
                                            output_names=["output"], dynamic_shapes=shapes, verbose=False)
            except Exception as e:  # the exporter's errors are long reports; one line here
                first = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
                raise RunFailed(f"ONNX export failed ({e.__class__.__name__}: {first[:300]}); "
                                "--format torchscript may still work") from None

            def write(tmp: str) -> None:
                program.save(tmp)
                m = onnx.load(tmp)
                onnx.helper.set_model_props(m, {META_KEY: meta})
                onnx.save(m, tmp)
        else:
            traced = torch.jit.trace(model, tuple(example), check_trace=False)

            def write(tmp: str) -> None:
                torch.jit.save(traced, tmp, _extra_files={META_KEY: meta})

        atomic_write(out, write)
        _, forward = load_exported(out)
        worst = 0.0
        for variant in (0, 1):
            batch = make_example(variant)
            worst = max(worst, max_relative_difference(forward(dict(zip(names, batch))), model(*batch)))
    if worst > TOLERANCE:
        raise RunFailed(f"{out}: the exported model differs from PyTorch by {worst:.2g} (relative), more than "
                        f"{TOLERANCE:g}; the file is kept for inspection")
    return worst


def load_exported(path: str | Path) -> tuple[dict, Callable[[dict], torch.Tensor]]:
    """``(config, forward)`` of an exported file; ``forward(batch)`` runs it on the batch's named
    inputs (CPU) and returns a tensor."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--model {path}: no such file")
    if path.suffix == ".onnx":
        ort = _need("onnxruntime")
        onnx = _need("onnx")
        try:
            props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnx raises its own DecodeError and friends
            raise UserError(f"--model {path}: not a readable ONNX file ({e.__class__.__name__})") from None
        meta = _meta(path, props.get(META_KEY))
        names = meta["inputs"]

        def forward(batch: dict) -> torch.Tensor:
            feeds = {n: batch[n].detach().cpu().float().numpy() for n in names}
            return torch.from_numpy(session.run(None, feeds)[0])

        return meta["config"], forward
    if path.suffix == ".pt":
        files = {META_KEY: ""}
        try:
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
        except (RuntimeError, ValueError) as e:
            first = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
            raise UserError(f"--model {path}: not a TorchScript file written by `nasengine export` ({first})") from None
        meta = _meta(path, files[META_KEY])
        names = meta["inputs"]

        def forward(batch: dict) -> torch.Tensor:
            return module(*(batch[n].detach().cpu().float() for n in names))

        return meta["config"], forward
    raise UserError(f"--model {path}: expected an exported .onnx or .pt (TorchScript) file")


def _meta(path: Path, raw) -> dict:
    if not raw:
        raise UserError(f"--model {path}: no nasengine metadata; export the network with `nasengine export`")
    if isinstance(raw, bytes):
        raw = raw.decode()
    return json.loads(raw)

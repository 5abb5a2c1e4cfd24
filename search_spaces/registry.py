"""Operation registry, named spaces and plugins.

An op is a factory ``(channels: int) -> nn.Module`` (C x H x W -> C x H x W),
registered by name with :func:`register_op`. A space is an ordered list of op
names: built-in ``A`` and ``B``, or a YAML file with a list of names.
Plugins (a ``.py`` file or an importable module, or the ``nasengine.ops`` entry
point group) register more ops without editing this package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from .errors import UserError, unknown

OpFactory = Callable[[int], nn.Module]
OPS: dict[str, OpFactory] = {}
NONE_OP = "none"

SPACES: dict[str, tuple[str, ...]] = {
    "A": ("sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect", "none"),
    "B": ("sep_conv_3x3", "dil_2_conv_3x3", "conv_9x1_1x9", "skip_connect", "none"),
    # C: ops of unlike cost and character (dense 3x3 ~5x a separable 3x3's FLOPs at C=16; 1x1 and channel
    # attention see no neighbours), with macro choices searched next to the cell (MACROS)
    "C": ("conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "dil_2_conv_3x3", "conv_1x1", "channel_attention",
          "skip_connect", "none"),
}

# Macro choices of a space, searched (or sampled) jointly with its cell and recorded in the genotype:
# ``width`` is the image module's channel count C (the engine's model.channels); other keys are the
# task's (CS-MRI: ``cascades``, the number of (module -> data consistency) steps, and ``share``, one
# module for every cascade as MoDL, or one each as DCCNN). A task declares the keys it has.
MACROS: dict[str, dict[str, tuple]] = {
    "C": {"width": (8, 16, 24), "cascades": (1, 2, 3, 4, 5), "share": (False, True)},
}


def register_op(name: str, *, override: bool = False) -> Callable[[OpFactory], OpFactory]:
    """Decorator: register ``factory(channels) -> nn.Module`` under ``name``."""

    def deco(factory: OpFactory) -> OpFactory:
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"op name {name!r} must be letters, digits, '_' or '-'")
        if name in OPS and OPS[name] is not factory and not override:
            raise ValueError(f"op {name!r} is already registered; pass override=True to replace it")
        OPS[name] = factory
        return factory

    return deco


def _unknown(kind: str, name: str, known) -> UserError:
    return unknown(kind, name, sorted(known))


def get_op(name: str) -> OpFactory:
    if name not in OPS:
        e = _unknown("op", name, OPS)
        raise type(e)(f"{e}; an op of a plugin needs it on every command that builds the network: --plugin FILE.py "
                      "(search, retrain, evaluate, reconstruct, export)")
    return OPS[name]


@dataclass(frozen=True)
class Space:
    """A named, ordered list of op names."""

    name: str
    ops: tuple[str, ...]
    macro: tuple[tuple[str, tuple], ...] = ()  # (key, choices) pairs, in order (MACROS)

    @property
    def macro_choices(self) -> dict[str, tuple]:
        return dict(self.macro)

    @property
    def searchable_ops(self) -> tuple[str, ...]:
        """The ops other than ``none`` (NNI adds the zero op to every edge itself)."""
        return tuple(o for o in self.ops if o != NONE_OP)


def validate_ops(ops, source: str) -> tuple[str, ...]:
    if not isinstance(ops, (list, tuple)) or not ops or not all(isinstance(o, str) for o in ops):
        raise UserError(f"{source}: a space must be a non-empty list of op names, e.g. [sep_conv_3x3, skip_connect, none]")
    for o in ops:
        get_op(o)
    if len(set(ops)) != len(ops):
        raise UserError(f"{source}: op names repeat in the space: {list(ops)}")
    if not [o for o in ops if o != NONE_OP]:
        raise UserError(f"{source}: a space needs at least one op other than 'none'")
    return tuple(ops)


def validate_macro(macro, source: str) -> tuple[tuple[str, tuple], ...]:
    """``{key: [choice, ...]}`` -> ((key, choices), ...); each key a name, each list non-empty, no repeats."""
    if not isinstance(macro, dict):
        raise UserError(f"{source}: macro must be a mapping of choices, e.g. {{width: [8, 16], cascades: [2, 4]}}")
    out = []
    for key, choices in macro.items():
        if not isinstance(choices, (list, tuple)) or not choices or len(set(choices)) != len(choices):
            raise UserError(f"{source}: macro.{key} must be a non-empty list of distinct choices, got {choices!r}")
        if key == "width" and not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in choices):
            raise UserError(f"{source}: macro.width must list positive channel counts, got {choices!r}")
        out.append((str(key), tuple(choices)))
    return tuple(out)


def load_space(spec: str) -> Space:
    """A built-in space name (``A``, ``B``) or a YAML file with a list of op names (or ``{name, ops}``)."""
    if spec in SPACES:
        return Space(spec, SPACES[spec], tuple(MACROS.get(spec, {}).items()))
    path = Path(spec)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        data = _read_space_file(path)
        name, macro = path.stem, {}
        if isinstance(data, dict):
            extra = set(data) - {"name", "ops", "macro"}
            if extra:
                raise UserError(f"{path}: unknown key(s) {sorted(extra)}; a space file has name, ops and macro")
            name, macro, data = str(data.get("name", name)), data.get("macro") or {}, data.get("ops")
        return Space(name, validate_ops(data, str(path)), validate_macro(macro, str(path)))
    raise _unknown("space", spec, SPACES)


def _read_space_file(path: Path):
    """A space file's content: YAML (JSON is a subset); a missing or malformed file is one line."""
    import yaml

    if not path.is_file():
        raise UserError(f"space file {path} does not exist")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a valid YAML/JSON space file ({str(e).splitlines()[0]})") from None


def load_plugin(spec: str) -> None:
    """Import a plugin (``path/to/ops.py`` or ``package.module``) so that it registers its ops."""
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        raise UserError(f"--plugin {spec}: a space file, not a plugin (a .py file or module that registers ops or "
                        f"tasks); give it as the space: --space {spec}")
    try:
        if spec.endswith(".py") or path.exists():
            if not path.is_file():
                raise UserError(f"plugin file {path} does not exist")
            mod_name = f"nasengine_plugin_{path.stem}"
            s = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(s)
            sys.modules[mod_name] = module
            s.loader.exec_module(module)
        else:
            importlib.import_module(spec)
    except UserError:
        raise
    except Exception as e:  # a plugin's own error: name the plugin and the error, no traceback
        raise UserError(f"plugin {spec!r} failed to import: {e.__class__.__name__}: {e}") from None


def load_entry_point_plugins() -> None:
    """Import every plugin declared in the ``nasengine.ops`` entry point group."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="nasengine.ops"):
        try:
            ep.load()
        except Exception as e:
            raise UserError(f"plugin entry point {ep.name!r} ({ep.value}) failed: {e.__class__.__name__}: {e}") from None

import textwrap

import pytest
import torch

import search_spaces
from nas_engine.errors import UserError
from search_spaces import OPS, SPACES, get_op, load_plugin, load_space, register_op


@pytest.mark.parametrize("name", ["sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "conv_9x1_1x9",
                                  "skip_connect", "none", "conv_3x3", "conv_1x1", "sep_conv_5x5", "channel_attention"])
def test_builtin_op_keeps_shape_and_has_no_bias_or_norm(name):
    op = get_op(name)(6)
    x = torch.randn(2, 6, 19, 23)
    assert op(x).shape == x.shape
    for m in op.modules():
        assert not isinstance(m, (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d, torch.nn.GroupNorm))
        if isinstance(m, torch.nn.Conv2d):
            assert m.bias is None


def test_op_structure():
    sep = get_op("sep_conv_3x3")(8)
    convs = [m for m in sep.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.groups for c in convs] == [8, 1] and convs[0].kernel_size == (3, 3)
    dil3 = [m for m in get_op("dil_3_conv_3x3")(8).modules() if isinstance(m, torch.nn.Conv2d)]
    assert dil3[0].dilation == (3, 3)
    k = [m.kernel_size for m in get_op("conv_9x1_1x9")(8).modules() if isinstance(m, torch.nn.Conv2d)]
    assert k == [(9, 1), (1, 1), (1, 9), (1, 1)]
    x = torch.randn(1, 8, 5, 5)
    assert torch.equal(get_op("skip_connect")(8)(x), x)
    assert torch.count_nonzero(get_op("none")(8)(x)) == 0


def test_spaces_a_and_b():
    assert SPACES["A"] == ("sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect", "none")
    assert SPACES["B"] == ("sep_conv_3x3", "dil_2_conv_3x3", "conv_9x1_1x9", "skip_connect", "none")
    assert load_space("B").searchable_ops == ("sep_conv_3x3", "dil_2_conv_3x3", "conv_9x1_1x9", "skip_connect")


def test_space_yaml(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("- sep_conv_3x3\n- skip_connect\n- none\n")
    assert load_space(str(f)).ops == ("sep_conv_3x3", "skip_connect", "none")
    f.write_text("ops: {a: 1}\n")
    with pytest.raises(UserError, match="list of op names"):
        load_space(str(f))
    f.write_text("[sep_conv_3x3, sep_conv_7x7]\n")
    with pytest.raises(UserError, match="unknown op 'sep_conv_7x7'.*did you mean 'sep_conv_\\dx\\d'"):
        load_space(str(f))
    with pytest.raises(UserError, match="unknown space 'Z'"):
        load_space("Z")


def test_plugin_file_registers_op(tmp_path):
    plugin = tmp_path / "my_ops.py"
    plugin.write_text(textwrap.dedent("""
        from torch import nn
        from search_spaces import register_op

        @register_op("conv_5x5_test")
        def conv_5x5_test(channels: int) -> nn.Module:
            return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 5, padding=2, bias=False))
    """))
    load_plugin(str(plugin))
    try:
        assert "conv_5x5_test" in OPS
        assert get_op("conv_5x5_test")(4)(torch.randn(1, 4, 9, 9)).shape == (1, 4, 9, 9)
    finally:
        OPS.pop("conv_5x5_test", None)


def test_plugin_errors(tmp_path):
    bad = tmp_path / "bad_ops.py"
    bad.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(UserError, match=r"plugin .*bad_ops.py' failed to import: RuntimeError: boom"):
        load_plugin(str(bad))
    with pytest.raises(UserError, match="failed to import: ModuleNotFoundError"):
        load_plugin("no_such_module_xyz")
    with pytest.raises(UserError, match="does not exist"):
        load_plugin(str(tmp_path / "missing.py"))
    space = tmp_path / "my_space.yaml"
    space.write_text("name: mine\nops: [conv_3x3]\n")
    with pytest.raises(UserError, match=r"a space file, not a plugin .* give it as the space: --space .*my_space.yaml"):
        load_plugin(str(space))


def test_register_twice_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        register_op("sep_conv_3x3")(lambda c: torch.nn.Identity())
    assert search_spaces.OPS["sep_conv_3x3"].__name__ == "sep_conv_3x3"


def test_a_run_trained_with_a_plugin_op_names_the_plugin_when_evaluated_without_it(cli, tmp_path):
    plugin = tmp_path / "my_ops.py"
    plugin.write_text(textwrap.dedent("""
        from torch import nn
        from search_spaces import register_op

        @register_op("conv_5x5_runtest")
        def conv_5x5_runtest(channels: int) -> nn.Module:
            return nn.Conv2d(channels, channels, 5, padding=2)
    """))
    g = tmp_path / "g.json"
    g.write_text('{"space": "mine", "ops": ["conv_5x5_runtest", "skip_connect", "none"], "cells": 1, "nodes": 2, '
                 '"cell": [[{"input": 0, "op": "conv_5x5_runtest"}, {"input": 1, "op": "skip_connect"}], '
                 '[{"input": 2, "op": "conv_5x5_runtest"}, {"input": 0, "op": "skip_connect"}]]}')
    run = tmp_path / "run"
    try:
        rc, _, err = cli("retrain", "--genotype", g, "--plugin", plugin, "--config", "tiny", "--out", run, "--quiet")
        assert rc == 0, err
    finally:
        OPS.pop("conv_5x5_runtest", None)  # as in a new process without the plugin
    import json

    assert json.loads((run / "plugins.json").read_text()) == [str(plugin.resolve())]
    rc, _, err = cli("evaluate", "--checkpoint", run, "--out", tmp_path / "e.json", "--no-progress")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert f"it was trained with ops of plugin(s) {plugin.resolve()}; pass --plugin {plugin.resolve()}" in err
    try:
        rc, _, err = cli("evaluate", "--checkpoint", run, "--plugin", plugin, "--out", tmp_path / "e.json",
                         "--no-progress")
        assert rc == 0, err
    finally:
        OPS.pop("conv_5x5_runtest", None)
    assert get_op.__module__ == "search_spaces.registry"
    with pytest.raises(UserError, match="an op of a plugin needs it on every command that builds the network"):
        get_op("conv_5x5_runtest")

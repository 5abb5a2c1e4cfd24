"""Space C: ops of unlike cost, macro choices, YAML spaces with macro choices."""

import pytest
import torch

from nas_engine.complexity import count
from nas_engine.errors import UserError
from search_spaces import MACROS, get_op, load_space


def test_space_c_ops_differ_in_cost_as_their_shapes_say():
    c, hw = 16, 32 * 32
    flops = {name: count(get_op(name)(c), (c, 32, 32))[0] for name in
             ("conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "conv_1x1", "channel_attention")}
    relu = count(torch.nn.ReLU(), (c, 32, 32))[0]  # what ptflops' pytorch backend adds for the leading ReLU
    assert flops["conv_3x3"] == c * c * 9 * hw + relu
    assert flops["conv_1x1"] == c * c * hw + relu
    assert flops["sep_conv_3x3"] == (c * 9 + c * c) * hw + relu
    assert flops["sep_conv_5x5"] == (c * 25 + c * c) * hw + relu
    assert flops["conv_3x3"] > 5 * flops["sep_conv_3x3"]  # 9C against 9 + C multiplies per output
    assert flops["channel_attention"] < flops["conv_1x1"] / 4  # a gate per channel, no spatial mixing


def test_channel_attention_rescales_each_channel_by_a_gate_in_0_1():
    op = get_op("channel_attention")(8)
    x = torch.rand(1, 8, 9, 9) + 0.1
    ratio = op(x) / x
    per_channel = ratio.flatten(2)
    assert torch.allclose(per_channel, per_channel[..., :1].expand_as(per_channel), atol=1e-6)
    assert bool(((per_channel > 0) & (per_channel < 1)).all())


def test_space_c_has_its_macro_choices_and_a_and_b_none():
    c = load_space("C")
    assert c.macro_choices == MACROS["C"] == {"width": (8, 16, 24), "cascades": (1, 2, 3, 4, 5),
                                              "share": (False, True)}
    assert "none" not in c.searchable_ops and len(c.searchable_ops) == 7
    assert load_space("A").macro == () and load_space("B").macro == ()


def test_a_yaml_space_with_macro_choices(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\nops: [sep_conv_3x3, skip_connect, none]\nmacro: {width: [4, 8], cascades: [1, 2]}\n")
    s = load_space(str(f))
    assert s.name == "mine" and s.macro_choices == {"width": (4, 8), "cascades": (1, 2)}
    f.write_text("ops: [sep_conv_3x3]\nmacro: {width: [4, 4]}\n")
    with pytest.raises(UserError, match="distinct"):
        load_space(str(f))
    f.write_text("ops: [sep_conv_3x3]\nmacro: {width: [0, 8]}\n")
    with pytest.raises(UserError, match="positive channel counts"):
        load_space(str(f))
    f.write_text("ops: [sep_conv_3x3]\nmacros: {width: [4]}\n")
    with pytest.raises(UserError, match="unknown key"):
        load_space(str(f))

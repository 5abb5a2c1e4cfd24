"""Pictures of architectures: the derived cell and the alphas over the search's epochs."""

from __future__ import annotations

from pathlib import Path

from .files import atomic_write
from .genotype import Genotype


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Write a matplotlib figure as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    out = atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    plt.close(fig)
    return out


def cell_dot(genotype: Genotype) -> str:
    """The cell in Graphviz's DOT language, as DARTS draws its cells: the two cell inputs, the
    nodes, one labelled edge per chosen op, every node into the concatenated output."""
    title = f"searched cell (space {genotype.space}, {genotype.nodes} nodes, x{genotype.cells} cells)"
    if genotype.macro:
        title += f"\\n{genotype.macro_text()}"
    lines = ["digraph cell {", "  rankdir=LR;", f'  label="{title}"; labelloc=t; fontsize=14; fontname="Helvetica";',
             '  node [style="rounded,filled", shape=box, fontname="Helvetica", fontsize=13, penwidth=1.2];',
             '  edge [fontname="Helvetica", fontsize=11];',
             '  c_k2 [label=<C<sub>l-2</sub>>, fillcolor="#dbe9f6"];',
             '  c_k1 [label=<C<sub>l-1</sub>>, fillcolor="#dbe9f6"];',
             '  out [label=<concat = C<sub>l</sub>>, fillcolor="#d9f2d9"];']
    names = {0: "c_k2", 1: "c_k1"}
    for i in range(genotype.nodes):
        names[i + 2] = f"n{i}"
        lines.append(f'  n{i} [label="{i + 2}", shape=circle, fillcolor="#fde8c8", fixedsize=true, width=0.5];')
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    # one colour per op, label and edge alike: tab10, as draw_cell
    color = {op: to_hex(colormaps["tab10"](k % 10)) for k, op in enumerate(genotype.ops)}
    for i, edges in enumerate(genotype.cell):
        for e in edges:
            c = color.get(e.op, "black")
            lines.append(f'  {names[e.input]} -> n{i} [label="{e.op}", color="{c}", fontcolor="{c}", penwidth=1.6];')
    for i in range(genotype.nodes):
        lines.append(f'  n{i} -> out [style=dashed, color="gray50"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def save_cell(genotype: Genotype, path: str | Path, dpi: int = 130) -> Path:
    """``cell.png`` (and ``cell.dot`` beside it): drawn by Graphviz's ``dot`` when it is installed
    (no overlapping labels: dot routes the edges), by matplotlib otherwise."""
    import shutil
    import subprocess

    from .files import write_text

    path = Path(path)
    dot = cell_dot(genotype)
    write_text(path.with_suffix(".dot"), dot)
    exe = shutil.which("dot")
    if exe is not None:
        def render(tmp: str) -> None:
            subprocess.run([exe, "-Tpng", f"-Gdpi={dpi}", "-o", tmp], input=dot, text=True, check=True,
                           capture_output=True)

        try:
            return atomic_write(path, render)
        except (subprocess.CalledProcessError, OSError):
            pass  # a broken Graphviz install: fall back to matplotlib
    return save_figure(draw_cell(genotype), path, dpi=dpi)


def draw_cell(genotype: Genotype):
    """A matplotlib figure of the cell: inputs, nodes, edges labelled with their ops, output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = genotype.nodes
    fig, ax = plt.subplots(figsize=(3.2 + 2.0 * m, 4.4))
    pos = {0: (0.0, 2.0), 1: (0.0, 0.0)}
    for i in range(m):
        pos[i + 2] = (2.2 * (i + 1), 1.0 + (0.9 if i % 2 == 0 else -0.9) * (1 if m > 1 else 0))
    out_pos = (2.2 * (m + 1), 1.0)
    palette = plt.get_cmap("tab10")
    colors = {op: palette(k % 10) for k, op in enumerate(genotype.ops)}
    for i, edges in enumerate(genotype.cell):
        for e in edges:
            (x0, y0), (x1, y1) = pos[e.input], pos[i + 2]
            rad = 0.12 if abs(x1 - x0) <= 2.3 else 0.32  # long edges bend more, away from the short ones
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops=dict(arrowstyle="-|>", color=colors[e.op], lw=1.8, shrinkA=18, shrinkB=18,
                                        connectionstyle=f"arc3,rad={rad}"))
            # label at the curve's midpoint (arc3's control point is mid + rad * (dy, -dx))
            lx, ly = (x0 + x1) / 2 + 0.5 * rad * (y1 - y0), (y0 + y1) / 2 - 0.5 * rad * (x1 - x0)
            ax.text(lx, ly, e.op, fontsize=8, ha="center", va="center", color=colors[e.op],
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
    for i in range(m):
        (x0, y0) = pos[i + 2]
        ax.annotate("", xy=out_pos, xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color="0.6", lw=1.0, ls="--", shrinkA=18, shrinkB=22))
    for k, (x, y) in pos.items():
        label = Genotype.input_name(k).replace("node ", "") if k >= 2 else Genotype.input_name(k)
        fc = "#dbe9f6" if k < 2 else "#fde8c8"
        ax.text(x, y, f"${label}$" if k < 2 else label, ha="center", va="center", fontsize=10,
                bbox=dict(boxstyle="round,pad=0.4", fc=fc, ec="0.3"))
    ax.text(*out_pos, "concat\n$C_{l}$", ha="center", va="center", fontsize=10,
            bbox=dict(boxstyle="round,pad=0.4", fc="#d9f2d9", ec="0.3"))
    ax.set_xlim(-0.8, out_pos[0] + 0.9)
    ax.set_ylim(-1.4, 3.4)
    ax.axis("off")
    title = f"searched cell (space {genotype.space}, {genotype.nodes} nodes, x{genotype.cells} cells)"
    ax.set_title(title + (f"\n{genotype.macro_text()}" if genotype.macro else ""), fontsize=10)
    fig.tight_layout()
    return fig


def draw_alphas(rows: list[list], ops) -> "object":
    """Softmax weight of each op on each edge over the epochs (one panel per edge)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    series: dict[tuple[int, int], dict[str, list[tuple[int, float]]]] = {}
    for epoch, node, inp, op, prob in rows:
        series.setdefault((int(node), int(inp)), {}).setdefault(op, []).append((int(epoch), float(prob)))
    edges = sorted(series)
    cols = min(4, len(edges))
    nrows = -(-len(edges) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(2.6 * cols, 2.1 * nrows + 0.5), squeeze=False, sharey=True)
    palette = plt.get_cmap("tab10")
    for ax, edge in zip(axes.ravel(), edges):
        for k, op in enumerate(ops):
            pts = series[edge].get(op, [])
            if pts:
                ax.plot(*zip(*pts), color=palette(k % 10), lw=1.5, marker="." if len(pts) < 12 else None, label=op)
        src = Genotype.input_name(edge[1])
        ax.set_title(f"node {edge[0]} <- {f'${src}$' if edge[1] < 2 else src}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(edges):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("softmax weight", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig

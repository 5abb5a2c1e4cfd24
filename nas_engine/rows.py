"""The rows of a benchmark table: what each (row, seed) entry runs. A task lists its own tables of
these (``Task.benchmark_tables``); the application runs them (``nasengine benchmark``)."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("method", "baseline", "nas", "random")
# search options read only after the supernet is trained (SPOS' candidate search, DARTS' selection)
SELECTION_SETS = ("search.max_flops=", "search.candidates=", "search.eval_batches=",
                  "search.finetune_steps=", "search.select=", "search.finetune_ladder=", "search.halving_eta=")

NAS_A3_NAME = "NAS A 3n"  # the searched row every task's tables can share: space A, 3 nodes


@dataclass(frozen=True)
class Entry:
    name: str  # row label, matches the task's paper tables
    kind: str  # "method" (non-learned, evaluate --method), "baseline" (retrain --method), "nas" (search +
    # retrain), "random" (retrain the genotype given)
    method: str = ""
    space: str = "A"
    nodes: int = 3
    core: bool = False  # a row the verdict needs: run over all --seeds
    sets: tuple[str, ...] = ()  # extra --set options of the retraining (e.g. the paper's width)
    search_of: str = ""  # nas: retrain the cell searched by this entry (same seed) instead of searching
    search_sets: tuple[str, ...] = ()  # nas: extra --set options of the search (e.g. a cost weight)
    genotype: str = ""  # random: the cell, as JSON
    supernet_of: str = ""  # nas: start from this entry's trained supernet (same seed): the two searches differ
    # only in how the architecture is chosen from it (SELECTION_SETS), so training it again would repeat it

    @property
    def slug(self) -> str:
        return (self.name.lower().replace(" ", "_").replace("-", "_").replace("<=", "le_").replace("=", "")
                .replace(",", "").replace("/", "_"))

    @property
    def searched(self) -> bool:
        return self.kind == "nas"

    @property
    def unused_settings(self) -> tuple[str, ...]:
        """Config sections this entry's steps never read: a change there leaves its result valid (a
        hand-made baseline does not care about the searched module's ``model.bias``)."""
        return {"method": ("model.", "search.", "train."), "baseline": ("model.", "search."),
                "random": ("search.",)}.get(self.kind, ())

    def signature(self) -> dict:
        sig = {"kind": self.kind, "method": self.method, "space": self.space, "nodes": self.nodes,
               "sets": list(self.sets), "search_of": self.search_of, "genotype": self.genotype}
        if self.search_sets:  # only when given: the keys of results kept before it existed stay the same
            sig["search_sets"] = list(self.search_sets)
        if self.supernet_of:
            sig["supernet_of"] = self.supernet_of
        return sig


NAS_A3 = Entry(NAS_A3_NAME, "nas", space="A", nodes=3, core=True)

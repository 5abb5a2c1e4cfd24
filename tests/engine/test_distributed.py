"""Several processes without starting any: the sampler's split of global batches, rank detection,
the compute settings and their errors, and how the benchmark hands them to its training steps."""

from types import SimpleNamespace

import pytest
import torch

from nas_engine.app.cli import main
from nas_engine.distributed import Compute, rank_spread
from nas_engine.sampling import EpochShuffle, seeded_loader

TINY = ["--config", "tiny", "--no-progress"]


@pytest.mark.parametrize("args,msg", [
    (["--devices", "0"], "--devices must be at least 1"),
    (["--strategy", "ddp_spawn"], "--ddp-strategy ddp_spawn: expected one of auto, ddp"),
    (["--ddp-strategy", "fsdp"], "--ddp-strategy fsdp: expected one of auto, ddp"),
    (["--strategy", "spos"], "for the search strategy write --set search.strategy=spos"),
    (["--accelerator", "tpu"], "--accelerator tpu: expected one of"),
    (["--devices", "2", "--set", "train.batch_size=3"], "train.batch_size=3 cannot be split over 2 processes"),
])
def test_bad_compute_options_one_line_exit_2(capsys, tmp_path, args, msg):
    out = tmp_path / "run"
    rc = main(["retrain", "--method", "dccnn-1", "--out", str(out), *TINY, *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert msg in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_sampler_splits_each_global_batch_over_the_ranks(monkeypatch):
    import nas_engine.sampling as L

    n, B, world = 11, 4, 2
    one = list(EpochShuffle(n, seed=3, batch_size=B))
    batches = [one[k:k + B] for k in range(0, n, B)]
    per_rank = []
    for rank in range(world):
        monkeypatch.setattr(L, "rank_and_world", lambda r=rank: (r, world))
        s = EpochShuffle(n, seed=3, batch_size=B, world=world)
        idx = list(s)
        assert len(idx) == len(s) == 6  # 11 samples -> 3 global batches of 4, 2 per rank each
        per_rank.append([idx[k:k + B // world] for k in range(0, len(idx), B // world)])
    merged = [a + b for a, b in zip(*per_rank)]
    assert merged[:2] == batches[:2]  # whole batches: exactly the one-process batches
    assert merged[2][:3] == batches[2]  # the last one is padded by wrapping around
    assert merged[2][3] == one[0]
    with pytest.raises(ValueError):
        seeded_loader(list(range(n)), batch_size=3, seed=0, world=2)


def test_rank_spread_sees_processes_that_disagree():
    def trainer(*per_rank):
        return SimpleNamespace(world_size=len(per_rank),
                               strategy=SimpleNamespace(all_gather=lambda t: torch.stack(list(per_rank))))

    a = torch.tensor([0.1, 0.2, 0.3])
    assert rank_spread(SimpleNamespace(world_size=1), [a]) == 0.0
    assert rank_spread(trainer(a, a.clone()), [a]) == 0.0
    assert rank_spread(trainer(a, a + torch.tensor([0, 0.5, 0])), [a]) == pytest.approx(0.5)


def test_compute_maps_to_lightning(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the mapping, not this machine
    assert Compute().trainer_kwargs() == {"accelerator": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto"}
    kw = Compute(accelerator="gpu", devices=4, num_nodes=2).trainer_kwargs()
    assert kw["strategy"] == "ddp" and kw["devices"] == 4 and kw["num_nodes"] == 2
    assert Compute(devices=2, num_nodes=3).world == 6


@pytest.mark.parametrize("env,rank", [
    ({}, 0),
    ({"LOCAL_RANK": "1"}, 1),  # Lightning's extra local process
    ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, 10_000),  # the first process of the second node
    ({"RANK": "3", "LOCAL_RANK": "1"}, 3),  # torchrun
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "2"}, 2),  # srun
    ({"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}, 0),
])
def test_launched_rank_reads_the_launchers_environment(monkeypatch, env, rank):
    from nas_engine.distributed import launched_rank

    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert launched_rank() == rank


def test_benchmark_tables_hand_the_compute_flags_to_the_training_steps(monkeypatch, tmp_path):
    import nas_engine.app.tables as T

    calls = []

    def fake_run(argv, own_process=False, cli=None):
        calls.append((argv[0], own_process, argv))
        if argv[0] == "evaluate":
            out = argv[argv.index("--out") + 1]
            Path(out).write_text('{"overall": {}}')

    from pathlib import Path

    monkeypatch.setattr(T, "_run", fake_run)
    monkeypatch.setattr(T, "complexity_of", lambda *a: {})
    from nas_engine.rows import NAS_A3

    entry = NAS_A3
    flags = Compute(devices=2).cli_args()
    assert flags == ["--devices", "2"]
    plan = T.Plan(common=["--config", "tiny"], work=tmp_path / "w", out=tmp_path / "o", compute=flags)
    T.run_seed(entry, 0, plan)
    kinds = {k: (own, argv) for k, own, argv in calls}
    for step in ("search", "retrain"):
        own, argv = kinds[step]
        assert own and argv[-2:] == ["--devices", "2"]
    own, argv = kinds["evaluate"]
    assert not own and "--devices" not in argv

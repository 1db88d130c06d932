"""Supernet training: schedule, sampler, checkpoints and exact resume, 2-process gloo run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from segevo.nets.train import (
    AugmentSampler,
    TrainConfig,
    TrainProgress,
    load_checkpoint,
    load_supernet,
    phase_at,
    poly_lr,
    save_checkpoint,
    train_supernet,
)

torch.set_num_threads(1)

TINY = {
    "space": "tiny",
    "space_options": {"base_hw": [32, 64]},
    "dataset": "synthetic",
    "dataset_options": {"size": [32, 64], "length": 8, "num_classes": 4},
    "batch_size": 2,
    "num_threads": 1,
    "lr": 0.02,
}


def tiny_config(**changes: object) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, **changes})


def test_poly_schedule_and_phases() -> None:
    assert poly_lr(0.01, 0.0, 0.9) == pytest.approx(0.01)
    assert poly_lr(0.01, 0.5, 0.9) == pytest.approx(0.01 * 0.5**0.9)
    assert poly_lr(0.01, 1.0, 0.9) == 0.0
    assert poly_lr(0.01, 1.5, 0.9) == 0.0
    phases = (("depth", 0.0), ("expand", 0.25), ("width", 0.5))
    assert [phase_at(p, phases) for p in (0.0, 0.2, 0.25, 0.49, 0.5, 0.99)] == [
        "depth",
        "depth",
        "expand",
        "expand",
        "width",
        "width",
    ]


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="steps, time_budget_s"):
        TrainConfig(steps=None, time_budget_s=None)
    with pytest.raises(ValueError, match="unknown phase"):
        TrainConfig(phases=(("depth", 0.0), ("kernel", 0.5)))
    with pytest.raises(ValueError, match=r"start at 0\.0"):
        TrainConfig(phases=(("depth", 0.1),))
    with pytest.raises(ValueError, match="increase"):
        TrainConfig(phases=(("depth", 0.0), ("width", 0.6), ("expand", 0.3)))
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="crop_size"):
        TrainConfig(crop_size=(0, 4))
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"epochs": 3})
    config = tiny_config(steps=3)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_augment_sampler_partitions_ranks_and_resumes() -> None:
    def take(sampler: AugmentSampler, n: int) -> list[tuple[int, int]]:
        stream = iter(sampler)
        return [next(stream) for _ in range(n)]

    rank0 = take(AugmentSampler(10, rank=0, world_size=2, seed=1), 10)
    rank1 = take(AugmentSampler(10, rank=1, world_size=2, seed=1), 10)
    # One epoch = 5 items per rank; together the ranks see every index exactly once.
    first_epoch = {i for i, _ in rank0[:5]} | {i for i, _ in rank1[:5]}
    assert first_epoch == set(range(10))
    assert [i for i, _ in rank0[:5]] != [i for i, _ in rank0[5:]], "each epoch reshuffles"
    assert len({seed for _, seed in rank0 + rank1}) == 20, "every sample gets its own seed"
    resumed = take(AugmentSampler(10, rank=0, world_size=2, seed=1, start=7), 3)
    assert resumed == rank0[7:10]
    with pytest.raises(ValueError, match="ranks"):
        AugmentSampler(1, rank=0, world_size=2, seed=0)


def test_checkpoint_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"kind": "segevo-supernet", "format": 1, "step": 1})
    assert load_checkpoint(tmp_path)["step"] == 1

    class Unpicklable:
        def __reduce__(self) -> tuple:
            raise RuntimeError("cannot save this")

    with pytest.raises(RuntimeError, match="cannot save"):
        save_checkpoint(
            path, {"kind": "segevo-supernet", "format": 1, "step": 2, "x": Unpicklable()}
        )
    assert load_checkpoint(path)["step"] == 1, "a failed write keeps the previous checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"], "no temporary file left"
    torch.save({"kind": "other"}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a segevo supernet checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_exactly(tmp_path: Path) -> None:
    seen: list[TrainProgress] = []
    straight = train_supernet(tiny_config(steps=3), progress=seen.append)
    assert straight.steps == 3 and [p.step for p in seen] == [1, 2, 3]
    assert seen[0].phase == "depth" and seen[1].phase == "expand" and seen[2].phase == "width"
    assert seen[0].lr == pytest.approx(0.02) and seen[1].lr < seen[0].lr
    assert all(p.images_per_s > 0 and np.isfinite(p.loss) for p in seen)

    def stop_after_two(state: TrainProgress) -> None:
        if state.step == 2:
            raise Interrupt

    config = tiny_config(steps=3, checkpoint_dir=str(tmp_path), checkpoint_interval_s=1e-9)
    with pytest.raises(Interrupt):
        train_supernet(config, progress=stop_after_two)
    saved = load_checkpoint(tmp_path)
    assert saved["step"] == 2 and not saved["finished"]
    resumed = train_supernet(config)
    assert resumed.resumed_from_step == 2 and resumed.steps == 3
    assert load_checkpoint(tmp_path)["finished"]
    for name, value in straight.supernet.state_dict().items():
        assert torch.equal(value, resumed.supernet.state_dict()[name]), name
    assert resumed.losses == pytest.approx(straight.losses)

    net, payload = load_supernet(tmp_path)
    assert payload["class_names"][0] == "background" and payload["num_classes"] == 4
    for name, value in net.state_dict().items():
        assert torch.equal(value, resumed.supernet.state_dict()[name]), name
    with pytest.raises(ValueError, match="resume is off"):
        train_supernet(tiny_config(steps=3, checkpoint_dir=str(tmp_path), resume=False))
    with pytest.raises(ValueError, match="another space or class count"):
        train_supernet(
            tiny_config(
                steps=4,
                checkpoint_dir=str(tmp_path),
                dataset_options={"size": [32, 64], "length": 8, "num_classes": 5},
            )
        )


def test_time_budget_ends_the_run() -> None:
    result = train_supernet(tiny_config(steps=None, time_budget_s=0.5, random_subnets=0))
    assert result.steps >= 1 and result.elapsed_s >= 0.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_gloo_processes_end_with_identical_weights(tmp_path: Path) -> None:
    script = tmp_path / "run_rank.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys, torch
            from segevo.nets.train import TrainConfig, train_supernet
            config = TrainConfig.from_dict({{**{TINY!r}, "steps": 2, "checkpoint_dir": {str(tmp_path / "ck")!r}}})
            result = train_supernet(config)
            torch.save(result.supernet.state_dict(), {str(tmp_path)!r} + f"/rank{{os.environ['RANK']}}.pt")
            """
        )
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        str(script),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    saved = load_checkpoint(tmp_path / "ck")["model"]
    torch.manual_seed(0)
    from segevo.nets.space import get_space
    from segevo.nets.supernet import SuperNet

    initial = SuperNet(get_space("tiny", base_hw=(32, 64)), 4).state_dict()
    changed = 0
    for name, value in rank0.items():
        assert torch.equal(value, rank1[name]), f"replicas differ in {name}"
        assert torch.equal(value, saved[name]), f"checkpoint differs in {name}"
        changed += int(not torch.equal(value, initial[name]))
    assert changed > len(rank0) // 2, "training changed the weights"


def test_standalone_fine_tune_updates_an_extracted_network() -> None:
    from segevo.nets.datasets import get_dataset
    from segevo.nets.space import get_space
    from segevo.nets.supernet import SuperNet
    from segevo.nets.train import train_standalone
    from segevo.nets.transforms import RandomScaleCropFlip

    space = get_space("tiny", base_hw=(32, 48))
    torch.manual_seed(0)
    net = SuperNet(space, 4).extract(space.smallest(), with_aux=True)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    data = get_dataset(
        "synthetic",
        "train",
        size=(32, 48),
        length=4,
        num_classes=4,
        augment=RandomScaleCropFlip((32, 48)),
    )
    events: list[TrainProgress] = []
    losses = train_standalone(
        net, data, steps=2, input_hw=(16, 24), batch_size=2, progress=events.append
    )
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert [(e.step, e.steps, e.progress, e.phase) for e in events] == [
        (1, 2, 0.5, "standalone"),
        (2, 2, 1.0, "standalone"),
    ]
    assert [e.loss for e in events] == losses
    assert events[0].lr == pytest.approx(0.01) and events[1].lr == pytest.approx(0.01 * 0.5**0.9)
    assert not net.training
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("aux16") for k in changed) and any(
        k.startswith("stem") for k in changed
    )
    with pytest.raises(ValueError, match="steps"):
        train_standalone(net, data, steps=0)


def test_retired_and_optional_fields_keep_old_configs_and_cache_keys() -> None:
    old = TrainConfig.from_dict({**TINY, "display": True})  # written before drawing moved out
    assert old == tiny_config()
    assert "display" not in old.to_dict() and "init_from" not in old.to_dict()
    assert tiny_config(init_from="sn.pt").to_dict()["init_from"] == str(Path("sn.pt").resolve())
    with pytest.raises(ValueError, match="init_from"):
        tiny_config(init_from="")


def test_module_entry_point_reports_progress_lines_and_draws_nothing(tmp_path: Path) -> None:
    settings = [f"{k}={json.dumps(v)}" for k, v in {**TINY, "steps": 2}.items()]
    argv = ["segevo.nets.train", "--every", "0"]
    for item in settings:
        argv += ["--set", item]
    code = textwrap.dedent(
        f"""
        import runpy, sys
        sys.argv = {argv!r}
        try:
            runpy.run_module("segevo.nets.train", run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            assert exit.code == 0, exit.code
        print("rich imported:", "rich" in sys.modules)
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[0])["steps"] == 2 and lines[1] == "rich imported: False"
    progress = [line for line in done.stderr.splitlines() if line.startswith("supernet ")]
    assert len(progress) == 2 and "100.0%  step 2" in progress[-1]

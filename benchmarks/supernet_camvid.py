"""Evidence on real data: does a supernet trained briefly on CamVid rank sub-networks?

Trains the ``tiny`` supernet on CamVid train at reduced resolution for a fixed CPU budget
(default 30 minutes), then reports, on CamVid val:

* mIoU with inherited weights (BN recalibrated) of the largest, the smallest and 5 random
  sub-networks, and the majority-class baseline (predict the most frequent training class);
* the Kendall tau between inherited-weight mIoU and mIoU after a short standalone
  fine-tune of 8 sub-networks (those 7 plus one more random one): the paper's premise that
  inherited weights rank architectures.

Usage::

    python benchmarks/supernet_camvid.py                       # full run (about 30 + 10 min)
    python benchmarks/supernet_camvid.py --minutes 2 --finetune-steps 3 --val-images 12
    python benchmarks/supernet_camvid.py --dataset synthetic   # the built-in data set instead

Results go to ``OUT/results.json`` (OUT defaults to ``$SEGEVO_CACHE/bench-supernet-camvid``),
including the trained checkpoint's path; a rerun with the same OUT resumes an interrupted
training run from its last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from segevo.nets.datasets import get_dataset
from segevo.nets.evaluate import (
    calibration_batches,
    evaluate_subnet,
    recalibrate_batchnorm,
    score_model,
)
from segevo.nets.metrics import mean_iou
from segevo.nets.paths import cache_dir
from segevo.nets.train import (
    TrainConfig,
    TrainProgress,
    build_train_dataset,
    default_crop,
    subnet_input_hw,
    train_standalone,
    train_supernet,
)

DEFAULT_CAMVID = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "camvid"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("SEGEVO_CAMVID", DEFAULT_CAMVID))
    )
    parser.add_argument("--dataset", default=None, help="data set spec (default camvid:DATA)")
    parser.add_argument("--minutes", type=float, default=30.0, help="supernet training budget")
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=(96, 128),
        metavar=("H", "W"),
        help="reduced training resolution = the tiny space's base size",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--random", type=int, default=5, help="random sub-networks to report")
    parser.add_argument("--rank-subnets", type=int, default=8, help="sub-networks for Kendall tau")
    parser.add_argument("--finetune-steps", type=int, default=60)
    parser.add_argument("--finetune-lr", type=float, default=0.01)
    parser.add_argument("--calib-batches", type=int, default=8)
    parser.add_argument("--val-images", type=int, default=None, help="score only the first N")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args(argv)


def majority_baseline(train, val) -> tuple[float, str]:
    """mIoU on val of predicting the most frequent training class everywhere."""
    majority = int(np.argmax(train.label_counts()))
    confusion = np.zeros((val.num_classes, val.num_classes), dtype=np.int64)
    confusion[:, majority] = val.label_counts()
    return mean_iou(confusion), val.class_names[majority]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = args.dataset or f"camvid:{args.data}"
    out = args.out or cache_dir() / "bench-supernet-camvid"
    out.mkdir(parents=True, exist_ok=True)
    size = (int(args.size[0]), int(args.size[1]))
    # The synthetic set is generated at the requested size; file sets are resized on load.
    data_options = {"size": list(size)} if spec.startswith("synthetic") else {}
    config = TrainConfig(
        space="tiny",
        space_options={"base_hw": list(size)},
        dataset=spec,
        dataset_options=data_options,
        data_size=None if data_options else size,
        batch_size=args.batch_size,
        steps=None,
        time_budget_s=args.minutes * 60.0,
        lr=args.lr,
        checkpoint_dir=str(out / "supernet"),
        checkpoint_interval_s=120.0,
        seed=args.seed,
        num_threads=args.threads,
    )
    print(f"training the tiny supernet on {spec} at {size} for {args.minutes:g} min -> {out}")
    last_print = [0.0]

    def report(state: TrainProgress) -> None:
        if state.elapsed_s - last_print[0] >= 30 or state.progress >= 1.0:
            last_print[0] = state.elapsed_s
            print(
                f"  step {state.step:5d}  {state.elapsed_s:7.0f}s  phase {state.phase:6s}  "
                f"loss {state.loss:.3f}  lr {state.lr:.4f}  {state.images_per_s:.1f} img/s",
                flush=True,
            )

    trained = train_supernet(config, progress=report)
    supernet, space = trained.supernet, trained.supernet.space

    load_options = {**data_options} if data_options else {"size": size}
    train_plain = get_dataset(spec, "train", **load_options)
    # Validation labels at full resolution for file data sets (logits are upsampled to them).
    val = get_dataset(spec, "val", **data_options)
    baseline, majority_name = majority_baseline(train_plain, val)

    rng = np.random.default_rng(args.seed + 1)
    named = [("largest", space.largest()), ("smallest", space.smallest())]
    named += [(f"random{k + 1}", x) for k, x in enumerate(space.sample(args.random, rng))]
    while len(named) < args.rank_subnets:
        named.append((f"random{len(named) - 1}", space.sample(1, rng)[0]))

    def inherited(x: np.ndarray) -> dict:
        result = evaluate_subnet(
            supernet,
            x,
            train_plain,
            val,
            calib_batches=args.calib_batches,
            calib_batch_size=args.batch_size,
            max_val_images=args.val_images,
            seed=args.seed,
        )
        return result.as_dict()

    rows = []
    for name, x in named:
        t0 = time.perf_counter()
        result = inherited(x)
        rows.append(
            {
                "name": name,
                "x": [int(v) for v in x],
                "mflops": space.flops(x, val.num_classes) / 1e6,
                "params": int(space.params(x, val.num_classes)),
                "inherited_miou": result["miou"],
                "inherited_iou": result["iou"],
                "seconds_per_image": result["seconds_per_image"],
            }
        )
        print(
            f"  {name:9s} inherited mIoU {result['miou']:.4f}  ({time.perf_counter() - t0:.0f}s)",
            flush=True,
        )

    crop_hw = default_crop(space, config)
    train_augmented = build_train_dataset(config, crop_hw)
    for row in rows[: args.rank_subnets]:
        x = np.array(row["x"])
        t0 = time.perf_counter()
        net = supernet.extract(x, with_aux=True)
        losses = train_standalone(
            net,
            train_augmented,
            steps=args.finetune_steps,
            input_hw=subnet_input_hw(space, x, crop_hw),
            batch_size=args.batch_size,
            lr=args.finetune_lr,
            seed=args.seed,
        )
        hw = space.decode(x).input_hw
        recalibrate_batchnorm(
            net,
            calibration_batches(
                train_plain,
                hw,
                batches=args.calib_batches,
                batch_size=args.batch_size,
                seed=args.seed,
            ),
        )
        confusion, _, _ = score_model(
            net, val, hw, num_classes=val.num_classes, max_images=args.val_images
        )
        row["finetuned_miou"] = confusion.miou()
        row["finetune_final_loss"] = losses[-1]
        print(
            f"  {row['name']:9s} fine-tuned mIoU {row['finetuned_miou']:.4f}  "
            f"({time.perf_counter() - t0:.0f}s)",
            flush=True,
        )

    ranked = [r for r in rows if "finetuned_miou" in r]
    tau = stats.kendalltau(
        [r["inherited_miou"] for r in ranked], [r["finetuned_miou"] for r in ranked]
    )
    rho = stats.spearmanr(
        [r["inherited_miou"] for r in ranked], [r["finetuned_miou"] for r in ranked]
    )
    summary = {
        "dataset": spec,
        "train_size": list(size),
        "train_minutes": args.minutes,
        "train_steps": trained.steps,
        "train_elapsed_s": trained.elapsed_s,
        "final_loss": trained.final_loss,
        "checkpoint": str(trained.checkpoint),
        "majority_class": majority_name,
        "majority_baseline_miou": baseline,
        "val_images": min(len(val), args.val_images or len(val)),
        "finetune_steps": args.finetune_steps,
        "kendall_tau": float(tau.statistic),
        "kendall_p": float(tau.pvalue),
        "spearman_rho": float(rho.statistic),
        "subnets": rows,
        "threads": args.threads,
        "torch": torch.__version__,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2))

    print()
    print(f"{'sub-network':11s} {'MMAC':>8s} {'inherited':>10s} {'fine-tuned':>11s}")
    for r in rows:
        tuned = f"{r['finetuned_miou']:.4f}" if "finetuned_miou" in r else "-"
        print(f"{r['name']:11s} {r['mflops']:8.1f} {r['inherited_miou']:10.4f} {tuned:>11s}")
    print(f"majority-class baseline ({majority_name}): mIoU {baseline:.4f}")
    print(
        f"Kendall tau (inherited vs fine-tuned, {len(ranked)} nets): {tau.statistic:.3f} "
        f"(p = {tau.pvalue:.3f}); Spearman {rho.statistic:.3f}"
    )
    print(f"supernet checkpoint: {trained.checkpoint}")
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

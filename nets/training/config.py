"""What defines a supernet training run, what its progress callback receives, what it returns."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segevo.nets.space import PHASES
from segevo.nets.transforms import PAPER_SCALES

if TYPE_CHECKING:
    from segevo.nets.supernet import SuperNet

DEFAULT_PHASES: tuple[tuple[str, float], ...] = (("depth", 0.0), ("expand", 0.25), ("width", 0.5))

# Fields of earlier versions that are accepted and ignored: ``display`` (drawing moved to the
# command line, which passes a progress callback).
_RETIRED_FIELDS = frozenset({"display"})
# Fields added after the first version, written by ``to_dict`` only when set, so that the
# cache keys of supernets trained before they existed stay the same.
_OPTIONAL_FIELDS = frozenset({"init_from"})


def _pair(value: Any, what: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        value = (value, value)
    pair = tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"{what} must be (height, width) with positive integers, got {value!r}")
    return int(pair[0]), int(pair[1])


@dataclass
class TrainConfig:
    """Everything that defines a supernet training run (JSON-able; checked on creation).

    ``steps`` and/or ``time_budget_s`` bound the run (training stops at the first reached).
    ``crop_size`` defaults to the space's base resolution; ``data_size`` resizes every image on
    load (use it to train at reduced resolution). ``phases`` lists ``(phase, start)`` pairs:
    the sampling phase (``depth``, ``expand``, ``width``) that begins at that fraction of the
    run. ``device`` ``"auto"`` picks ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.
    ``init_from`` is a segevo supernet checkpoint of the same space (e.g. one written by
    ``segevo supernet import-ofa``) whose weights a fresh run starts from instead of random
    ones; tensors whose shape depends on the class count are kept only when it agrees.
    """

    space: str = "tiny"
    space_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "synthetic"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    split: str = "train"
    data_size: tuple[int, int] | None = None
    crop_size: tuple[int, int] | None = None
    scales: tuple[float, ...] = PAPER_SCALES
    batch_size: int = 8
    steps: int | None = 1000
    time_budget_s: float | None = None
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-5
    poly_power: float = 0.9
    phases: tuple[tuple[str, float], ...] = DEFAULT_PHASES
    random_subnets: int = 1
    checkpoint_dir: str | None = None
    checkpoint_interval_s: float = 300.0
    resume: bool = True
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    num_threads: int | None = None
    init_from: str | None = None

    def __post_init__(self) -> None:
        self.data_size = _pair(self.data_size, "data_size")
        self.crop_size = _pair(self.crop_size, "crop_size")
        self.scales = tuple(float(s) for s in self.scales)
        if not self.scales or any(not math.isfinite(s) or s <= 0 for s in self.scales):
            raise ValueError(f"scales must be positive numbers, got {self.scales!r}")
        self.phases = tuple((str(name), float(start)) for name, start in self.phases)
        if not self.phases or self.phases[0][1] != 0.0:
            raise ValueError(f"phases must start at 0.0, got {self.phases!r}")
        starts = [start for _, start in self.phases]
        if starts != sorted(starts) or starts[-1] >= 1.0:
            raise ValueError(f"phase starts must increase within [0, 1), got {self.phases!r}")
        for name, _ in self.phases:
            if name not in PHASES:
                raise ValueError(f"unknown phase {name!r}; known: {', '.join(PHASES)}")
        if self.steps is None and self.time_budget_s is None:
            raise ValueError("give steps, time_budget_s or both (training needs an end)")
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"time_budget_s must be > 0, got {self.time_budget_s!r}")
        positive = {
            "batch_size": self.batch_size,
            "lr": self.lr,
            "checkpoint_interval_s": self.checkpoint_interval_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if not isinstance(self.batch_size, int):
            raise ValueError(f"batch_size must be an integer, got {self.batch_size!r}")
        if not 0 <= self.momentum < 1 or self.weight_decay < 0 or self.poly_power < 0:
            raise ValueError(
                "need 0 <= momentum < 1, weight_decay >= 0 and poly_power >= 0, got "
                f"{self.momentum}, {self.weight_decay}, {self.poly_power}"
            )
        if not isinstance(self.random_subnets, int) or self.random_subnets < 0:
            raise ValueError(f"random_subnets must be an integer >= 0, got {self.random_subnets!r}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.init_from is not None:
            if not isinstance(self.init_from, str | Path) or not str(self.init_from):
                raise ValueError(
                    f"init_from must be the path of a supernet checkpoint, got {self.init_from!r}"
                )
            # absolute: the path is part of the cache key, which must not depend on the cwd
            self.init_from = str(Path(self.init_from).expanduser().resolve())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (tuples become lists; unset later-added fields are left out)."""
        values = json.loads(json.dumps(dataclasses.asdict(self)))
        for name in _OPTIONAL_FIELDS:
            if values.get(name) is None:
                values.pop(name, None)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k not in _RETIRED_FIELDS}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


@dataclass(frozen=True)
class TrainProgress:
    """What a progress callback receives after each step.

    ``phase`` is the progressive-shrinking phase of a supernet step, ``"standalone"`` for a
    step of :func:`segevo.nets.train.train_standalone`. ``progress`` is in [0, 1].
    """

    step: int
    steps: int | None
    elapsed_s: float
    time_budget_s: float | None
    progress: float
    phase: str
    lr: float
    loss: float
    images_per_s: float


@dataclass
class TrainResult:
    """The trained supernet, where it was saved and how the run went.

    ``initialised_from`` is the checkpoint a fresh run took its first weights from
    (``TrainConfig.init_from``), None when it started from random weights or resumed.
    """

    supernet: SuperNet
    checkpoint: Path | None
    steps: int
    elapsed_s: float
    final_loss: float
    resumed_from_step: int
    losses: list[float]
    initialised_from: str | None = None

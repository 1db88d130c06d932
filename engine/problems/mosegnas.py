"""``mosegnas``: the paper's search problem on a trained supernet and a latency look-up table.

An architecture is a vector of a :mod:`segevo.nets.space` search space (``tiny`` or ``r50``):

- ``latency(X)`` is the latency look-up table's prediction (paper Eq. 7), in milliseconds;
- ``evaluate(x)`` is the paper's Algorithm 2: the sub-network inherits the supernet's weights,
  its batch-norm statistics are recalibrated on a few training batches, and its mIoU on the
  validation images is the accuracy; the extracted sub-network is then timed on the target
  device (``lat_ms``), the same way ``segevo lut check`` times whole networks.

Options (keyword-only, all msgpack-able so a remote evaluator rebuilds the same problem from
``spec()``): ``supernet`` (checkpoint path), ``lut`` (latency table path), ``space`` and
``space_options``, ``dataset`` (``synthetic``, ``camvid:PATH``...) and ``dataset_options``,
``device`` (the latency target, ``cpu`` or ``cuda[:i]``) and ``device_options``,
``eval_device`` (where mIoU is computed; default: ``device``), ``calib_batches``,
``calib_batch_size``, ``val_images``, ``measure_latency``, ``threads``, ``seed``, and
``train`` / ``lut_protocol`` (the settings a cached supernet / table was made with).

Without ``supernet`` (``lut``), the problem takes the checkpoint (table) that
:func:`ensure_supernet` (:func:`ensure_lut`) keeps in ``segevo.nets.paths.cache_dir()`` for
these settings, and refuses with instructions when there is none yet; ``segevo run`` makes
them first (:mod:`segevo.engine.problems.mosegnas_setup`, whose names this module
re-exports). Importing this module does not import torch; loading the supernet does.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segevo.engine.problem import Problem
from segevo.engine.problems.mosegnas_setup import (
    DEFAULT_DATASET,
    DEFAULT_SPACE,
    SUPERNET_FILE,
    MoSegNASSetupError,
    canonical_dataset,
    ensure_lut,
    ensure_supernet,
    finished_checkpoint,
    lists_to_tuples,
    lut_cache_path,
    space_from_options,
    supernet_cache_dir,
    train_config,
)
from segevo.nets import plugins

__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_SPACE",
    "MoSegNASProblem",
    "MoSegNASSetupError",
    "canonical_dataset",
    "check_options",
    "ensure_lut",
    "ensure_supernet",
    "lists_to_tuples",
    "lut_cache_path",
    "mosegnas_factory",
    "space_from_options",
    "supernet_cache_dir",
]


def _check_scalars(
    *,
    calib_batches: Any,
    calib_batch_size: Any,
    val_images: Any,
    threads: Any,
    measure_latency: Any,
    seed: Any,
    eval_device: Any,
) -> None:
    def positive(value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, int) and value >= 1

    for name, value in (("calib_batches", calib_batches), ("calib_batch_size", calib_batch_size)):
        if not positive(value):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if val_images is not None and not positive(val_images):
        raise ValueError(f"val_images must be an integer >= 1 or absent, got {val_images!r}")
    if threads is not None and not positive(threads):
        raise ValueError(f"threads must be an integer >= 1 or absent, got {threads!r}")
    if not isinstance(measure_latency, bool):
        raise ValueError(f"measure_latency must be true or false, got {measure_latency!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if eval_device is not None:
        name, _, index = str(eval_device).partition(":")
        if name not in ("cpu", "cuda") or (index and not index.isdigit()):
            raise ValueError(f"eval_device must be cpu, cuda or cuda:<i>, got {eval_device!r}")


def _option_names() -> list[str]:
    return plugins.keyword_options(MoSegNASProblem) or []


def check_options(options: Mapping[str, Any]) -> None:
    """Validate ``mosegnas`` options without loading or making anything (cheap).

    Checks the names, the numbers, the space, the data set's folder, the device, and the
    training and measuring settings, so that a mistake is reported before minutes of
    supernet training or table building rather than after.
    """
    plugins.check_options("problem", "mosegnas", options, _option_names())
    _check_scalars(
        calib_batches=options.get("calib_batches", 8),
        calib_batch_size=options.get("calib_batch_size", 8),
        val_images=options.get("val_images"),
        threads=options.get("threads"),
        measure_latency=options.get("measure_latency", True),
        seed=options.get("seed", 0),
        eval_device=options.get("eval_device"),
    )
    from segevo.devices import get_device
    from segevo.devices.measurement import Protocol

    space = str(options.get("space", DEFAULT_SPACE))
    space_from_options(space, options.get("space_options"))
    dataset = canonical_dataset(options.get("dataset", DEFAULT_DATASET))
    device = get_device(
        str(options.get("device", "cpu")), **dict(options.get("device_options") or {})
    )
    if options.get("supernet") is None:
        train_config(
            space,
            options.get("space_options"),
            dataset,
            options.get("dataset_options"),
            options.get("train"),
        )
    if options.get("lut") is None:
        protocol = getattr(device, "protocol", Protocol())
        protocol.with_overrides(**dict(options.get("lut_protocol") or {}))


# --------------------------------------------------------------------------- the problem


@dataclass
class _Loaded:
    template: Any  # the supernet as loaded; copied, never evaluated
    train_data: Any
    val_data: Any
    device: Any  # a segevo.devices.Device (the latency target)
    eval_device: Any  # a torch.device
    num_classes: int
    class_names: tuple[str, ...]


class MoSegNASProblem(Problem):
    """Sub-networks of a trained supernet: mIoU with inherited weights, LUT latency.

    See the module docstring for the options. Evaluations may run in several threads at
    once: each thread borrows its own copy of the supernet.
    """

    def __init__(
        self,
        *,
        supernet: str | None = None,
        lut: str | None = None,
        space: str = DEFAULT_SPACE,
        space_options: dict[str, Any] | None = None,
        dataset: str = DEFAULT_DATASET,
        dataset_options: dict[str, Any] | None = None,
        device: str = "cpu",
        device_options: dict[str, Any] | None = None,
        eval_device: str | None = None,
        calib_batches: int = 8,
        calib_batch_size: int = 8,
        val_images: int | None = None,
        measure_latency: bool = True,
        threads: int | None = None,
        seed: int = 0,
        train: dict[str, Any] | None = None,
        lut_protocol: dict[str, Any] | None = None,
    ) -> None:
        _check_scalars(
            calib_batches=calib_batches,
            calib_batch_size=calib_batch_size,
            val_images=val_images,
            threads=threads,
            measure_latency=measure_latency,
            seed=seed,
            eval_device=eval_device,
        )
        from segevo.devices import get_device, load_lut

        self.space = space_from_options(space, space_options)
        self.lower = np.asarray(self.space.lower, dtype=np.int64)
        self.upper = np.asarray(self.space.upper, dtype=np.int64)
        dataset = canonical_dataset(dataset)
        device_options = dict(device_options or {})
        self._device = get_device(device, **device_options)  # validates name and options
        if supernet is None:
            supernet = str(
                self._cached_supernet(space, space_options, dataset, dataset_options, train)
            )
        checkpoint = Path(supernet).expanduser()
        if checkpoint.is_dir():
            checkpoint = checkpoint / SUPERNET_FILE
        if not checkpoint.is_file():
            raise MoSegNASSetupError(
                f"supernet checkpoint {checkpoint} does not exist; train one with "
                "`segevo supernet train` or give --supernet CKPT"
            )
        if lut is None:
            lut = str(self._cached_lut(dataset, dataset_options, lut_protocol))
        lut_path = Path(lut).expanduser()
        if not lut_path.is_file():
            raise MoSegNASSetupError(
                f"latency table {lut_path} does not exist; build one with `segevo lut build` "
                "or give --lut FILE"
            )
        self.table = load_lut(lut_path, self.space)  # refuses a table of another space
        self.calib_batches = calib_batches
        self.calib_batch_size = calib_batch_size
        self.val_images = val_images
        self.measure_latency = measure_latency
        self.threads = threads
        self.seed = seed
        self._options: dict[str, Any] = {
            "supernet": str(checkpoint.resolve()),
            "lut": str(lut_path.resolve()),
            "space": space,
            "space_options": dict(space_options or {}),
            "dataset": dataset,
            "dataset_options": dict(dataset_options or {}),
            "device": device,
            "device_options": device_options,
            "eval_device": eval_device,
            "calib_batches": calib_batches,
            "calib_batch_size": calib_batch_size,
            "val_images": val_images,
            "measure_latency": measure_latency,
            "threads": threads,
            "seed": seed,
        }
        if train is not None:
            self._options["train"] = dict(train)
        if lut_protocol is not None:
            self._options["lut_protocol"] = dict(lut_protocol)
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._idle: list[Any] = []

    # -- cached artefacts ---------------------------------------------------------------
    @staticmethod
    def _cached_supernet(
        space: str,
        space_options: dict[str, Any] | None,
        dataset: str,
        dataset_options: dict[str, Any] | None,
        train: dict[str, Any] | None,
    ) -> Path:
        config = train_config(space, space_options, dataset, dataset_options, train)
        path = supernet_cache_dir(config) / SUPERNET_FILE
        if not finished_checkpoint(path):
            raise MoSegNASSetupError(
                f"no trained supernet for space {space!r} on {dataset!r} with these training "
                f"settings in the cache ({path.parent}); `segevo run` trains one, or train one "
                "with `segevo supernet train` and give --supernet CKPT"
            )
        return path

    def _cached_lut(
        self,
        dataset: str,
        dataset_options: dict[str, Any] | None,
        protocol: dict[str, Any] | None,
    ) -> Path:
        from segevo.nets.datasets import get_dataset

        num_classes = get_dataset(
            dataset, "val", **lists_to_tuples(dict(dataset_options or {}))
        ).num_classes
        path = lut_cache_path(self.space, num_classes, self._device, protocol)
        if not path.is_file():
            raise MoSegNASSetupError(
                f"no latency table for space {self.space.name!r} on {self._device.name} in the "
                f"cache ({path}); `segevo run` builds one, or build one with `segevo lut build` "
                "and give --lut FILE"
            )
        return path

    # -- Problem interface ----------------------------------------------------------------
    def repair(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.space.repair(np.atleast_2d(np.asarray(X))), dtype=np.int64)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return np.zeros((0, self.n_var), dtype=np.int64)
        return np.asarray(self.space.sample(n, rng), dtype=np.int64).reshape(n, self.n_var)

    def latency(self, X: np.ndarray) -> np.ndarray:
        return self.table.predictor(np.atleast_2d(np.asarray(X, dtype=np.int64)))

    def spec(self) -> dict[str, Any]:
        return {"problem": "mosegnas", "options": copy.deepcopy(self._options)}

    @property
    def options(self) -> dict[str, Any]:
        """The resolved options (explicit checkpoint and table paths)."""
        return copy.deepcopy(self._options)

    def load(self) -> _Loaded:
        """Load the supernet and the data sets now (evaluate does it on first use) and check
        that checkpoint, data set and table agree; raises :class:`MoSegNASSetupError` if not."""
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> _Loaded:
        import torch

        from segevo.nets.datasets import get_dataset
        from segevo.nets.train import load_supernet

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        opts = self._options
        eval_device = torch.device(opts["eval_device"] or self._device_torch_name())
        supernet, payload = load_supernet(opts["supernet"], device=eval_device)
        if payload["space_digest"] != self.space.digest():
            raise MoSegNASSetupError(
                f"supernet {opts['supernet']} was trained for space "
                f"{payload['config'].get('space')!r}, not this {self.space.name!r} "
                "(another definition); give --space to match it or another --supernet"
            )
        data_options = lists_to_tuples(dict(opts["dataset_options"]))
        train_data = get_dataset(opts["dataset"], "train", **data_options)
        val_data = get_dataset(opts["dataset"], "val", **data_options)
        num_classes = int(val_data.num_classes)
        if int(payload["num_classes"]) != num_classes:
            raise MoSegNASSetupError(
                f"supernet {opts['supernet']} predicts {payload['num_classes']} classes but "
                f"{opts['dataset']} has {num_classes}; train a supernet on this data set"
            )
        if self.table.num_classes != num_classes:
            raise MoSegNASSetupError(
                f"latency table {opts['lut']} was measured with a {self.table.num_classes}-class "
                f"head but {opts['dataset']} has {num_classes} classes; build a table for it "
                "(`segevo lut build --dataset ...`)"
            )
        return _Loaded(
            template=supernet,
            train_data=train_data,
            val_data=val_data,
            device=self._device,
            eval_device=eval_device,
            num_classes=num_classes,
            class_names=tuple(val_data.class_names),
        )

    def _device_torch_name(self) -> str:
        name = str(self._options["device"])
        return name if name.startswith("cuda") else "cpu"

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[Any]:
        loaded = self.load()
        with self._lock:
            net = self._idle.pop() if self._idle else None
        if net is None:
            with self._lock:  # copying reads the template; keep copies one at a time
                net = copy.deepcopy(loaded.template)
        try:
            yield net
        finally:
            with self._lock:
                self._idle.append(net)

    def evaluate(self, x: np.ndarray) -> dict[str, float]:
        """mIoU with inherited, recalibrated weights; plus the sub-network's measured latency."""
        from segevo.nets.evaluate import evaluate_subnet

        x = np.asarray(self.space.validate(np.asarray(x, dtype=np.int64).ravel()))
        loaded = self.load()
        with self._borrow() as net:
            result = evaluate_subnet(
                net,
                x,
                loaded.train_data,
                loaded.val_data,
                calib_batches=self.calib_batches,
                calib_batch_size=self.calib_batch_size,
                max_val_images=self.val_images,
                space=self.space,
                seed=self.seed,
                device=loaded.eval_device,
            )
            out = {"acc": float(result.miou)}
            if self.measure_latency:
                out["lat_ms"] = self._measure(net, x)
        return out

    def measure(self, x: np.ndarray) -> float:
        """Latency (ms, median of the device's repeats) of sub-network ``x`` on the device."""
        x = np.asarray(self.space.validate(np.asarray(x, dtype=np.int64).ravel()))
        with self._borrow() as net:
            return self._measure(net, x)

    def _measure(self, net: Any, x: np.ndarray) -> float:
        subnet = net.extract(x)
        shape = (1, 3, *self.space.decode(x).input_hw)
        return float(self.load().device.measure(subnet, shape).median_ms)


# --------------------------------------------------------------------------- registration


def mosegnas_factory(argument: str | None, **options: Any) -> MoSegNASProblem:
    """``load_problem("mosegnas", **options)``; the problem takes no ``mosegnas:ARGUMENT``."""
    if argument:
        raise ValueError(
            f"the mosegnas problem takes keyword options, not 'mosegnas:{argument}'; e.g. "
            "dataset='camvid:PATH', space='tiny', supernet=CKPT, lut=FILE"
        )
    plugins.check_options("problem", "mosegnas", options, _option_names())
    return MoSegNASProblem(**options)

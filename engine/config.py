"""The run configuration: one dataclass, loaded from TOML and/or command-line flags.

Every run writes its resolved configuration (all fields, defaults filled in) to
``RUN_DIR/config.json``; ``--resume`` reads it back from there.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segevo.engine.constraints import Constraints
from segevo.engine.wire import DEFAULT_MAX_FRAME, MAX_FRAME_LIMIT, parse_endpoint


class ConfigError(ValueError):
    """A configuration key is unknown or has a value of the wrong type or range."""


@dataclass(frozen=True)
class RunConfig:
    """Everything a search needs; field docs double as the TOML reference."""

    problem: str
    """Problem spec: ``table:PATH.csv``, ``synthetic``, ``mosegnas`` or ``module:attribute``."""
    problem_options: dict[str, Any] = field(default_factory=dict)
    evaluations: int = 100
    """Budget: high-fidelity evaluations archived when the run ends."""
    initial: int = 20
    """Initial population N (lower- and upper-bound architectures plus random ones)."""
    batch: int = 8
    """K: candidates chosen by pre-screening per proposal."""
    evaluators: int = 1
    """Local evaluators run inside the coordinator (remote ones attach over TCP)."""
    listen: str = "127.0.0.1:0"
    """HOST:PORT the coordinator listens on (port 0: any free port)."""
    seed: int = 0
    sync: bool = False
    """Generational Algorithm 1 (N initial, then generations of K) instead of steady state."""
    strategy: str = "mosegnas"
    """``mosegnas`` (the paper), ``nsga2`` or ``random`` (segevo.engine.strategies)."""
    prescreen: str = "hierarchical"
    """Pre-screening: ``hierarchical`` (Algorithm 4), ``survival``, ``hv``, ``latency``, ``random``."""
    surrogate: str = "auto"
    """Accuracy predictor (a name from segevo.surrogates); ``auto``: the cross-validated
    ensemble of segevo.surrogates.auto, chosen on the public tables (docs/benchmarks.md)."""
    surrogate_options: dict[str, Any] = field(default_factory=dict)
    moea_options: dict[str, Any] = field(default_factory=dict)
    """NSGA-II settings for the proposals: pop_size, n_gen, max_seeds, operators."""
    refit_every: int = 4
    """Refit the surrogate after this many new results (steady state)."""
    max_staleness: int = 8
    """Steady state: a proposal (and the feeding of its candidates) may use a model that lacks
    at most this many finished results; past it a free evaluator waits for the next refit."""
    low_water: int = 0
    """Move candidates into the queue when fewer tasks are queued; 0: 2 per evaluator."""
    lease_s: float = 60.0
    heartbeat_s: float = 10.0
    task_timeout_s: float = 0.0
    """Longest a task may stay leased however often it is renewed; 0: no limit."""
    max_attempts: int = 3
    """A task that fails this many times is abandoned (and replaced by a new one)."""
    auth: bool = True
    """Require the run's token from every peer (may be off only on a loopback listener)."""
    max_frame: int = DEFAULT_MAX_FRAME
    max_connections: int = 256
    hv_reference: tuple[float, float] | None = None
    """(accuracy, latency ms) reference point for the hypervolume; None: from the problem."""
    max_latency_ms: float | None = None
    """Deployment bound: only networks whose latency (measured, else the table's) is at most
    this many ms are feasible; proposals keep to it by the predicted latency."""
    min_accuracy: float | None = None
    """Deployment bound: only networks at least this accurate are feasible."""

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def constraints(self) -> Constraints:
        """The deployment bounds as one :class:`~segevo.engine.constraints.Constraints`."""
        return Constraints(self.max_latency_ms, self.min_accuracy)

    @property
    def generations(self) -> int:
        """T for ``--sync``: generations of K after the initial population."""
        return max(0, math.ceil((self.evaluations - self.initial) / self.batch))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON- and TOML-friendly) of every field."""
        out = dataclasses.asdict(self)
        if self.hv_reference is not None:
            out["hv_reference"] = list(self.hv_reference)
        return out

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated again)."""
        return from_mapping({**self.to_dict(), **changes})


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_INT_FIELDS = {
    "evaluations": 1,
    "initial": 1,
    "batch": 1,
    "evaluators": 0,
    "seed": 0,
    "refit_every": 1,
    "low_water": 0,
    "max_staleness": 0,
    "max_attempts": 1,
    "max_frame": 1 << 16,  # every message a peer may send must fit (wire.PEER_MAX_FRAME)
    "max_connections": 1,
}
_INT_MAXIMA = {
    "evaluators": 1024,
    "max_attempts": 1000,
    "max_frame": MAX_FRAME_LIMIT,
    "max_connections": 65536,
}
_FLOAT_FIELDS = {"lease_s": 1e-3, "heartbeat_s": 1e-3, "task_timeout_s": 0.0}
# Lease timings travel in the welcome and task messages, whose fields stop at 1e7 s.
_FLOAT_MAXIMA = {"lease_s": 1e7, "heartbeat_s": 1e7, "task_timeout_s": 1e9}
_PLAIN_SCALARS = (str, int, float, bool)
_MAX_OPTION_DEPTH = 8
_STR_FIELDS = {"problem", "listen", "strategy", "prescreen", "surrogate"}
_OPTIONAL_STR_FIELDS: set[str] = set()
_BOOL_FIELDS = {"sync", "auth"}
_DICT_FIELDS = {"problem_options", "surrogate_options", "moea_options"}


def _validate(config: RunConfig) -> None:
    for name, minimum in _INT_FIELDS.items():
        value = getattr(config, name)
        if type(value) is not int:
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        if value < minimum:
            raise ConfigError(f"{name} must be >= {minimum}, got {value}")
        if name in _INT_MAXIMA and value > _INT_MAXIMA[name]:
            raise ConfigError(f"{name} must be <= {_INT_MAXIMA[name]}, got {value}")
    for name, least in _FLOAT_FIELDS.items():
        number = getattr(config, name)
        if type(number) not in (int, float) or not math.isfinite(number):
            raise ConfigError(f"{name} must be a finite number, got {number!r}")
        if number < least:
            raise ConfigError(f"{name} must be >= {least}, got {number}")
        if number > _FLOAT_MAXIMA[name]:
            raise ConfigError(f"{name} must be <= {_FLOAT_MAXIMA[name]:g}, got {number}")
    for name in _STR_FIELDS:
        value = getattr(config, name)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    for name in _OPTIONAL_STR_FIELDS:
        value = getattr(config, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{name} must be a non-empty string or absent, got {value!r}")
    for name in _BOOL_FIELDS:
        if type(getattr(config, name)) is not bool:
            raise ConfigError(f"{name} must be true or false, got {getattr(config, name)!r}")
    for name in _DICT_FIELDS:
        if not isinstance(getattr(config, name), dict):
            raise ConfigError(f"{name} must be a table of options, got {getattr(config, name)!r}")
        _check_plain(name, getattr(config, name), 0)
    if config.initial > config.evaluations:
        raise ConfigError(
            f"initial ({config.initial}) must not exceed evaluations ({config.evaluations})"
        )
    if config.heartbeat_s >= config.lease_s:
        raise ConfigError(
            f"heartbeat_s ({config.heartbeat_s}) must be shorter than lease_s ({config.lease_s})"
        )
    try:
        endpoint = parse_endpoint(config.listen)
    except ValueError as exc:
        raise ConfigError(f"listen: {exc}") from None
    if not config.auth and not endpoint.is_loopback:
        raise ConfigError(
            f"refusing to listen on {config.listen} without a token: auth may be off only on "
            "a loopback address (127.0.0.1, ::1, localhost)"
        )
    try:
        Constraints(config.max_latency_ms, config.min_accuracy)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if config.hv_reference is not None:
        ref = config.hv_reference
        if (
            len(ref) != 2
            or not all(type(v) in (int, float) and math.isfinite(v) for v in ref)
            or ref[1] <= 0
        ):
            raise ConfigError(
                f"hv_reference must be [accuracy, latency_ms] with latency_ms > 0, got {ref!r}"
            )


def _check_plain(where: str, value: Any, depth: int) -> None:
    """Options are written to config.json and sent to evaluators: plain JSON values only."""
    if depth > _MAX_OPTION_DEPTH:
        raise ConfigError(f"{where} is nested deeper than {_MAX_OPTION_DEPTH} levels")
    if value is None or isinstance(value, _PLAIN_SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where} has a non-string key {key!r}")
            _check_plain(f"{where}.{key}", item, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(f"{where}[{i}]", item, depth + 1)
        return
    raise ConfigError(
        f"{where} must be a string, number, boolean, list or table, got "
        f"{type(value).__name__} {value!r:.80}"
    )


def from_mapping(values: dict[str, Any]) -> RunConfig:
    """A validated :class:`RunConfig` from a plain mapping (unknown keys are refused)."""
    if not isinstance(values, dict):
        raise ConfigError(f"a configuration must be a table of keys, got {type(values).__name__}")
    bad_keys = [k for k in values if not isinstance(k, str)]
    if bad_keys:
        raise ConfigError(f"configuration keys must be strings, got {bad_keys[:5]!r}")
    unknown = set(values) - set(_FIELDS)
    if unknown:
        raise ConfigError(f"unknown configuration keys {sorted(unknown)}; known: {sorted(_FIELDS)}")
    if "problem" not in values:
        raise ConfigError("the configuration needs 'problem' (e.g. problem = \"table:PATH.csv\")")
    values = dict(values)
    ref = values.get("hv_reference")
    if ref is not None:
        if not isinstance(ref, (list, tuple)):
            raise ConfigError(f"hv_reference must be [accuracy, latency_ms], got {ref!r}")
        values["hv_reference"] = tuple(ref)
    for name in (*_FLOAT_FIELDS, "max_latency_ms", "min_accuracy"):
        if type(values.get(name)) is int:
            values[name] = float(values[name])
    return RunConfig(**values)


def load_toml(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a TOML config file (keys checked by :func:`from_mapping`)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    unknown = set(data) - set(_FIELDS)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(_FIELDS)}")
    return data


def resolve(toml_path: str | Path | None, overrides: dict[str, Any]) -> RunConfig:
    """TOML file (if any) overlaid with flags given on the command line (None = not given)."""
    values: dict[str, Any] = load_toml(toml_path) if toml_path is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return from_mapping(values)

"""The engine's actors: anyio tasks with clear lifetimes (see segevo.engine.run)."""

from __future__ import annotations

from segevo.engine.actors.archive_actor import ArchiveActor
from segevo.engine.actors.dispatcher import Accepted, Dispatcher, Refused, TaskRecord, Worker
from segevo.engine.actors.evaluator import LocalEvaluator
from segevo.engine.actors.proposer import ProposerActor
from segevo.engine.actors.surrogate import SurrogateActor

__all__ = [
    "Accepted",
    "ArchiveActor",
    "Dispatcher",
    "LocalEvaluator",
    "ProposerActor",
    "Refused",
    "SurrogateActor",
    "TaskRecord",
    "Worker",
]

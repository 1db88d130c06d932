"""torch.distributed helpers for supernet training launched by ``torchrun``.

Weight-sharing training runs several forward/backward passes (the sandwich rule) on different
sub-networks before each optimiser step, so instead of DDP (one all-reduce per backward,
unused-parameter bookkeeping per sub-network) the gradients accumulated over the whole step
are averaged in one flat all-reduce. Every rank samples the same sub-networks (the sampler is
seeded by the step number), so the parameters that received a gradient are the same on all
ranks; missing gradients are sent as zeros all the same, which keeps the collective's shape
fixed whatever happens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints and shows progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Whether collectives are needed (more than one process)."""
        return self.world_size > 1


def init_distributed(device: str | torch.device = "cpu") -> DistInfo:
    """Join the process group described by torchrun's environment, if any.

    Uses NCCL for CUDA devices and gloo otherwise. Without ``WORLD_SIZE`` > 1 in the
    environment (and no group already initialised) this is a single-process run.
    """
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), False
        )
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    return DistInfo(
        dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), True
    )


def shutdown_distributed(info: DistInfo) -> None:
    """Leave the process group if :func:`init_distributed` created it."""
    if info.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


def average_gradients(module: nn.Module, info: DistInfo, extra: torch.Tensor) -> torch.Tensor:
    """Average every parameter's gradient over the ranks (in place) in one all-reduce.

    ``extra`` (a small float tensor, e.g. this rank's elapsed seconds and loss) rides along and
    is returned averaged over the ranks, so that every rank takes the same decisions from it.
    """
    if not info.enabled:
        return extra
    params = [p for p in module.parameters() if p.requires_grad]
    dtype = params[0].dtype if params else torch.float32
    device = params[0].device if params else extra.device
    flats = [
        (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).to(dtype)
        for p in params
    ]
    bucket = torch.cat([*flats, extra.reshape(-1).to(device=device, dtype=dtype)])
    dist.all_reduce(bucket, op=dist.ReduceOp.SUM)
    bucket /= info.world_size
    offset = 0
    for p in params:
        n = p.numel()
        chunk = bucket[offset : offset + n].view_as(p).to(p.dtype)
        if p.grad is None:
            # Another rank had a gradient here while this one had none: keep the average.
            if torch.count_nonzero(chunk):
                p.grad = chunk.clone()
        else:
            p.grad.copy_(chunk)
        offset += n
    return bucket[offset:].to(device=extra.device, dtype=extra.dtype).view_as(extra)


def sync_buffers(module: nn.Module, info: DistInfo) -> None:
    """Make every rank's buffers equal (floating ones averaged, others from rank 0).

    Batch-norm running statistics are per-replica during training; averaging them before a
    checkpoint makes every replica, and the saved file, hold the same network.
    """
    if not info.enabled:
        return
    for buffer in module.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer /= info.world_size
        else:
            dist.broadcast(buffer, src=0)


def broadcast_parameters(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank (the common starting point)."""
    if not info.enabled:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)

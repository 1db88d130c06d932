"""The weight-sharing supernet (paper Sec. III-C): every architecture of a space is a sub-part.

``SuperNet(space, num_classes)`` is the largest network of a :class:`ResNetSpace` built from the
very modules of ``segevo.nets.blocks``, in which every convolution and batch norm is elastic:

- width / expand: a convolution uses the first ``active_out`` output filters and as many input
  channels as it is given (``weight[:out, :in]``); batch norm uses the first channels of its
  affine weights *and* running statistics (shared and sliced, as in OFA; updates in train mode
  write through to the shared buffers);
- depth: a stage runs its first ``base + d`` layers and skips the trailing ones;
- stem: the residual 3x3 convolution runs or not; its widths are sliced like the others;
- the decoder's first convolutions (attention refinement on 1/16 and 1/32, global context,
  feature fusion) slice their *input* channels to the active stage widths.

Usage::

    net = SuperNet(space, num_classes)
    net.set_active(x)  # any valid vector; space.largest() at construction
    out = net(images)  # eval: main logits [N, K, H, W]; train: (main, aux16, aux32)
    loss = net.compute_loss(out, labels)  # OHEM main + weighted OHEM auxiliaries
    deployed = net.extract(x)  # standalone nn.Module (blocks.SegmentationNet), eval mode

The network runs at whatever size the images have; the input scale digit ``x0`` is applied by
the data pipeline (``space.decode(x).input_hw``).

Training hooks (sandwich rule with progressive shrinking, paper Sec. III-C / OFA): per step,
``sandwich(space, rng, phase=...)`` returns ``[largest, smallest-of-phase, random...]``; the
phases, in order, are ``"depth"`` (depths elastic, expand and width at maximum), ``"expand"``
(plus expand ratios), ``"width"`` (everything; the same as ``phase=None``). Input scale is
elastic in every phase. Under ``DistributedDataParallel`` use ``find_unused_parameters=True``
(skipped layers and unused slices get no gradient).

Batch-norm statistics after weight sharing are not those of any one sub-network: the evaluation
recalibrates them, most simply on ``extract(x)`` (plain ``nn.BatchNorm2d`` layers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segevo.nets.arch import ArchConfig
from segevo.nets.blocks import BiSeNetDecoder, Bottleneck, SegHead, SegmentationNet, Stem
from segevo.nets.losses import IGNORE_INDEX, ohem_cross_entropy
from segevo.nets.space import PHASES, ResNetSpace, SearchSpace


class DynamicConv2d(nn.Conv2d):
    """A convolution whose output width is ``active_out`` (None: all) and whose input width is
    that of the tensor it gets; both take the leading filters/channels of the shared weight."""

    active_out: int | None = None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> DynamicConv2d:
        if conv.groups != 1:
            raise ValueError("elastic convolutions must not be grouped")
        new = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            bias=conv.bias is not None,
        )
        new.weight = conv.weight
        new.bias = conv.bias
        return new

    def forward(self, x: Tensor) -> Tensor:
        out_ch = self.out_channels if self.active_out is None else self.active_out
        in_ch = x.shape[1]
        if in_ch > self.in_channels or out_ch > self.out_channels:
            raise ValueError(
                f"elastic conv holds {self.in_channels}->{self.out_channels} channels, "
                f"asked for {in_ch}->{out_ch}"
            )
        weight = self.weight[:out_ch, :in_ch]
        bias = None if self.bias is None else self.bias[:out_ch]
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation)


class DynamicBatchNorm2d(nn.BatchNorm2d):
    """Batch norm over the leading channels of its shared affine weights and statistics."""

    @classmethod
    def from_bn(cls, bn: nn.BatchNorm2d) -> DynamicBatchNorm2d:
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        new.load_state_dict(bn.state_dict())
        return new

    def forward(self, x: Tensor) -> Tensor:
        ch = x.shape[1]
        if ch == self.num_features:
            return super().forward(x)
        if ch > self.num_features:
            raise ValueError(f"elastic batch norm holds {self.num_features} channels, got {ch}")
        factor = 0.0
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = (
                1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            )
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(
            x,
            None if self.running_mean is None else self.running_mean[:ch],
            None if self.running_var is None else self.running_var[:ch],
            None if self.weight is None else self.weight[:ch],
            None if self.bias is None else self.bias[:ch],
            use_batch,
            factor,
            self.eps,
        )


def _make_elastic(module: nn.Module) -> None:
    """Turn every Conv2d / BatchNorm2d below ``module`` into its elastic twin, in place.

    The twins add behaviour, not state, so swapping the class keeps the very same parameters
    and buffers (no second allocation of a large supernet's weights).
    """
    for child in module.modules():
        if type(child) is nn.Conv2d:
            if child.groups != 1:
                raise ValueError("elastic convolutions must not be grouped")
            child.__class__ = DynamicConv2d
        elif type(child) is nn.BatchNorm2d:
            child.__class__ = DynamicBatchNorm2d


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class SuperNet(SegmentationNet):
    """Elastic backbone + BiSeNet decoder holding the weights of every sub-network of ``space``.

    ``forward`` follows :class:`SegmentationNet`: eval mode gives the main logits at the input
    size, train mode the tuple ``(main, aux16, aux32)``.
    """

    def __init__(self, space: SearchSpace, num_classes: int, *, aux_weight: float = 1.0) -> None:
        if not isinstance(space, ResNetSpace):
            raise ValueError(
                f"SuperNet needs a ResNetSpace (r50, tiny or a custom one), got {type(space).__name__}"
            )
        if int(num_classes) != num_classes or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if aux_weight < 0:
            raise ValueError(f"aux_weight must be >= 0, got {aux_weight}")
        max_out = [max(outs) for outs in space.out_channels]
        max_mid = [max(max(row) for row in mids) for mids in space.mid_channels]
        stem = Stem(max(space.stem_mid), max(space.stem_out), residual=True)
        stages = []
        in_ch = max(space.stem_out)
        for s in range(space.n_stages):
            layers = []
            for i in range(space.max_depths[s]):
                stride = space.strides[s] if i == 0 else 1
                layers.append(Bottleneck(in_ch, max_mid[s], max_out[s], stride))
                in_ch = max_out[s]
            stages.append(nn.Sequential(*layers))
        decoder = BiSeNetDecoder(
            max_out[-3],
            max_out[-2],
            max_out[-1],
            int(num_classes),
            context_ch=space.context_ch,
            fusion_ch=space.fusion_ch,
            head_mid_ch=space.head_mid_ch,
        )
        aux16 = SegHead(space.context_ch, space.aux_mid_ch, int(num_classes))
        aux32 = SegHead(space.context_ch, space.aux_mid_ch, int(num_classes))
        super().__init__(stem, stages, decoder, aux16, aux32)
        _make_elastic(self)
        _init_weights(self)
        self.space = space
        self.num_classes = int(num_classes)
        self.aux_weight = float(aux_weight)
        self.active_x: np.ndarray = space.largest()
        self.active_arch: ArchConfig = space.decode(self.active_x)
        self.set_active(self.active_x)

    # -- selecting a sub-network ----------------------------------------------------------
    def set_active(self, x: Any) -> ArchConfig:
        """Make ``x`` (a valid vector of the space) the sub-network that ``forward`` runs."""
        arch = self.space.decode(x)
        stem = self.stem
        stem.conv1.conv.active_out = arch.stem.mid_ch
        assert stem.residual is not None
        stem.residual.conv.active_out = arch.stem.mid_ch
        stem.conv2.conv.active_out = arch.stem.out_ch
        for stage_cfg, stage in zip(arch.stages, self.stages, strict=True):
            for layer_cfg, block in zip(stage_cfg.layers, stage, strict=False):
                block.conv1.conv.active_out = layer_cfg.mid_ch
                block.conv2.conv.active_out = layer_cfg.mid_ch
                block.conv3.conv.active_out = layer_cfg.out_ch
                if block.shortcut is not None:
                    block.shortcut.conv.active_out = layer_cfg.out_ch
        self.active_arch = arch
        self.active_x = np.array(arch.x, dtype=np.int64)
        return arch

    def largest(self) -> np.ndarray:
        """The largest architecture (the whole supernet)."""
        return self.space.largest()

    def smallest(self, *, phase: str | None = None) -> np.ndarray:
        """The smallest architecture of the space or of a progressive-shrinking phase."""
        return _smallest(self.space, phase)

    def features(self, images: Tensor) -> list[Tensor]:
        arch = self.active_arch
        stem = self.stem
        x = stem.conv1(images)
        if arch.stem.residual and stem.residual is not None:
            x = x + stem.residual(x)
        x = stem.pool(stem.conv2(x))
        feats = []
        for stage_cfg, stage in zip(arch.stages, self.stages, strict=True):
            for block in list(stage)[: stage_cfg.depth]:
                x = block(x)
            feats.append(x)
        return feats

    # -- loss -----------------------------------------------------------------------------
    def compute_loss(
        self,
        outputs: Tensor | tuple[Tensor, ...],
        target: Tensor,
        *,
        ignore_index: int = IGNORE_INDEX,
    ) -> Tensor:
        """OHEM cross-entropy of the main logits plus ``aux_weight`` x each auxiliary head's."""
        if isinstance(outputs, Tensor):
            return ohem_cross_entropy(outputs, target, ignore_index=ignore_index)
        if len(outputs) != 3:
            raise ValueError(f"expected (main, aux16, aux32) logits, got {len(outputs)} tensors")
        main, aux16, aux32 = outputs
        loss = ohem_cross_entropy(main, target, ignore_index=ignore_index)
        if self.aux_weight:
            aux = ohem_cross_entropy(aux16, target, ignore_index=ignore_index)
            aux = aux + ohem_cross_entropy(aux32, target, ignore_index=ignore_index)
            loss = loss + self.aux_weight * aux
        return loss

    # -- extraction -----------------------------------------------------------------------
    @torch.no_grad()
    def extract(self, x: Any = None, *, with_aux: bool = False) -> SegmentationNet:
        """A standalone :class:`SegmentationNet` for ``x`` (default: the active one) with copied
        weights and batch-norm statistics, in eval mode, on the supernet's device."""
        arch = self.active_arch if x is None else self.space.decode(x)
        net = SegmentationNet.from_arch(arch, self.num_classes, with_aux=with_aux)
        source = self.state_dict()
        state = {}
        for name, tensor in net.state_dict().items():
            # every elastic tensor uses its leading entries along each dimension
            state[name] = source[name][tuple(slice(0, n) for n in tensor.shape)].clone()
        net.load_state_dict(state)
        first = next(self.parameters())
        return net.to(device=first.device, dtype=first.dtype).eval()


def _smallest(space: SearchSpace, phase: str | None) -> np.ndarray:
    if isinstance(space, ResNetSpace):
        return space.smallest(phase=phase)
    return space.smallest()


def sandwich(
    space: SearchSpace, rng: Any = None, *, phase: str | None = None, n_random: int = 1
) -> list[np.ndarray]:
    """The sub-networks of one sandwich-rule step: largest, smallest (of the phase), randoms."""
    if phase is not None and phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; known: {', '.join(PHASES)} or None")
    if n_random < 0:
        raise ValueError(f"n_random must be >= 0, got {n_random}")
    randoms = space.sample(n_random, rng, phase=phase) if n_random else []
    return [space.largest(), _smallest(space, phase), *list(randoms)]

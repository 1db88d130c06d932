"""Image/label transforms: normalisation, resizing and the paper's training augmentation.

Images are float32 ``[3, H, W]`` (already normalised) and labels int64 ``[H, W]``. Every random
transform draws from an explicit ``torch.Generator`` so that the same seed gives the same
result; ``None`` uses torch's global generator.

The augmentation follows the paper (Sec. IV-D, after BiSeNet): a scale drawn from
``{0.75, 1.0, 1.25, 1.5, 1.75, 2.0}``, a random crop (padded with the ignore label where the
scaled image is smaller than the crop) and a horizontal flip with probability 1/2.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAPER_SCALES = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


def normalize(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``[H, W, 3]`` -> float32 ``[3, H, W]`` normalised with ImageNet mean/std."""
    tensor = (
        torch.from_numpy(np.array(image, copy=True)) if isinstance(image, np.ndarray) else image
    )
    if tensor.ndim != 3 or tensor.shape[2] != 3:
        raise ValueError(f"expected an RGB image [H, W, 3], got shape {tuple(tensor.shape)}")
    chw = tensor.permute(2, 0, 1).to(torch.float32) / 255.0
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    return (chw - mean) / std


def denormalize(image: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`normalize`: float ``[3, H, W]`` -> uint8 ``[H, W, 3]``."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype).view(3, 1, 1)
    rgb = (image * std + mean).clamp(0, 1) * 255.0
    return rgb.round().to(torch.uint8).permute(1, 2, 0)


def resize_image(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of ``[3, H, W]`` or ``[N, 3, H, W]`` to ``size = (height, width)``."""
    hw = (int(size[0]), int(size[1]))
    if tuple(image.shape[-2:]) == hw:
        return image
    batched = image if image.ndim == 4 else image.unsqueeze(0)
    out = F.interpolate(batched, size=hw, mode="bilinear", align_corners=False)
    return out if image.ndim == 4 else out.squeeze(0)


def resize_label(label: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour resize of ``[H, W]`` or ``[N, H, W]`` labels (values stay labels)."""
    hw = (int(size[0]), int(size[1]))
    if tuple(label.shape[-2:]) == hw:
        return label
    batched = label if label.ndim == 3 else label.unsqueeze(0)
    out = F.interpolate(batched.unsqueeze(1).float(), size=hw, mode="nearest-exact")
    out = out.squeeze(1).to(label.dtype)
    return out if label.ndim == 3 else out.squeeze(0)


def _check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(s) for s in scales)
    if not values or any(not np.isfinite(s) or s <= 0 for s in values):
        raise ValueError(f"scales must be a non-empty list of positive numbers, got {scales!r}")
    return values


class RandomScaleCropFlip:
    """The paper's training augmentation: random scale from a list, random crop, h-flip.

    ``crop_size`` is ``(height, width)``; where the scaled image is smaller than the crop it is
    padded at the bottom/right with ``pad_value`` (0 = the mean colour after normalisation)
    and the label with ``ignore_index``.
    """

    def __init__(
        self,
        crop_size: Sequence[int],
        *,
        scales: Sequence[float] = PAPER_SCALES,
        flip: bool = True,
        ignore_index: int = 255,
        pad_value: float = 0.0,
    ) -> None:
        if len(crop_size) != 2 or any(int(v) <= 0 for v in crop_size):
            raise ValueError(f"crop_size must be (height, width) > 0, got {crop_size!r}")
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.scales = _check_scales(scales)
        self.flip = bool(flip)
        self.ignore_index = int(ignore_index)
        self.pad_value = float(pad_value)

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pick = int(torch.randint(len(self.scales), (1,), generator=generator))
        scale = self.scales[pick]
        height, width = label.shape
        scaled = (max(1, round(height * scale)), max(1, round(width * scale)))
        image = resize_image(image, scaled)
        label = resize_label(label, scaled)
        image, label = pad_to(image, label, self.crop_size, self.pad_value, self.ignore_index)
        crop_h, crop_w = self.crop_size
        top = int(torch.randint(label.shape[0] - crop_h + 1, (1,), generator=generator))
        left = int(torch.randint(label.shape[1] - crop_w + 1, (1,), generator=generator))
        image = image[:, top : top + crop_h, left : left + crop_w]
        label = label[top : top + crop_h, left : left + crop_w]
        if self.flip and float(torch.rand((1,), generator=generator)) < 0.5:
            image = image.flip(-1)
            label = label.flip(-1)
        return image.contiguous(), label.contiguous()

    def __repr__(self) -> str:
        return (
            f"RandomScaleCropFlip(crop_size={self.crop_size}, scales={self.scales}, "
            f"flip={self.flip})"
        )


def pad_to(
    image: torch.Tensor,
    label: torch.Tensor,
    size: Sequence[int],
    pad_value: float = 0.0,
    ignore_index: int = 255,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad image/label at the bottom/right up to at least ``size`` (no-op when already big)."""
    pad_h = max(0, int(size[0]) - label.shape[0])
    pad_w = max(0, int(size[1]) - label.shape[1])
    if pad_h == 0 and pad_w == 0:
        return image, label
    image = F.pad(image, (0, pad_w, 0, pad_h), value=pad_value)
    label = F.pad(label, (0, pad_w, 0, pad_h), value=ignore_index)
    return image, label


class EvalResize:
    """Resize the image (bilinear) to ``size``; the label keeps its full resolution.

    Evaluation predicts at the network's input size and upsamples logits back to the label,
    so mIoU is always measured against the untouched ground truth.
    """

    def __init__(self, size: Sequence[int]) -> None:
        if len(size) != 2 or any(int(v) <= 0 for v in size):
            raise ValueError(f"size must be (height, width) > 0, got {size!r}")
        self.size = (int(size[0]), int(size[1]))

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return resize_image(image, self.size), label

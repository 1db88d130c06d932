"""A procedurally generated segmentation set: coloured, textured shapes on a grey-ish background.

Nothing is downloaded and every item is a pure function of ``(seed, split, index)``.

Scene: a background (class 0) of two washed-out colours blended by a smooth random field,
plus 1..``max_objects`` objects drawn in order (later ones occlude earlier ones). An object's
class is a pair (shape, colour family): shapes disc, square, triangle, bar; colour families
red, green, blue (each object's hue, saturation and brightness jitter around its family).
Every object also gets a random texture (stripes, checker, dots or flat, at a random angle
and period) that carries no class information.

Colour is a local cue a small network learns quickly; shape is not: the class list is
ordered so that every colour occurs with several shapes (with the default 8 classes: red and
green discs, squares and triangles, plus a blue disc), and telling a red disc from a red
square needs a receptive field as large as the object, so bigger networks score higher.
"""

from __future__ import annotations

import colorsys
import zlib
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from segevo.nets.datasets.base import (
    IGNORE_INDEX,
    PairTransform,
    SegmentationDataset,
    parse_size,
)

SHAPES = ("disc", "square", "triangle", "bar")
COLOURS = ("red", "green", "blue")
COLOUR_HUES = (0.0, 1 / 3, 2 / 3)
TEXTURES = ("striped", "checkered", "dotted", "flat")
# (shape, colour family) of object classes 1, 2, ...: the first ones pair shapes and colours
# crosswise so that neither cue alone identifies a class.
OBJECT_KINDS = (
    (0, 0),
    (1, 0),
    (0, 1),
    (1, 1),
    (2, 0),
    (2, 1),
    (0, 2),
    (1, 2),
    (2, 2),
    (3, 0),
    (3, 1),
    (3, 2),
)
MAX_CLASSES = len(OBJECT_KINDS) + 1
DEFAULT_LENGTH = {"train": 256, "val": 64, "test": 64}


def _regular_polygon(dx: np.ndarray, dy: np.ndarray, radius: float, angle: float, sides: int):
    inside = np.ones(dx.shape, dtype=bool)
    apothem = radius * np.cos(np.pi / sides)
    for j in range(sides):
        normal = angle + np.pi / sides + 2 * np.pi * j / sides
        inside &= dx * np.cos(normal) + dy * np.sin(normal) <= apothem
    return inside


def shape_mask(shape: int, dx: np.ndarray, dy: np.ndarray, radius: float, angle: float):
    """Pixels inside a shape of size ``radius`` rotated by ``angle`` (offsets dx, dy)."""
    if shape == 0:
        return dx**2 + dy**2 <= radius**2
    if shape == 1:
        return _regular_polygon(dx, dy, radius * 1.1, angle, 4)
    if shape == 2:
        return _regular_polygon(dx, dy, radius * 1.35, angle, 3)
    along = dx * np.cos(angle) + dy * np.sin(angle)
    across = -dx * np.sin(angle) + dy * np.cos(angle)
    return (np.abs(along) <= radius * 1.4) & (np.abs(across) <= radius * 0.45)


def texture_pattern(texture: int, u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    """A binary texture over rotated coordinates (u, v) with the given period in pixels."""
    if texture == 0:
        return (u / period) % 1.0 < 0.5
    if texture == 1:
        return (np.floor(2 * u / period) + np.floor(2 * v / period)) % 2 == 0
    if texture == 3:
        return np.ones(u.shape, dtype=bool)
    du = (u / period) % 1.0 - 0.5
    dv = (v / period) % 1.0 - 0.5
    return du**2 + dv**2 <= 0.32**2


def _family_colours(rng: np.random.Generator, family: int) -> tuple[np.ndarray, np.ndarray]:
    """A saturated colour of the family's hue and a darker shade of it (the texture's pair)."""
    hue = (COLOUR_HUES[family] + rng.uniform(-0.05, 0.05)) % 1.0
    saturation, value = rng.uniform(0.65, 1.0), rng.uniform(0.7, 1.0)
    bright = np.array(colorsys.hsv_to_rgb(hue, saturation, value))
    dark = np.array(colorsys.hsv_to_rgb(hue, saturation, value * rng.uniform(0.45, 0.65)))
    return bright, dark


def _background_colour(rng: np.random.Generator) -> np.ndarray:
    return np.array(
        colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.25), rng.uniform(0.3, 0.9))
    )


def render_scene(
    rng: np.random.Generator,
    size: tuple[int, int],
    num_classes: int,
    max_objects: int,
    ignore_border: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """One scene: uint8 ``[H, W, 3]`` image and int64 ``[H, W]`` label."""
    height, width = size
    short = min(height, width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5

    coarse = rng.uniform(0, 1, (4, 6))
    field = ndimage.zoom(coarse, (height / 4, width / 6), order=1, mode="nearest")
    field = np.clip(field[:height, :width], 0, 1)[..., None]
    colour_a, colour_b = _background_colour(rng), _background_colour(rng)
    image = colour_a * (1 - field) + colour_b * field
    label = np.zeros((height, width), dtype=np.int64)
    instance = np.zeros((height, width), dtype=np.int64)

    for number in range(1, int(rng.integers(1, max_objects + 1)) + 1):
        cls = int(rng.integers(1, num_classes))
        shape, family = OBJECT_KINDS[cls - 1]
        texture = int(rng.integers(len(TEXTURES)))
        radius = rng.uniform(0.16, 0.36) * short
        cy, cx = rng.uniform(0.1, 0.9) * height, rng.uniform(0.1, 0.9) * width
        dx, dy = xx - cx, yy - cy
        mask = shape_mask(shape, dx, dy, radius, rng.uniform(0, 2 * np.pi))
        theta = rng.uniform(0, np.pi)
        period = max(3.0, rng.uniform(0.1, 0.18) * short)
        u = dx * np.cos(theta) + dy * np.sin(theta) + rng.uniform(0, period)
        v = -dx * np.sin(theta) + dy * np.cos(theta) + rng.uniform(0, period)
        pattern = texture_pattern(texture, u, v, period)[..., None]
        first, second = _family_colours(rng, family)
        drawn = np.where(pattern, first, second)
        image = np.where(mask[..., None], drawn, image)
        label[mask] = cls
        instance[mask] = number

    if ignore_border:
        # Like VOC's object outlines: the pixels where two regions meet count for nothing.
        edge = np.zeros_like(instance, dtype=bool)
        edge[:, 1:] |= instance[:, 1:] != instance[:, :-1]
        edge[:, :-1] |= instance[:, 1:] != instance[:, :-1]
        edge[1:, :] |= instance[1:, :] != instance[:-1, :]
        edge[:-1, :] |= instance[1:, :] != instance[:-1, :]
        label[edge] = IGNORE_INDEX

    image = image + rng.normal(0, 0.03, image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8), label


class Synthetic(SegmentationDataset):
    """Procedurally generated scenes (see the module docstring); deterministic per seed.

    Options (keyword-only): ``size`` (height, width) of the generated images, default
    (64, 128); ``length`` items in the split (default 256 train, 64 val/test);
    ``num_classes`` 2..13 (default 8, background included); ``max_objects`` per scene
    (default 4); ``seed`` (default 0); ``ignore_border`` marks region outlines 255.
    """

    name = "synthetic"
    splits = ("train", "val", "test")

    def __init__(
        self,
        split: str = "train",
        *,
        size: Sequence[int] | int = (64, 128),
        length: int | None = None,
        num_classes: int = 8,
        max_objects: int = 4,
        seed: int = 0,
        ignore_border: bool = False,
        augment: PairTransform | None = None,
    ) -> None:
        super().__init__(split, augment=augment)
        generated = parse_size(size)
        assert generated is not None
        if min(generated) < 8:
            raise ValueError(f"size must be at least 8x8 pixels, got {size!r}")
        self.generated_size = generated
        if not isinstance(num_classes, int) or not 2 <= num_classes <= MAX_CLASSES:
            raise ValueError(
                f"num_classes must be an integer in 2..{MAX_CLASSES}, got {num_classes!r}"
            )
        if not isinstance(max_objects, int) or max_objects < 1:
            raise ValueError(f"max_objects must be a positive integer, got {max_objects!r}")
        if length is None:
            length = DEFAULT_LENGTH[split]
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be a positive integer, got {length!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.length = length
        self.classes = num_classes
        self.max_objects = max_objects
        self.seed = seed
        self.ignore_border = bool(ignore_border)
        self._split_key = zlib.crc32(split.encode())

    @property
    def class_names(self) -> tuple[str, ...]:
        objects = tuple(f"{COLOURS[c]} {SHAPES[s]}" for s, c in OBJECT_KINDS)
        return ("background", *objects[: self.classes - 1])

    def __len__(self) -> int:
        return self.length

    def load_raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self._split_key, index])
        return render_scene(
            rng, self.generated_size, self.classes, self.max_objects, self.ignore_border
        )

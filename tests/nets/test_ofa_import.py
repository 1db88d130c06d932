"""Importing OFA-ResNet50 weights: every tensor lands where OFA's network uses it.

The OFA state dict is generated from OFA's architecture description (``ofa_layout``), not
from the mapping code. Two oracles: the imported modules hold the source tensors, and a
forward pass of OFA's network written from the source tensors with torch.nn.functional (for
the largest and for random sub-networks, OFA's leading-channel slicing) equals the
supernet's.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from segevo.nets.ofa_import import (
    OFALayoutError,
    map_ofa_resnet,
    read_state_dict,
    unwrap_state_dict,
)
from segevo.nets.space import get_space
from segevo.nets.supernet import SuperNet
from segevo.nets.train import (
    TrainConfig,
    initialise_from,
    load_supernet,
    save_checkpoint,
    train_supernet,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ofa_layout import (
    BASE_DEPTHS,
    BN,
    ofa_features,
    ofa_resnet50_shapes,
    r50_choice,
    random_state,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ofa_state() -> dict[str, Tensor]:
    return random_state(ofa_resnet50_shapes())


@pytest.fixture(scope="module")
def imported(ofa_state):
    supernet = SuperNet(get_space("r50", base_hw=(32, 32)), 5).eval()
    decoder_before = {k: v.clone() for k, v in supernet.state_dict().items() if "decoder" in k}
    report = map_ofa_resnet(ofa_state, supernet)
    return supernet, report, decoder_before


def test_every_backbone_tensor_holds_its_ofa_source(ofa_state, imported) -> None:
    supernet, report, decoder_before = imported
    stem = supernet.stem
    pairs = [(stem.conv1, "input_stem.0"), (stem.residual, "input_stem.1.conv")]
    pairs.append((stem.conv2, "input_stem.2"))
    g = 0
    for s, stage in enumerate(supernet.stages):
        assert len(stage) == BASE_DEPTHS[s] + 2
        for i, block in enumerate(stage):
            pairs += [(getattr(block, f"conv{k}"), f"blocks.{g}.conv{k}") for k in (1, 2, 3)]
            if i == 0:
                pairs.append((block.shortcut, f"blocks.{g}.downsample"))
            else:
                assert block.shortcut is None
            g += 1
    assert g == 18
    for module, prefix in pairs:
        torch.testing.assert_close(module.conv.weight, ofa_state[f"{prefix}.conv.conv.weight"])
        for f in BN:
            torch.testing.assert_close(getattr(module.bn, f), ofa_state[f"{prefix}.bn.bn.{f}"])
    # 3 stem layers + 54 block convs + 4 projections, each a weight and five BN tensors
    assert report.counts() == {"mapped": 61 * 6, "sliced": 0, "unmapped": 2, "missing": 74}
    assert sorted(report.unmapped) == [
        "classifier.linear.linear.bias",
        "classifier.linear.linear.weight",
    ]
    assert {k.split(".")[0] for k in report.missing} == {"decoder", "aux16", "aux32"}
    assert len(report.missing) == len(
        [k for k in supernet.state_dict() if k.startswith(("decoder", "aux"))]
    )
    for key, before in decoder_before.items():  # not in OFA: untouched
        torch.testing.assert_close(supernet.state_dict()[key], before)


def test_sub_networks_compute_what_ofa_computes(ofa_state, imported) -> None:
    supernet, _, _ = imported
    space = supernet.space
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    rng = np.random.default_rng(0)
    for x in [space.largest(), space.smallest(), *space.sample(2, rng)]:
        supernet.set_active(x)
        with torch.no_grad():
            ours = supernet.features(images)
            theirs = ofa_features(ofa_state, images, r50_choice(x))
        for a, b in zip(ours, theirs, strict=True):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_static_names_and_wrappers_are_read_as_ofa_does(ofa_state) -> None:
    static = {}
    for key, value in ofa_state.items():
        key = key.replace(".conv.conv.weight", ".conv.weight").replace("bn.bn.", "bn.")
        static["module." + key.replace(".linear.linear.", ".linear.")] = value
    state = unwrap_state_dict({"state_dict": static, "epoch": 120, "best_acc": 79.0})
    supernet = SuperNet(get_space("r50", base_hw=(32, 32)), 5)
    report = map_ofa_resnet(state, supernet)
    assert report.counts()["mapped"] == 366
    torch.testing.assert_close(
        supernet.stages[2][5].conv2.bn.running_var, ofa_state["blocks.13.conv2.bn.bn.running_var"]
    )


@functools.cache
def _supernet(space: str) -> SuperNet:
    # a refused import copies nothing, so the refusal tests share one supernet per space
    return SuperNet(get_space(space, base_hw=(32, 32)), 5)


def _refused(state: dict, match: str, space: str = "r50", **options: object) -> None:
    supernet = _supernet(space)
    before = {k: v.clone() for k, v in supernet.state_dict().items() if k.startswith("stem")}
    with pytest.raises(OFALayoutError, match=match):
        map_ofa_resnet(state, supernet, **options)
    for key, value in before.items():
        assert torch.equal(supernet.state_dict()[key], value), f"a refused import changed {key}"


def test_other_layouts_are_refused_with_what_was_found(ofa_state) -> None:
    mbv3 = {
        "first_conv.conv.weight": torch.zeros(16, 3, 3, 3),
        "blocks.0.mobile_inverted_conv.depth_conv.conv.weight": torch.zeros(16, 1, 3, 3),
        "final_expand_layer.conv.weight": torch.zeros(960, 160, 1, 1),
    }
    _refused(mbv3, "not an OFA-ResNet50 state dict.*OFA MobileNetV3")
    _refused({"a": torch.zeros(3), "b": torch.ones(2)}, "not an OFA-ResNet50.*found a, b")
    with pytest.raises(OFALayoutError, match="holds no state dict"):
        unwrap_state_dict({"epoch": 3, "config": {"lr": 0.1}})
    # an OFA-ResNet trained with expand 0.25 only: mid widths 64, not 88
    narrow = random_state(ofa_resnet50_shapes(expands=(0.25,)))
    _refused(narrow, r"blocks\.0\.conv1\.conv\.conv\.weight has shape \[64, 64, 1, 1\].*larger")
    # depth_list [0, 1]: stages of 3, 3, 5, 3 blocks
    shallow = random_state(ofa_resnet50_shapes(max_depth=1))
    _refused(shallow, r"stages of \[3, 3, 5, 3\] blocks; space 'r50' needs \[4, 4, 6, 4\]")
    lacking = {k: v for k, v in ofa_state.items() if not k.startswith("input_stem.1")}
    _refused(lacking, r"lacks 5 backbone tensors.*stem\.residual")
    extra = {**ofa_state, "blocks.3.se.fc.reduce.weight": torch.zeros(4, 4, 1, 1)}
    _refused(extra, r"not part of the OFA-ResNet layout.*blocks\.3\.se")


def test_a_shallower_space_takes_each_stages_leading_blocks_when_asked(ofa_state) -> None:
    from segevo.nets.space import ResNetSpace

    options = get_space("r50", base_hw=(32, 32)).definition()
    options = {k: v for k, v in options.items() if k not in ("family", "format")}
    space = ResNetSpace(name="r50-shallow", **{**options, "max_depths": (3, 3, 5, 3)})
    supernet = SuperNet(space, 5)
    with pytest.raises(OFALayoutError, match=r"stages of \[4, 4, 6, 4\].*need --slice"):
        map_ofa_resnet(ofa_state, supernet)
    report = map_ofa_resnet(ofa_state, supernet, allow_slicing=True)
    # OFA's last block of every stage (3, 7, 13, 17: 3 convs x 6 tensors) and its classifier
    dropped = {int(k.split(".")[1]) for k in report.unmapped if k.startswith("blocks.")}
    assert dropped == {3, 7, 13, 17} and len(report.unmapped) == 4 * 18 + 2
    assert report.counts()["sliced"] == 0
    for s, first in enumerate((0, 4, 8, 14)):  # OFA's first block of each stage
        for i, block in enumerate(supernet.stages[s]):
            source = ofa_state[f"blocks.{first + i}.conv2.conv.conv.weight"]
            torch.testing.assert_close(block.conv2.conv.weight, source)


def test_a_file_that_pickles_objects_is_refused_not_executed(tmp_path) -> None:
    path = tmp_path / "pickled.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "saved": datetime.date(2020, 1, 1)}, path)
    with pytest.raises(OFALayoutError, match=r"weights_only=True.*re-save its state dict"):
        read_state_dict(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        read_state_dict(tmp_path / "absent.pth")


def test_a_narrower_space_takes_the_leading_channels_only_when_asked(ofa_state) -> None:
    _refused(ofa_state, r"smaller; allow slicing \(--slice\)", space="tiny")
    supernet = SuperNet(get_space("tiny", base_hw=(32, 32)), 5)
    report = map_ofa_resnet(ofa_state, supernet, allow_slicing=True)
    assert report.counts()["mapped"] == 366 and report.counts()["sliced"] > 300
    source = ofa_state["blocks.4.conv2.conv.conv.weight"]  # stage 2, first layer
    target = supernet.stages[1][0].conv2.conv.weight
    torch.testing.assert_close(target, source[: target.shape[0], : target.shape[1]])
    torch.testing.assert_close(
        supernet.stem.conv2.bn.running_mean, ofa_state["input_stem.2.bn.bn.running_mean"][:16]
    )


def test_an_imported_checkpoint_loads_and_starts_a_training(ofa_state, tmp_path) -> None:
    from segevo.nets.ofa_import import import_ofa_checkpoint

    source = tmp_path / "ofa_resnet50.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ofa_state.items()}}, source)
    base = {"space": "tiny", "space_options": {"base_hw": [32, 32]}}
    config = TrainConfig(**base, dataset_options={"size": [32, 32]}, steps=1, batch_size=2)
    space = get_space("tiny", base_hw=(32, 32))
    payload, report = import_ofa_checkpoint(
        source,
        space,
        config=config.to_dict(),
        num_classes=3,
        class_names=["a", "b", "c"],
        allow_slicing=True,
    )
    assert report.counts()["mapped"] == 366 and payload["imported"]["mapped"] == 366
    out = tmp_path / "tiny-ofa.pt"
    save_checkpoint(out, payload)
    supernet, loaded = load_supernet(out)
    assert (
        loaded["step"] == 0
        and loaded["optimizer"] is None
        and loaded["class_names"] == ["a", "b", "c"]
    )
    torch.testing.assert_close(
        supernet.stages[3][3].conv3.conv.weight,
        ofa_state["blocks.17.conv3.conv.conv.weight"][:512, :180],
    )
    # The synthetic set has another class count than the import: everything is copied but
    # the heads' classifiers.
    net = SuperNet(space, 8)
    kept = initialise_from(net, out)
    assert sorted(kept) == sorted(
        f"{head}.classifier.{p}"
        for head in ("decoder.head", "aux16", "aux32")
        for p in ("weight", "bias")
    )
    for name, value in net.state_dict().items():
        if name not in kept:
            assert torch.equal(value, supernet.state_dict()[name]), name
    with pytest.raises(ValueError, match="another space definition"):
        initialise_from(SuperNet(get_space("tiny", base_hw=(32, 48)), 3), out)
    # Training from it: a vanishing learning rate keeps the imported convolutions (the random
    # OFA weights sliced to tiny give large gradients, hence 1e-20).
    config = dataclasses.replace(config, lr=1e-20, num_threads=1, init_from=str(out))
    result = train_supernet(config)
    assert result.initialised_from == str(out.resolve())
    torch.testing.assert_close(
        result.supernet.stages[0][0].conv1.conv.weight, supernet.stages[0][0].conv1.conv.weight
    )
    fresh = train_supernet(dataclasses.replace(config, init_from=None))
    assert not torch.allclose(
        fresh.supernet.stages[0][0].conv1.conv.weight, supernet.stages[0][0].conv1.conv.weight
    )
    # init_from changes what is learned: it is part of the config (and so of the cache key)
    assert "init_from" in config.to_dict() and "init_from" not in TrainConfig().to_dict()

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from segevo.nets.arch import make_divisible
from segevo.nets.space import (
    PHASES,
    ResNetSpace,
    SearchSpace,
    available_spaces,
    get_space,
    register_space,
    unregister_space,
)


def small_space() -> ResNetSpace:
    """A space small enough to enumerate, with deliberate width and expand collisions."""
    return ResNetSpace(
        name="small",
        base_hw=(32, 32),
        scales=(0.5, 1.0),
        stem_out=(4,),
        stem_mid=(4,),
        stage_channels=(16, 24, 32),
        base_depths=(1, 1, 1),
        max_depths=(2, 1, 2),
        strides=(1, 2, 2),
        width_mults=(0.5, 0.55, 1.0),
        expand_ratios=(0.25, 0.3, 0.5),
        divisor=4,
        context_ch=8,
        fusion_ch=8,
        head_mid_ch=8,
        aux_mid_ch=4,
    )


def all_vectors(space: SearchSpace) -> np.ndarray:
    ranges = [range(lo, hi + 1) for lo, hi in zip(space.lower, space.upper, strict=True)]
    return np.array(list(itertools.product(*ranges)), dtype=np.int64)


def structurally_valid(space: ResNetSpace, X: np.ndarray) -> np.ndarray:
    """Active layers carry e >= 1 and inactive ones e = 0 (collisions allowed)."""
    ok = np.ones(len(X), dtype=bool)
    for s in range(space.n_stages):
        di, _, es = space.stage_digits(s)
        depth = space.base_depths[s] + X[:, di]
        active = np.arange(space.max_depths[s])[None, :] < depth[:, None]
        ok &= np.all((X[:, es] >= 1) == active, axis=1)
    return ok


def network_of(space: ResNetSpace, v: np.ndarray) -> tuple:
    """Independent oracle: the network a structurally valid vector describes, from the definition."""
    h, w = space.base_hw
    scale = space.scales[v[0]]
    net: list = [
        (round(h * scale), round(w * scale)),
        int(v[1]),
        space.stem_out[v[2]],
        space.stem_mid[v[2]],
    ]
    for s in range(space.n_stages):
        di, wi, es = space.stage_digits(s)
        out = make_divisible(space.stage_channels[s] * space.width_mults[v[wi]], space.divisor)
        depth = space.base_depths[s] + v[di]
        mids = tuple(
            make_divisible(out * space.expand_ratios[e - 1], space.divisor) for e in v[es][:depth]
        )
        net.append((out, mids))
    return tuple(net)


@pytest.fixture(scope="module")
def small() -> ResNetSpace:
    return small_space()


@pytest.fixture(scope="module")
def enumerated(small: ResNetSpace) -> np.ndarray:
    return all_vectors(small)


def test_small_space_has_collisions(small: ResNetSpace) -> None:
    assert small.out_channels[0][0] == small.out_channels[0][1]
    assert small.mid_channels[0][2][1] == small.mid_channels[0][2][2]


def test_repair_is_idempotent_and_canonical_by_brute_force(small, enumerated) -> None:
    R = small.repair(enumerated)
    assert R.dtype == np.int64
    np.testing.assert_array_equal(small.repair(R), R)
    canonical = np.unique(R, axis=0)
    assert len(canonical) == small.count()
    # valid == canonical, and only canonical vectors are valid
    np.testing.assert_array_equal(small.is_valid(enumerated), np.all(enumerated == R, axis=1))
    # equal networks <-> equal vectors, with the network built by an independent oracle
    struct = enumerated[structurally_valid(small, enumerated)]
    nets = [network_of(small, v) for v in struct]
    assert len(set(nets)) == small.count()
    for v, net in zip(small.repair(struct), nets, strict=True):
        assert network_of(small, v) == net
    # decode agrees on the canonical vectors and tells them apart
    decoded = {
        (
            a.input_hw,
            a.stem,
            tuple((st.out_ch, tuple(la.mid_ch for la in st.layers)) for st in a.stages),
        )
        for a in (small.decode(v) for v in canonical)
    }
    assert len(decoded) == len(canonical)


def test_repair_inactive_and_active_layers(small) -> None:
    v = small.upper.copy()
    _, _, es = small.stage_digits(0)
    di, _, _ = small.stage_digits(0)
    v[di] = 0  # depth 1: second layer inactive
    v[es.start + 1] = 3
    r = small.repair(v)
    assert r[es.start + 1] == 0
    v[di] = 1
    v[es.start + 1] = 0  # active layer with e = 0 gets a real choice
    assert small.repair(v)[es.start + 1] >= 1


def test_repair_clips_and_rounds() -> None:
    space = get_space("r50")
    x = space.upper.astype(float) + 5.0
    x[0] = -3.4
    r = space.repair(x)
    assert r[0] == 0
    np.testing.assert_array_equal(r[1:], space.upper[1:])
    with pytest.raises(ValueError, match="finite"):
        space.repair(np.full(space.n_var, np.nan))


@pytest.mark.parametrize("phase", [*PHASES, None])
def test_count_per_phase_by_brute_force(small, enumerated, phase) -> None:
    canonical = np.unique(small.repair(enumerated), axis=0)
    keep = np.ones(len(canonical), dtype=bool)
    if phase in ("depth", "expand"):
        keep &= canonical[:, 2] == small.upper[2]
        for s in range(small.n_stages):
            _, wi, es = small.stage_digits(s)
            top_w = small.repair(small.upper)[wi]
            keep &= canonical[:, wi] == top_w
            if phase == "depth":
                e = canonical[:, es]
                top_e = small.repair(small.upper)[es][0]
                keep &= np.all((e == 0) | (e == top_e), axis=1)
    assert small.count(phase=phase) == int(keep.sum())
    draws = small.sample(4000, np.random.default_rng(1), phase=phase)
    drawn = {tuple(r) for r in draws}
    allowed = {tuple(r) for r in canonical[keep]}
    assert drawn <= allowed


def test_sample_is_uniform(small) -> None:
    n_arch = small.count()
    X = small.sample(40 * n_arch, np.random.default_rng(7))
    assert np.all(small.is_valid(X))
    _, counts = np.unique(X, axis=0, return_counts=True)
    assert len(counts) == n_arch
    assert stats.chisquare(counts).pvalue > 1e-3


def test_sample_presets_valid_and_seeded() -> None:
    for name in ("r50", "tiny"):
        space = get_space(name)
        X = space.sample(500, 3)
        assert X.shape == (500, 29) and X.dtype == np.int64
        assert np.all(space.is_valid(X))
        np.testing.assert_array_equal(X, space.sample(500, np.random.default_rng(3)))
        # expand digits are marginally uniform over 1..3 when a layer is active
        e = X[:, 5]
        assert set(np.unique(e)) == {1, 2, 3}
    with pytest.raises(ValueError, match="phase"):
        get_space("tiny").sample(2, 0, phase="bogus")


def test_largest_and_smallest() -> None:
    space = get_space("r50")
    np.testing.assert_array_equal(space.largest(), space.upper)
    np.testing.assert_array_equal(space.smallest(), space.lower)
    assert space.is_valid(space.lower) and space.is_valid(space.upper)


def test_validate_errors() -> None:
    space = get_space("r50")
    with pytest.raises(ValueError, match=r"29 digits, got 28"):
        space.validate(np.zeros(28, dtype=int))
    x = space.largest()
    x[3] = 5
    with pytest.raises(ValueError, match=r"x3 \(stage 1 depth\) = 5 .*0\.\.2"):
        space.validate(x)
    x = space.largest()
    x[0] = -1
    with pytest.raises(ValueError, match=r"x0 \(input scale\).*0\.\.4"):
        space.validate(x)
    x = space.smallest()
    x[7] = 2  # stage 1 layer 3 while depth is 2
    with pytest.raises(ValueError, match=r"x7 .*inactive.*allowed 0"):
        space.validate(x)
    x = space.largest()
    x[8] = 0  # stage 1 layer 4 while depth is 4
    with pytest.raises(ValueError, match=r"x8 .*active.*1\.\.3"):
        space.validate(x)
    x = space.largest().astype(float)
    x[4] = 1.5
    with pytest.raises(ValueError, match=r"x4 .*not an integer"):
        space.validate(x)
    X = np.stack([space.largest(), space.largest()])
    X[1, 5] = 9
    with pytest.raises(ValueError, match=r"row 1: digit x5"):
        space.validate(X)
    with pytest.raises(ValueError, match="2-D"):
        space.validate(np.zeros((1, 1, 29)))


def test_validate_names_collisions(small) -> None:
    x = small.repair(small.upper)
    _, wi, _ = small.stage_digits(0)
    x[wi] = 1
    with pytest.raises(ValueError, match="same network as 0"):
        small.validate(x)


def test_onehot_blocks() -> None:
    space = get_space("r50")
    X = np.stack([space.smallest(), space.largest(), *space.sample(20, 0)])
    H = space.onehot(X)
    assert H.dtype == np.float32 and H.shape == (22, space.n_features) == (22, 88)
    assert len(space.feature_names()) == space.n_features
    # one 1 per digit, except inactive layers (all-zero blocks)
    is_expand = np.array([n.endswith("expand") for n in space.digit_names])
    n_inactive = ((X == 0) & is_expand).sum(axis=1)
    np.testing.assert_array_equal(H.sum(axis=1), space.n_var - n_inactive)
    smallest = space.onehot(space.smallest())
    names = np.array(space.feature_names())
    # stage 1 layers 3 and 4 are inactive in the smallest network
    for j in (7, 8):
        block = np.char.startswith(names, f"x{j}=")
        assert block.sum() == 3 and not smallest[block].any()
    assert smallest[list(names).index("x5=1")] == 1.0
    with pytest.raises(ValueError):
        space.onehot(np.full(29, 9))


def test_digest_stable_and_sensitive() -> None:
    a, b = get_space("r50"), get_space("r50")
    assert a.digest() == b.digest()
    assert len(a.digest()) == 64
    assert a.digest() == "e2d9d3c4ad3c40c96ee544669f4b556fabda05e23c218383fdafe5f30a403653"
    assert get_space("r50", base_hw=(512, 1024)).digest() != a.digest()
    assert get_space("tiny").digest() != a.digest()


def test_decode_r50_largest_and_smallest() -> None:
    space = get_space("r50")
    big = space.decode(space.largest())
    assert big.input_hw == (1024, 2048) and big.scale == 1.0
    assert (big.stem.mid_ch, big.stem.out_ch, big.stem.residual) == (32, 64, True)
    assert big.stem.out_hw == (256, 512)
    assert [st.depth for st in big.stages] == [4, 4, 6, 4]
    assert [st.out_ch for st in big.stages] == [256, 512, 1024, 2048]
    assert [st.out_hw for st in big.stages] == [(256, 512), (128, 256), (64, 128), (32, 64)]
    first = big.stages[1].layers[0]
    assert (first.in_ch, first.mid_ch, first.out_ch, first.stride) == (256, 176, 512, 2)
    assert first.in_hw == (256, 512) and first.out_hw == (128, 256)
    assert big.decoder.in8_ch == 512 and big.decoder.hw32 == (32, 64)
    small = space.decode(space.smallest())
    assert small.input_hw == (512, 1024)
    assert (small.stem.mid_ch, small.stem.out_ch, small.stem.residual) == (24, 40, False)
    assert [st.depth for st in small.stages] == [2, 2, 4, 2]
    assert [st.out_ch for st in small.stages] == [168, 336, 664, 1328]
    assert small.stages[0].layers[0].mid_ch == 32  # make_divisible(168 * 0.2, 8)
    with pytest.raises(ValueError, match="one architecture"):
        space.decode(np.stack([space.lower, space.upper]))


def test_odd_input_sizes_use_ceil() -> None:
    space = get_space("tiny", base_hw=(100, 36))
    arch = space.decode(space.largest())
    assert arch.stem.conv_hw == (50, 18) and arch.stem.out_hw == (25, 9)
    assert [st.out_hw for st in arch.stages] == [(25, 9), (13, 5), (7, 3), (4, 2)]


def test_presets_have_no_collisions() -> None:
    for name in ("r50", "tiny"):
        space = get_space(name)
        assert space.count() == 30 * 351**3 * 3159
        for s in range(4):
            assert len(set(space.out_channels[s])) == 3
            for row in space.mid_channels[s]:
                assert len(set(row)) == 3


def test_registry() -> None:
    assert {"r50", "tiny"} <= set(available_spaces())
    with pytest.raises(ValueError, match=r"unknown search space 'nope'; known: .*r50.*tiny"):
        get_space("nope")
    with pytest.raises(ValueError, match=r"unknown option.*depth.*allowed: base_hw"):
        get_space("tiny", depth=3)
    register_space("small-test", lambda **kw: small_space(), replace=True)
    try:
        assert get_space("small-test").count() == small_space().count()
        with pytest.raises(ValueError, match="already registered"):
            register_space("small-test", lambda **kw: small_space())
    finally:
        unregister_space("small-test")
    assert "small-test" not in available_spaces()


@pytest.mark.parametrize("name", available_spaces())
def test_every_registered_space_keeps_the_space_contract(name: str) -> None:
    # The conformance of the space family: canonical vectors, bounds, the supernet.
    space = get_space(name)
    rng = np.random.default_rng(0)
    X = space.sample(16, rng)
    assert np.array_equal(space.repair(X), X)
    assert np.all((space.lower <= X) & (space.upper >= X))
    largest = space.largest()
    assert np.array_equal(space.repair(largest[None, :])[0], largest)
    assert space.digest() == get_space(name).digest()


def test_bad_definitions() -> None:
    with pytest.raises(ValueError, match="base_hw"):
        get_space("tiny", base_hw=(96,))
    with pytest.raises(ValueError, match="repeated input sizes"):
        get_space("tiny", base_hw=(1, 1))
    with pytest.raises(ValueError, match="max depth"):
        ResNetSpace(**{**_small_kwargs(), "max_depths": (1, 1, 1), "base_depths": (1, 2, 1)})


def _small_kwargs() -> dict:
    space = small_space()
    d = space.definition()
    del d["family"], d["format"]
    return {"name": "x", **d}


def test_flops_and_params_batch() -> None:
    space = get_space("tiny")
    X = space.sample(3, 0)
    f = space.flops(X, num_classes=11)
    p = space.params(X, num_classes=11)
    assert f.shape == (3,) and p.shape == (3,)
    assert f[0] == space.flops(X[0], num_classes=11)
    assert space.params(X[0], 11, with_aux=True) > space.params(X[0], 11)
    assert space.flops(space.largest()) > space.flops(space.smallest())
    with pytest.raises(ValueError, match="num_classes"):
        space.params(X[0], num_classes=0)


@pytest.mark.parametrize("name", available_spaces())
def test_registered_space_conformance(name: str) -> None:
    space = get_space(name)
    assert isinstance(space, SearchSpace) and space.name == name
    assert space.lower.dtype == np.int64 and space.upper.dtype == np.int64
    assert space.lower.shape == space.upper.shape == (space.n_var,)
    assert np.all(space.lower <= space.upper)
    assert len(space.digit_names) == space.n_var
    X = np.stack([space.largest(), space.smallest(), *space.sample(20, 0)])
    assert np.all(space.is_valid(X))
    np.testing.assert_array_equal(space.repair(X), X)
    rng = np.random.default_rng(0)
    raw = rng.integers(space.lower, space.upper + 1, size=(50, space.n_var))
    repaired = space.repair(raw)
    assert np.all(space.is_valid(repaired))
    np.testing.assert_array_equal(space.repair(repaired), repaired)
    H = space.onehot(X)
    assert H.dtype == np.float32 and H.shape[0] == len(X)
    assert len(space.digest()) == 64 and space.digest() == get_space(name).digest()
    assert space.count() >= len({tuple(r) for r in space.sample(200, 1)})
    assert space.flops(X[0]) > 0 and space.params(X[0]) > 0
    assert space.decode(X[0]).x == tuple(int(v) for v in X[0])
    with pytest.raises(ValueError, match="digits"):
        space.validate(np.zeros(space.n_var + 1, dtype=np.int64))


@pytest.mark.parametrize("name", ["r50", "tiny"])
def test_onehot_without_validation_matches_the_checked_path(name: str) -> None:
    space = get_space(name)
    X = np.stack([space.smallest(), space.largest(), *space.sample(50, 3)])
    np.testing.assert_array_equal(space.onehot(X, validate=False), space.onehot(X))
    np.testing.assert_array_equal(space.onehot(X[0], validate=False), space.onehot(X[0]))
    # The shape is still checked; the canonical form is not (that is the caller's promise).
    with pytest.raises(ValueError, match="digits"):
        space.onehot(X[:, :-1], validate=False)
    broken = X[:1].copy()
    _, _, es = space.stage_digits(0)
    broken[0, es.stop - 1] = 1  # a layer beyond the stage depth made active
    if not np.array_equal(space.repair(broken), broken):
        with pytest.raises(ValueError):
            space.onehot(broken)

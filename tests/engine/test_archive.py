"""archive.zarr: grouped appends, committed rows, reader API, damaged files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segevo.engine.archive import (
    COLUMNS,
    ArchiveCorruptError,
    ArchiveError,
    ArchiveWriter,
    archive_path,
    open_archive,
)


def _rows(start: int, n: int, n_var: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + start)
    return {
        "task_id": np.arange(start, start + n),
        "x": rng.integers(0, 5, size=(n, n_var)),
        "acc": rng.random(n),
        "lat_ms": np.where(rng.random(n) < 0.3, np.nan, rng.random(n) * 10),
        "lat_pred_ms": rng.random(n) * 10,
        "acc_pred": rng.random(n),
        "predictor_version": rng.integers(-1, 4, size=n),
        "t_submit": 1e9 + rng.random(n),
        "t_done": 1e9 + 1 + rng.random(n),
    }


def _concat(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def test_append_and_read_back_across_chunk_and_capacity_boundaries(tmp_path):
    writer = ArchiveWriter.create(tmp_path, n_var=3, chunk_rows=8)
    batches, names = [], []
    start = 0
    for size in (1, 7, 3, 20, 1, 9):  # crosses chunks and several capacity doublings
        batch = _rows(start, size)
        who = [f"ev{(start + i) % 3}" for i in range(size)]
        assert writer.append(batch, who) == start + size
        batches.append(batch)
        names += who
        start += size
    data = open_archive(tmp_path)
    expected = _concat(batches)
    assert len(data) == data.committed_rows == start
    for name in expected:
        np.testing.assert_array_equal(data[name], expected[name], err_msg=name)
    assert list(data.evaluator_names) == names
    assert data["x"].dtype == np.int64 and data["acc"].dtype == np.float64
    # A slice of the rows.
    part = open_archive(tmp_path, start=5, stop=12)
    np.testing.assert_array_equal(part["task_id"], np.arange(5, 12))
    assert part.start == 5 and part.committed_rows == start


def test_committed_rows_is_the_only_truth(tmp_path):
    writer = ArchiveWriter.create(tmp_path, n_var=3, chunk_rows=4)
    writer.append(_rows(0, 3), ["a"] * 3)
    # Rows written past committed_rows (a writer killed before its commit) stay invisible.
    group_meta = archive_path(tmp_path) / "zarr.json"
    meta_before = group_meta.read_text()
    writer._arrays["acc"][3:4] = [0.123]
    assert open_archive(tmp_path)["acc"].size == 3
    assert group_meta.read_text() == meta_before


def test_reopen_appends_after_committed_rows_and_never_rewrites(tmp_path):
    writer = ArchiveWriter.create(tmp_path, n_var=3, chunk_rows=4)
    first = _rows(0, 5)
    writer.append(first, ["a"] * 5)
    before = open_archive(tmp_path)
    reopened = ArchiveWriter.open(tmp_path)
    assert reopened.committed_rows == 5 and reopened.evaluators == ["a"]
    reopened.append(_rows(5, 6), ["b"] * 6)
    after = open_archive(tmp_path)
    for name in COLUMNS:
        np.testing.assert_array_equal(after[name][:5], before[name], err_msg=name)
    assert list(after.evaluator_names) == ["a"] * 5 + ["b"] * 6


def test_frame_has_one_column_per_digit(tmp_path):
    import pandas as pd

    writer = ArchiveWriter.create(tmp_path, n_var=2)
    batch = _rows(0, 4, n_var=2)
    writer.append(batch, ["w"] * 4)
    frame = open_archive(tmp_path).frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns[:3]) == ["x0", "x1", "task_id"]
    np.testing.assert_array_equal(frame["x1"].to_numpy(), batch["x"][:, 1])
    assert set(frame["evaluator"]) == {"w"}


def test_bad_appends_are_refused_without_writing(tmp_path):
    writer = ArchiveWriter.create(tmp_path, n_var=3)
    batch = _rows(0, 2)
    with pytest.raises(ValueError, match="shape"):
        writer.append({**batch, "acc": np.zeros(3)}, ["a", "b"])
    with pytest.raises(ValueError, match="needs column 'x'"):
        writer.append({k: v for k, v in batch.items() if k != "x"}, ["a", "b"])
    with pytest.raises(ValueError, match="unknown archive columns"):
        writer.append({**batch, "mood": np.zeros(2)}, ["a", "b"])
    assert len(open_archive(tmp_path)) == 0


def test_create_refuses_an_existing_archive(tmp_path):
    ArchiveWriter.create(tmp_path, n_var=2)
    with pytest.raises(ArchiveError, match="never overwritten"):
        ArchiveWriter.create(tmp_path, n_var=2)


def test_not_an_archive_and_other_versions(tmp_path):
    with pytest.raises(ArchiveError, match="not a segevo archive"):
        open_archive(tmp_path)
    ArchiveWriter.create(tmp_path, n_var=2)
    meta_path = archive_path(tmp_path) / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArchiveError, match="archive version 99"):
        open_archive(tmp_path)
    meta["attributes"]["format"] = "something-else"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArchiveError, match="not a segevo archive"):
        open_archive(tmp_path)


def _chunk_files(tmp_path, name):
    return sorted(
        p
        for p in (archive_path(tmp_path) / name).rglob("*")
        if p.is_file() and p.name != "zarr.json"
    )


def test_truncated_chunk_gives_a_clear_error(tmp_path):
    writer = ArchiveWriter.create(tmp_path, n_var=3, chunk_rows=4)
    writer.append(_rows(0, 6), ["a"] * 6)
    chunk = _chunk_files(tmp_path, "acc")[0]
    chunk.write_bytes(chunk.read_bytes()[:5])
    with pytest.raises(ArchiveCorruptError, match=r"array 'acc' .* truncated or corrupt"):
        open_archive(tmp_path, retries=1)


def test_deleted_chunk_gives_a_clear_error(tmp_path):
    writer = ArchiveWriter.create(tmp_path, n_var=3, chunk_rows=4)
    writer.append(_rows(0, 6), ["a"] * 6)
    _chunk_files(tmp_path, "t_done")[1].unlink()  # rows 4..7
    with pytest.raises(ArchiveCorruptError, match=r"rows 4\.\.5 hold unwritten values"):
        open_archive(tmp_path, retries=1)
    # Nothing was rewritten: the surviving rows still read when asked for directly.
    assert len(open_archive(tmp_path, stop=4, retries=1)) == 4

"""The semantic tier's entries (``fastgw.semantic.index``): partitions never crossed, the
bound per model, expiry, purge, and the switch from a flat index to HNSW."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("faiss")

from fastgw.semantic import index as semantic_index  # noqa: E402
from fastgw.semantic.index import Entry, SemanticIndex  # noqa: E402

DIM = 32
NOW = 1_000_000.0
P1, P2 = b"p" * 16, b"q" * 16


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype("float32")
    return v / np.linalg.norm(v)


def entry(
    seed: int,
    partition: bytes = P1,
    model: str = "gpt",
    namespace: str = "ns",
    expires_at: float = NOW + 60,
) -> Entry:
    return Entry(partition, f"q{seed}", b"{}", None, NOW, expires_at, namespace, model, unit(seed))


def test_a_search_finds_the_nearest_in_its_own_partition_only() -> None:
    index = SemanticIndex(DIM)
    index.add(entry(1), 100)
    index.add(entry(1, partition=P2), 100)
    found = index.search(P1, unit(1), 3, 0.5, NOW)
    assert [(round(s, 4), e.partition) for s, e in found] == [(1.0, P1)]
    assert index.search(b"z" * 16, unit(1), 3, 0.0, NOW) == []


def test_min_score_and_best_first() -> None:
    index = SemanticIndex(DIM)
    for seed in range(20):
        index.add(entry(seed), 100)
    found = index.search(P1, unit(5), 3, -1.0, NOW)
    scores = [s for s, _ in found]
    assert found[0][1].text == "q5" and scores == sorted(scores, reverse=True)
    assert index.search(P1, unit(5), 3, 0.99, NOW)[0][1].text == "q5"
    assert len(index.search(P1, unit(5), 3, 0.99, NOW)) == 1


def test_each_model_keeps_at_most_its_bound_least_recently_used_out() -> None:
    index = SemanticIndex(DIM)
    for seed in range(3):
        index.add(entry(seed), 3)
    first = index.search(P1, unit(0), 1, 0.99, NOW)[0][1]
    index.touch(first)  # q0 used: q1 is now the least recently used
    index.add(entry(3), 3)
    index.add(entry(10, model="other"), 3)  # another model's bound is its own
    texts = {e.text for e in index.live(NOW)}
    assert texts == {"q0", "q2", "q3", "q10"}
    assert len(index) == 4
    assert index.search(P1, unit(1), 1, 0.99, NOW) == []


def test_an_expired_entry_is_never_returned_and_is_removed() -> None:
    index = SemanticIndex(DIM)
    index.add(entry(1, expires_at=NOW + 1), 10)
    assert index.search(P1, unit(1), 1, 0.9, NOW)
    assert index.search(P1, unit(1), 1, 0.9, NOW + 1) == []
    assert len(index) == 0 and not index.partitions
    index.add(entry(2, expires_at=NOW + 1), 10)
    index.add(entry(3, expires_at=NOW + 100), 10)
    assert index.expire(NOW + 2, 10) == 1
    assert [e.text for e in index.live(NOW + 2)] == ["q3"]


def test_purge_by_namespace_and_model() -> None:
    index = SemanticIndex(DIM)
    index.add(entry(1, namespace="a", model="m1"), 10)
    index.add(entry(2, namespace="b", model="m1"), 10)
    index.add(entry(3, namespace="a", model="m2", partition=P2), 10)
    assert index.purge("a", "m1") == 1
    assert index.purge(None, "m2") == 1
    assert [e.text for e in index.live(NOW)] == ["q2"]
    assert index.purge("b", None) == 1 and len(index) == 0


def test_a_growing_partition_becomes_hnsw_and_still_finds_its_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import faiss

    monkeypatch.setattr(semantic_index, "HNSW_FROM", 64)
    index = SemanticIndex(DIM)
    for seed in range(100):
        index.add(entry(seed), 1_000)
    assert isinstance(index.partitions[P1].index, faiss.IndexHNSWSQ)
    for seed in (0, 50, 99):
        assert index.search(P1, unit(seed), 1, 0.99, NOW)[0][1].text == f"q{seed}"
    # the quantised graph only finds them: each score is the exact cosine of the float vectors
    query = unit(7)
    for score, found in index.search(P1, query, 5, -1.0, NOW):
        assert score == pytest.approx(float(query @ found.vector), abs=1e-6)


def test_removals_leave_tombstones_that_a_rebuild_clears() -> None:
    index = SemanticIndex(DIM)
    for seed in range(100):
        index.add(entry(seed), 100)
    for seed in range(100, 180):  # 80 evictions under a bound of 100
        index.add(entry(seed), 100)
    partition = index.partitions[P1]
    assert partition.live == 100
    assert len(partition.slots) <= 2 * partition.live  # rebuilt before tombstones outnumber
    assert index.search(P1, unit(0), 1, 0.99, NOW) == []  # evicted
    assert index.search(P1, unit(179), 1, 0.99, NOW)[0][1].text == "q179"


def test_a_batch_is_indexed_and_searched_as_one_entry_at_a_time_would_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``add_many`` and ``search_many`` (one FAISS call per partition) keep what ``add`` and
    ``search`` one at a time keep, across the switch to HNSW and the model's bound."""
    monkeypatch.setattr(semantic_index, "HNSW_FROM", 64)
    one, many = SemanticIndex(DIM), SemanticIndex(DIM)
    made = [entry(i, P1 if i % 3 else P2) for i in range(150)]
    twins = [entry(i, P1 if i % 3 else P2) for i in range(150)]
    for e in made:
        one.add(e, 120)
    for start in range(0, 150, 40):
        many.add_many([(e, 120) for e in twins[start : start + 40]])
    assert len(one) == len(many) == 120
    assert sorted(e.text for e in many.live(NOW)) == sorted(e.text for e in one.live(NOW))
    live = {e.text: e.partition for e in many.live(NOW)}
    seeds = list(range(30, 150, 7))
    queries = np.stack([unit(i) for i in seeds])
    for partition in (P1, P2):
        rows = many.search_many(partition, queries, 3, -1.0, NOW)
        assert len(rows) == len(queries)
        for seed, row in zip(seeds, rows, strict=True):
            assert all(e.partition == partition for _, e in row)
            assert [score for score, _ in row] == sorted((score for score, _ in row), reverse=True)
            if live.get(f"q{seed}") == partition:  # asked its own vector: found first
                assert row[0][1].text == f"q{seed}" and row[0][0] == pytest.approx(1.0)

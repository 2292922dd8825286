"""Redactor and StreamScrubber: configured secrets masked in bodies and in streams split at
any byte, and the secrets a config points at."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastgw.config import parse_config
from fastgw.redact import MASK, Redactor, StreamScrubber, build_redactor, configured_secrets
from tests.twins import PROPERTY

KEY = "sk-proj-Abc123Def456Ghi789"
ODD = 'p@ss/w"rd\\9876'  # needs escaping in JSON and in URLs


def pieces(secret: bytes, size: int = 4) -> set[bytes]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def test_scrub_masks_every_form() -> None:
    """Raw, JSON-escaped and percent-encoded spellings are all masked."""
    redactor = Redactor([KEY, ODD])
    body = (
        f'{{"error":{{"message":"auth: Bearer {KEY}, again {KEY}"}}}} '
        'p@ss/w\\"rd\\\\9876 p%40ss%2Fw%22rd%5C9876 p@ss/w"rd\\9876'
    ).encode()
    out = redactor.scrub(body)
    assert KEY.encode() not in out
    for form in redactor.forms:
        assert form not in out
    assert out.count(MASK) == 5


def test_short_secrets_are_not_looked_for() -> None:
    """A secret under 8 bytes would mask ordinary text: it is skipped."""
    assert Redactor(["abc", ""]).forms == ()
    assert Redactor(["abc"]).scrub(b"abc abc") == b"abc abc"


def _stream(redactor: Redactor, chunks: list[bytes]) -> bytes:
    scrubber = StreamScrubber(redactor)
    return b"".join(scrubber.feed(c) for c in chunks) + scrubber.end()


def test_every_split_point_of_an_event_is_masked() -> None:
    """A secret cut between two chunks at any byte is masked whole; nothing else changes."""
    redactor = Redactor([KEY])
    event = f'event: error\ndata: {{"error":{{"message":"authorization: Bearer {KEY}"}}}}\n\n'
    data = event.encode()
    expected = redactor.scrub(data)
    for cut in range(len(data) + 1):
        assert _stream(redactor, [data[:cut], data[cut:]]) == expected, cut
    for cut in range(1, len(data)):  # three chunks
        out = _stream(redactor, [data[:cut], data[cut : cut + 5], data[cut + 5 :]])
        assert out == expected, cut


@PROPERTY
@given(st.binary(max_size=60), st.binary(max_size=60), st.lists(st.integers(0, 200), max_size=6))
def test_streams_never_carry_a_piece_of_the_secret(
    before: bytes, after: bytes, cuts: list[int]
) -> None:
    """Whatever surrounds the secret and wherever the chunks are cut, what goes out equals
    the scrubbed whole, or the whole with a held start of the secret masked at the end."""
    redactor = Redactor([KEY])
    data = before + KEY.encode() + after
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    out = _stream(redactor, chunks)
    assert KEY.encode() not in out
    assert out == redactor.scrub(data) or out.endswith(MASK)


def test_a_stream_ending_inside_a_secret_masks_the_held_start() -> None:
    """The start of a secret held back when the stream ends is never sent as is."""
    redactor = Redactor([KEY])
    out = _stream(redactor, [b"data: Bearer " + KEY[:10].encode()])
    assert out == b"data: Bearer " + MASK


def test_sse_chunks_pass_without_copy() -> None:
    """A chunk ending in a newline is returned as it came (the common case)."""
    redactor = Redactor([KEY])
    chunk = b'data: {"choices":[{"delta":{"content":"sk-proj"}}]}\n\n'
    assert StreamScrubber(redactor).feed(chunk) is chunk


CONFIG = """
[state]
backend = "redis"
redis_url_env = "REDIS_URL"

[providers.up]
type = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "UP_KEY"

[providers.mock]
type = "mock"
"""


def test_configured_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Upstream keys, the admin key and the Redis password (as written and decoded)."""
    env = {
        "UP_KEY": KEY,
        "FASTGW_ADMIN_KEY": "admin-secret-0123456",
        "REDIS_URL": "redis://user:pa%2Fss-word-99@127.0.0.1:6379/0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        config = parse_config(CONFIG, env=env)
    except Exception:  # hiredis missing: the shape is all this test needs
        pytest.importorskip("hiredis")
        raise
    found = set(configured_secrets(config))
    assert found == {KEY, "admin-secret-0123456", "pa%2Fss-word-99", "pa/ss-word-99"}
    redactor = build_redactor(config)
    assert redactor is not None
    assert redactor.scrub(b"pa/ss-word-99") == MASK


def test_no_secret_no_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a secret set there is nothing to scan (and no cost)."""
    monkeypatch.delenv("FASTGW_ADMIN_KEY", raising=False)
    assert build_redactor(parse_config('[providers.mock]\ntype = "mock"\n')) is None

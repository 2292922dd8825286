"""Gateway keys: hashing, authentication from headers, and per-key model allow-lists."""

from __future__ import annotations

import hashlib
import re

import pytest

from fastgw.config import KeyConfig, TeamConfig, parse_expiry
from fastgw.errors import AuthenticationFailed, PermissionDenied
from fastgw.keys import KEY_PREFIX, KeyRecord, KeyRing, hash_key, new_key

ALL_KEY = "sk-test-all-models-0123456789"
CHAT_KEY = "sk-test-chat-only-0123456789"


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing(
        [
            KeyConfig(id="all", hash=hash_key(ALL_KEY)),
            # the bare hex form (without "sha256:") is accepted too
            KeyConfig(id="chat", hash=hash_key(CHAT_KEY).removeprefix("sha256:"), models=["chat"]),
        ]
    )


def test_hash_key_format() -> None:
    """A key is configured as ``sha256:`` and the hex SHA-256 of its UTF-8 bytes."""
    assert hash_key("sk-abc") == "sha256:" + hashlib.sha256(b"sk-abc").hexdigest()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", hash_key("ключ"))


def test_new_key_is_prefixed_random_and_url_safe() -> None:
    """New keys carry the fastgw prefix, 256 bits of randomness, and no characters that need
    quoting in a header."""
    keys = {new_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key.removeprefix(KEY_PREFIX))


@pytest.mark.parametrize(
    "authorization, api_key",
    [
        (f"Bearer {ALL_KEY}", None),
        (f"bearer {ALL_KEY}", None),
        (f"BEARER   {ALL_KEY}  ", None),
        (None, ALL_KEY),
        (None, f" {ALL_KEY} "),
        ("Basic dXNlcjpwYXNz", ALL_KEY),  # another scheme: the api-key header is used
        ("Bearer ", ALL_KEY),
    ],
)
def test_authenticate_accepts_bearer_or_api_key(
    ring: KeyRing, authorization: str | None, api_key: str | None
) -> None:
    """The key is read from ``Authorization: Bearer`` (any case, any spacing) or the
    ``api-key`` header, and gives its record."""
    record = ring.authenticate(authorization, api_key)
    assert record.id == "all"
    assert record.models is None


def test_bearer_wins_over_api_key(ring: KeyRing) -> None:
    """With both headers, the Bearer token is the one used."""
    assert ring.authenticate(f"Bearer {CHAT_KEY}", ALL_KEY).id == "chat"


@pytest.mark.parametrize(
    "authorization, api_key",
    [(None, None), ("", ""), ("Bearer", None), ("Bearer   ", "  "), ("Basic abc", None)],
)
def test_missing_key(ring: KeyRing, authorization: str | None, api_key: str | None) -> None:
    """No usable key is a 401 invalid_api_key telling how to send one."""
    with pytest.raises(AuthenticationFailed) as info:
        ring.authenticate(authorization, api_key)
    error = info.value
    assert (error.status, error.type, error.code) == (
        401,
        "invalid_request_error",
        "invalid_api_key",
    )
    assert error.message.startswith("You didn't provide an API key.")


@pytest.mark.parametrize(
    "wrong",
    [
        "sk-test-all-models-012345678",  # one character short
        ALL_KEY + "x",
        ALL_KEY.upper(),
        hash_key(ALL_KEY),  # the configured hash is not the key
    ],
)
def test_wrong_key_is_refused_and_redacted(ring: KeyRing, wrong: str) -> None:
    """A wrong key is a 401 whose message shows only a few of its characters."""
    with pytest.raises(AuthenticationFailed) as info:
        ring.authenticate(f"Bearer {wrong}", None)
    message = info.value.message
    assert message.startswith(f"Incorrect API key provided: {wrong[:3]}...{wrong[-2:]}.")
    assert wrong not in message
    assert wrong[3:-2] not in message


def test_short_wrong_key_is_fully_hidden(ring: KeyRing) -> None:
    """A short wrong key is not shown at all."""
    with pytest.raises(AuthenticationFailed) as info:
        ring.authenticate(None, "short-key")
    assert "Incorrect API key provided: ***." in info.value.message
    assert "short" not in info.value.message


def test_records_hold_digests_not_keys(ring: KeyRing) -> None:
    """A record keeps the key's digest and id, never the key itself."""
    record = ring.authenticate(f"Bearer {CHAT_KEY}", None)
    assert record.digest == hashlib.sha256(CHAT_KEY.encode()).digest()
    assert CHAT_KEY not in repr(record)


def test_allow_list(ring: KeyRing) -> None:
    """A key limited to some models allows exactly those; a '*' key allows every model."""
    chat = ring.authenticate(f"Bearer {CHAT_KEY}", None)
    every = ring.authenticate(f"Bearer {ALL_KEY}", None)
    assert chat.models == frozenset({"chat"})
    assert chat.allows("chat") and not chat.allows("embed")
    assert every.allows("chat") and every.allows("anything")


def test_star_anywhere_in_the_list_allows_all() -> None:
    """'*' next to model names still means every model."""
    ring = KeyRing([KeyConfig(id="k", hash=hash_key("sk-k"), models=["chat", "*"])])
    assert ring.authenticate("Bearer sk-k", None).allows("other")


def test_empty_allow_list_allows_nothing() -> None:
    """A key with ``models = []`` authenticates but may use no model."""
    ring = KeyRing([KeyConfig(id="k", hash=hash_key("sk-k"), models=[])])
    assert not ring.authenticate("Bearer sk-k", None).allows("chat")


def test_check_model(ring: KeyRing) -> None:
    """Using a model outside the allow-list is a 403 model_not_allowed on param ``model``."""
    record = ring.authenticate(f"Bearer {CHAT_KEY}", None)
    KeyRing.check_model(record, "chat")
    with pytest.raises(PermissionDenied) as info:
        KeyRing.check_model(record, "embed")
    error = info.value
    assert (error.status, error.param, error.code) == (403, "model", "model_not_allowed")
    assert error.message == "The key 'chat' is not allowed to use the model 'embed'."


def test_record_is_frozen() -> None:
    """Key records cannot be changed once built."""
    record = KeyRecord(id="k", digest=b"x" * 32, models=None, namespace="key:k")
    with pytest.raises(AttributeError):
        record.models = frozenset()  # type: ignore[misc]


def test_disabled_and_expired_keys_are_refused() -> None:
    """A disabled key and a key past its expiry are 401s that say why; a future expiry works."""
    ring = KeyRing(
        [
            KeyConfig(id="off", hash=hash_key("sk-off"), enabled=False),
            KeyConfig(id="old", hash=hash_key("sk-old"), expires_at="2020-01-01"),
            KeyConfig(id="new", hash=hash_key("sk-new"), expires_at="2999-01-01T00:00:00+02:00"),
        ]
    )
    with pytest.raises(AuthenticationFailed) as info:
        ring.authenticate("Bearer sk-off", None)
    assert (info.value.status, info.value.code) == (401, "key_disabled")
    with pytest.raises(AuthenticationFailed) as info:
        ring.authenticate("Bearer sk-old", None)
    assert (info.value.status, info.value.code) == (401, "key_expired")
    assert ring.authenticate("Bearer sk-new", None).expires_at == parse_expiry("2998-12-31T22:00Z")


def test_team_records() -> None:
    """Teams from the TOML are records with their limits and model allow-list."""
    ring = KeyRing([], [TeamConfig(id="t", rpm=5, models=["a"])])
    team = ring.teams["t"]
    assert (team.rpm, team.allows("a"), team.allows("b")) == (5, True, False)


def test_check_model_applies_the_team_allow_list() -> None:
    """A key whose team may not use a model is refused with 403 naming the team."""
    ring = KeyRing(
        [KeyConfig(id="k", hash=hash_key("sk-k"), team="t")],
        [TeamConfig(id="t", models=["chat"])],
    )
    record = ring.authenticate("Bearer sk-k", None)
    team = ring.teams["t"]
    KeyRing.check_model(record, "chat", team)
    with pytest.raises(PermissionDenied) as info:
        KeyRing.check_model(record, "embed", team)
    assert (info.value.status, info.value.code) == (403, "model_not_allowed")
    assert info.value.message == "The team 't' of key 'k' is not allowed to use the model 'embed'."

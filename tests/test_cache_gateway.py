"""The exact cache in the gateway, in-process (``RSGIClient``): which requests are cached,
under which key, for whom, what is stored and how a hit is answered.

Upstream calls are counted, so a ``hit`` is proved by the upstream not being asked and a
``miss`` by it being asked again. The mock provider answers the normal cases;
``FakeUpstream`` plays the upstreams that fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from fastgw import Gateway, parse_config
from fastgw.config import Config, ModelCacheConfig
from fastgw.keys import hash_key
from fastgw.testing import FakeUpstream, Fault, RSGIClient, RSGIResponse
from fastgw.wire import ChatRequest, decode_request
from tests.conftest import DEV_KEY, LIMITED_KEY, mock_config

TEAM_A_KEY = "sk-test-team-a-0123456789"
TEAM_B_KEY = "sk-test-team-b-0123456789"
DEV = {"authorization": f"Bearer {DEV_KEY}"}
LIMITED = {"authorization": f"Bearer {LIMITED_KEY}"}
TEAM_A = {"authorization": f"Bearer {TEAM_A_KEY}"}
TEAM_B = {"authorization": f"Bearer {TEAM_B_KEY}"}
HEADER = "x-fastgw-cache"
CHAT_PATH = "/v1/chat/completions"
T0: dict[str, Any] = {
    "model": "gpt-test",
    "messages": [{"role": "user", "content": "Say hello"}],
    "temperature": 0,
}
STREAM = {"stream": True, "stream_options": {"include_usage": True}}

# gpt-test (cached: its [models.cache] is added by ``config()``), gpt-other and embed-test
# (not cached) come from mock_config; these add a model cached whatever the temperature, a
# cached embedding model, a model whose cache is disabled, and two keys that share one cache
# namespace.
EXTRA = f"""
[[models]]
name = "gpt-always"
deployments = [{{ provider = "mock", model = "mock-always" }}]
[models.cache]
when = "always"

[[models]]
name = "embed-cached"
deployments = [{{ provider = "mock", model = "mock-embed" }}]
[models.cache]

[[models]]
name = "gpt-disabled"
deployments = [{{ provider = "mock", model = "mock-disabled" }}]
[models.cache]
enabled = false

[[keys]]
id = "team-a"
hash = "{hash_key(TEAM_A_KEY)}"
cache_namespace = "team"

[[keys]]
id = "team-b"
hash = "{hash_key(TEAM_B_KEY)}"
cache_namespace = "team"
"""


def config(extra: str = "", **kwargs: Any) -> Config:
    """``mock_config(**kwargs)`` with EXTRA, and gpt-test cached with the default policy."""
    base = parse_config(mock_config(extra=EXTRA + extra, **kwargs), "cache.toml", {})
    models = [
        msgspec.structs.replace(m, cache=ModelCacheConfig()) if m.name == "gpt-test" else m
        for m in base.models
    ]
    return msgspec.structs.replace(base, models=models)


class Cached:
    """An in-process gateway whose provider calls are counted."""

    def __init__(self, client: RSGIClient, provider: str) -> None:
        self.client = client
        self.calls: list[str] = []
        state = client.app.pipelines
        target = state.providers[provider]
        send = target.send

        async def counting(call: Any) -> Any:
            self.calls.append(call.endpoint)
            return await send(call)

        target.send = counting

    @property
    def state(self) -> Any:
        return self.client.app.pipelines

    def post(
        self,
        body: dict[str, Any] | bytes,
        headers: dict[str, str] | None = None,
        path: str = CHAT_PATH,
    ) -> RSGIResponse:
        """POST ``body`` (a dict as JSON, bytes as they are) with DEV's key by default."""
        hdrs = DEV if headers is None else headers
        if isinstance(body, bytes):
            hdrs = {**hdrs, "content-type": "application/json"}
            response = self.client.post(path, body=body, headers=hdrs)
        else:
            response = self.client.post(path, json=body, headers=hdrs)
        assert response.status == 200 or response.header(HEADER) != "hit", response.body
        return response

    def outcomes(self, *bodies: dict[str, Any] | bytes, **kwargs: Any) -> list[str | None]:
        """The cache header of each request, sent one after the other."""
        return [self.post(body, **kwargs).header(HEADER) for body in bodies]


@pytest.fixture
def gw() -> Iterator[Cached]:
    with RSGIClient(Gateway(config())) as client:
        yield Cached(client, "mock")


def content(response: RSGIResponse) -> list[str]:
    """Each choice's answer in a plain chat response."""
    return [c["message"]["content"] for c in response.json()["choices"]]


def streamed(response: RSGIResponse) -> tuple[list[str], dict[str, Any] | None, list[bytes]]:
    """(each choice's joined deltas, the usage chunk's usage, the raw payloads) of a stream."""
    payloads = response.sse_data()
    texts: dict[int, str] = {}
    usage = None
    for payload in payloads[:-1]:
        chunk = msgspec.json.decode(payload)
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk["choices"]:
            texts[choice["index"]] = texts.get(choice["index"], "") + (
                choice["delta"].get("content") or ""
            )
    return [texts[i] for i in sorted(texts)], usage, payloads


# -- what is cacheable -----------------------------------------------------------------------------


def test_temperature_zero_misses_then_hits_with_identical_bytes(gw: Cached) -> None:
    """A temperature-0 request is a miss the first time and a hit the second, answered with
    the stored body byte for byte, without asking the upstream."""
    first, second = gw.post(T0), gw.post(T0)
    assert (first.header(HEADER), second.header(HEADER)) == ("miss", "hit")
    assert second.status == 200 and second.body == first.body
    assert second.header("content-type") == "application/json"
    assert second.header("x-request-id")
    assert gw.calls == ["/chat/completions"]


@pytest.mark.parametrize(
    "sampling",
    [{"temperature": 0.7}, {}, {"temperature": None}, {"temperature": 1e-9}],
    ids=["0.7", "default", "null", "tiny"],
)
def test_sampled_request_bypasses_and_is_never_stored(gw: Cached, sampling: dict[str, Any]) -> None:
    """A request sampled at a temperature other than 0 and without a seed is a ``bypass``:
    never looked up, never stored."""
    body = {**T0, **sampling}
    if "temperature" not in sampling:
        del body["temperature"]
    assert gw.outcomes(body, body) == ["bypass", "bypass"]
    assert len(gw.calls) == 2
    assert gw.state.cache.store.entries == 0


def test_seed_makes_a_sampled_request_cacheable(gw: Cached) -> None:
    """A request with a seed is cached even at temperature 0.7."""
    body = {**T0, "temperature": 0.7, "seed": 42}
    assert gw.outcomes(body, body) == ["miss", "hit"]
    assert len(gw.calls) == 1


@pytest.mark.parametrize("sampling", [{"temperature": 0.7}, {}], ids=["0.7", "default"])
def test_when_always_caches_any_request(gw: Cached, sampling: dict[str, Any]) -> None:
    """A model with ``when = "always"`` caches requests whatever their temperature."""
    body = {"model": "gpt-always", "messages": T0["messages"], **sampling}
    assert gw.outcomes(body, body) == ["miss", "hit"]
    assert len(gw.calls) == 1


@pytest.mark.parametrize(
    "path, body",
    [
        (CHAT_PATH, {**T0, "model": "gpt-other"}),
        (CHAT_PATH, {**T0, "model": "gpt-disabled"}),
        ("/v1/embeddings", {"model": "embed-test", "input": "hi", "dimensions": 4}),
    ],
    ids=["chat", "disabled", "embeddings"],
)
def test_model_without_cache_has_no_header(gw: Cached, path: str, body: dict[str, Any]) -> None:
    """A model without ``[models.cache]`` (or with ``enabled = false``) is not cached and its
    answers carry no cache header at all."""
    assert gw.outcomes(body, body, path=path) == [None, None]
    assert len(gw.calls) == 2
    assert gw.state.cache.store.entries == 0


def test_no_cached_model_means_no_cache_at_all() -> None:
    """With no model caching, the worker has no cache and answers carry no cache header."""
    app = Gateway(parse_config(mock_config(), "mock.toml", {}))
    with RSGIClient(app) as client:
        assert app.pipelines is not None and app.pipelines.cache is None
        response = client.post(CHAT_PATH, json=T0, headers=DEV)
    assert response.status == 200 and response.header(HEADER) is None


def test_embeddings_are_cached(gw: Cached) -> None:
    """Embeddings are cached whatever the request (they are deterministic)."""
    body = {"model": "embed-cached", "input": ["a", "b"], "dimensions": 4}
    first = gw.post(body, path="/v1/embeddings")
    second = gw.post(body, path="/v1/embeddings")
    assert (first.header(HEADER), second.header(HEADER)) == ("miss", "hit")
    assert second.body == first.body and len(second.json()["data"]) == 2
    assert gw.calls == ["/embeddings"]


def test_text_completions_are_cached(gw: Cached) -> None:
    """Legacy completions at temperature 0 are cached like chat."""
    body = {"model": "gpt-test", "prompt": "Once upon", "temperature": 0}
    first = gw.post(body, path="/v1/completions")
    second = gw.post(body, path="/v1/completions")
    assert (first.header(HEADER), second.header(HEADER)) == ("miss", "hit")
    assert second.body == first.body
    assert gw.calls == ["/completions"]


# -- Cache-Control ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["no-cache", "No-Cache", "max-age=0, no-cache"])
def test_no_cache_skips_the_lookup_but_stores(gw: Cached, value: str) -> None:
    """``Cache-Control: no-cache`` is a ``bypass`` that asks the upstream even when an
    answer is stored, and still stores its answer."""
    fresh = {**DEV, "cache-control": value}
    assert gw.outcomes(T0, headers=fresh) == ["bypass"]
    assert gw.outcomes(T0) == ["hit"]  # the bypassed answer was stored
    assert gw.outcomes(T0, headers=fresh) == ["bypass"]  # stored, yet not looked up
    assert len(gw.calls) == 2


def test_no_store_is_a_miss_that_stores_nothing(gw: Cached) -> None:
    """``Cache-Control: no-store`` looks up (a ``miss`` here) but does not store, so the
    next request is a miss too."""
    assert gw.outcomes(T0, headers={**DEV, "cache-control": "no-store"}) == ["miss"]
    assert gw.state.cache.store.entries == 0
    assert gw.outcomes(T0, T0) == ["miss", "hit"]
    assert len(gw.calls) == 2


def test_no_store_stream_is_not_stored(gw: Cached) -> None:
    """A streamed answer to a ``no-store`` request is not stored either."""
    body = {**T0, **STREAM}
    assert gw.outcomes(body, headers={**DEV, "cache-control": "no-store"}) == ["miss"]
    assert gw.outcomes(T0) == ["miss"]
    assert len(gw.calls) == 2


def test_no_cache_and_no_store_together(gw: Cached) -> None:
    """``no-cache, no-store``: neither looked up nor stored."""
    assert gw.outcomes(T0, headers={**DEV, "cache-control": "no-cache, no-store"}) == ["bypass"]
    assert gw.outcomes(T0) == ["miss"]
    assert len(gw.calls) == 2


# -- streams and plain answers share one stored form -----------------------------------------------


def test_stored_stream_answers_a_later_plain_request(gw: Cached) -> None:
    """A streamed answer that ended cleanly is stored; a later plain request hits it and gets
    the same content, id and usage as a plain completion."""
    stream = gw.post({**T0, **STREAM})
    assert stream.header(HEADER) == "miss"
    assert stream.header("content-type") == "text/event-stream"
    texts, usage, payloads = streamed(stream)
    plain = gw.post(T0)
    assert plain.header(HEADER) == "hit"
    answer = plain.json()
    assert answer["object"] == "chat.completion"
    assert answer["id"] == msgspec.json.decode(payloads[0])["id"]
    assert content(plain) == texts and texts[0]
    assert answer["usage"] == usage
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert len(gw.calls) == 1


def test_stream_without_include_usage_is_stored_with_its_usage(gw: Cached) -> None:
    """A stream the client asked for without include_usage is stored: the gateway asked the
    upstream for its usage (the client saw no usage chunk); the next identical request is a
    hit that reports it, and a streamed hit without include_usage still gets none."""
    first = gw.post({**T0, "stream": True})
    assert first.header(HEADER) == "miss" and first.body.endswith(b"data: [DONE]\n\n")
    assert b'"usage"' not in first.body
    plain = gw.post(T0)
    assert plain.header(HEADER) == "hit" and plain.json()["usage"]["completion_tokens"] > 0
    again = gw.post({**T0, "stream": True})
    assert again.header(HEADER) == "hit" and b'"usage"' not in again.body
    assert len(gw.calls) == 1


@pytest.mark.parametrize("include_usage", [True, False])
def test_stored_plain_answer_is_replayed_as_a_stream(gw: Cached, include_usage: bool) -> None:
    """A plain answer is stored; a later streamed request hits it and gets SSE: chat chunks
    with the same content and finish_reason, the usage chunk only when include_usage asks
    for it, then ``[DONE]``."""
    plain = gw.post(T0)
    stream = gw.post({**T0, "stream": True, "stream_options": {"include_usage": include_usage}})
    assert (plain.header(HEADER), stream.header(HEADER)) == ("miss", "hit")
    assert stream.header("content-type") == "text/event-stream"
    assert stream.body.endswith(b"data: [DONE]\n\n")
    texts, usage, payloads = streamed(stream)
    assert payloads[-1] == b"[DONE]"
    chunks = [msgspec.json.decode(p) for p in payloads[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["id"] for c in chunks} == {plain.json()["id"]}
    assert texts == content(plain)
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert usage == (plain.json()["usage"] if include_usage else None)
    assert len(gw.calls) == 1


def test_n2_round_trips_both_ways(gw: Cached) -> None:
    """With ``n = 2`` both choices survive stream → store → plain hit and plain → store →
    stream hit, equal to what the (deterministic) upstream answers uncached."""
    reference = content(gw.post({**T0, "model": "gpt-other", "n": 2}))
    assert len(set(reference)) == 2
    stream = gw.post({**T0, "n": 2, **STREAM})
    plain = gw.post({**T0, "n": 2})
    assert (stream.header(HEADER), plain.header(HEADER)) == ("miss", "hit")
    assert streamed(stream)[0] == content(plain) == reference

    other = {**T0, "messages": [{"role": "user", "content": "Say goodbye"}], "n": 2}
    plain = gw.post(other)
    stream = gw.post({**other, **STREAM})
    assert (plain.header(HEADER), stream.header(HEADER)) == ("miss", "hit")
    assert streamed(stream)[0] == content(plain)
    assert len(content(plain)) == 2
    assert len(gw.calls) == 3


# -- the key ---------------------------------------------------------------------------------------


def test_key_order_and_whitespace_share_the_entry(gw: Cached) -> None:
    """Bodies that differ only in key order and whitespace hit the same entry."""
    compact = b'{"model":"gpt-test","messages":[{"role":"user","content":"Hi"}],"temperature":0}'
    spaced = (
        b'{ "temperature" : 0 ,\n  "messages" : [ { "content" : "Hi" ,'
        b' "role" : "user" } ] ,\n  "model" : "gpt-test" }\n'
    )
    assert gw.outcomes(compact, spaced) == ["miss", "hit"]
    assert len(gw.calls) == 1


def test_repeated_bytes_reuse_the_canonical_key(gw: Cached) -> None:
    """A repeat with identical bytes finds its canonical key through the raw-body alias (no
    canonical form built again); a byte-different equivalent adds its own alias to the same
    entry; aliases never add cached answers."""
    compact = b'{"model":"gpt-test","messages":[{"role":"user","content":"Yo"}],"temperature":0}'
    spaced = (
        b'{"temperature": 0, "model": "gpt-test", "messages": [{"role": "user", "content": "Yo"}]}'
    )
    cache = gw.state.cache
    assert gw.outcomes(compact) == ["miss"]
    assert (cache.keys.aliases.entries, cache.store.entries) == (1, 1)
    assert gw.outcomes(compact, compact) == ["hit", "hit"]
    assert (cache.keys.aliases.entries, cache.keys.aliases.hits) == (1, 2)
    assert gw.outcomes(spaced) == ["hit"]
    assert (cache.keys.aliases.entries, cache.store.entries) == (2, 1)
    assert len(gw.calls) == 1


def test_aliases_are_scoped_to_the_namespace(gw: Cached) -> None:
    """The same bytes from a key in another namespace do not reach the first key's entry
    through the alias table."""
    body = b'{"model":"gpt-test","messages":[{"role":"user","content":"Ns"}],"temperature":0}'
    assert gw.outcomes(body) == ["miss"]
    assert gw.outcomes(body, headers=LIMITED) == ["miss"]
    assert len(gw.calls) == 2


def test_stream_true_and_false_share_the_entry(gw: Cached) -> None:
    """``stream``, ``stream_options`` and an explicit ``stream: false`` do not change the key."""
    assert gw.outcomes(T0, {**T0, "stream": False}, {**T0, "stream": True}, {**T0, **STREAM}) == [
        "miss",
        "hit",
        "hit",
        "hit",
    ]
    assert len(gw.calls) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.5},
        {"max_tokens": 3},
        {"messages": [{"role": "user", "content": "Say hello!"}]},
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Say hello"},
            ]
        },
        {"seed": 8},
        {"model": "gpt-always"},
    ],
    ids=["temperature", "max_tokens", "message", "extra-message", "seed", "model"],
)
def test_a_different_request_misses(gw: Cached, change: dict[str, Any]) -> None:
    """Changing anything that shapes the answer (temperature, max_tokens, messages, seed,
    model) gives another entry: a miss that asks the upstream."""
    base = {**T0, "seed": 7}  # a seed keeps every variant cacheable
    assert gw.outcomes(base, {**base, **change}) == ["miss", "miss"]
    assert gw.outcomes({**base, **change}) == ["hit"]
    assert len(gw.calls) == 2


# -- tenants ---------------------------------------------------------------------------------------


def test_keys_do_not_share_answers(gw: Cached) -> None:
    """An answer cached for one key is not served to another key (each key is its own
    namespace by default)."""
    assert gw.outcomes(T0) == ["miss"]
    assert gw.outcomes(T0, T0, headers=LIMITED) == ["miss", "hit"]
    assert len(gw.calls) == 2


def test_keys_with_one_cache_namespace_share_answers(gw: Cached) -> None:
    """Keys configured with the same ``cache_namespace`` share entries; other keys do not."""
    assert gw.outcomes(T0, headers=TEAM_A) == ["miss"]
    assert gw.outcomes(T0, headers=TEAM_B) == ["hit"]
    assert gw.outcomes(T0) == ["miss"]
    assert len(gw.calls) == 2


def test_cached_answer_is_not_served_to_a_key_without_the_model(gw: Cached) -> None:
    """A key not allowed a model gets 403 even when an answer is cached in its namespace."""
    body = {**T0, "model": "gpt-always"}
    assert gw.outcomes(body) == ["miss"]
    denied = gw.post(body, headers=LIMITED)
    assert denied.status == 403 and denied.header(HEADER) is None


# -- failures are never stored ---------------------------------------------------------------------


UP_EXTRA = """
[providers.up]
type = "openai"
base_url = "{base_url}"
timeouts = {{ connect_s = 2, first_byte_s = 5, idle_s = 5, total_s = 10 }}

[[models]]
name = "gpt-up"
deployments = [{{ provider = "up", model = "gpt-up" }}]
[models.cache]
"""
UP_BODY = {"model": "gpt-up", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0}


def _sse(*payloads: bytes, error: bytes | None = None) -> bytes:
    events = [b"data: " + p + b"\n\n" for p in payloads]
    if error is not None:
        events.append(b"event: error\ndata: " + error + b"\n\n")
    return b"".join(events)


def _raw_stream(events: bytes) -> Fault:
    """A 200 SSE response of exactly ``events``, then the connection closes."""
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(events)
    )
    return Fault(raw=head + events)


_CHUNK = b'{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-up","choices":'
_HELLO = (
    _CHUNK + b'[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}'
)
_STOP = _CHUNK + b'[{"index":0,"delta":{},"finish_reason":"stop"}]}'
_ERROR = b'{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}'


@pytest.fixture(scope="module")
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(chunks=4) as server:
        yield server


@pytest.fixture
def upgw(up: FakeUpstream) -> Iterator[Cached]:
    up.reset()
    with RSGIClient(Gateway(config(UP_EXTRA.format(base_url=up.base_url)))) as client:
        yield Cached(client, "up")


@pytest.mark.parametrize("status", [400, 429, 500, 503])
def test_error_answer_is_not_stored(up: FakeUpstream, upgw: Cached, status: int) -> None:
    """An upstream 4xx/5xx answer is relayed but not stored: the next identical request is a
    miss that reaches the upstream again (and its good answer is then stored)."""
    up.fail_next(Fault.error(status))
    failed = upgw.post(UP_BODY)
    assert (failed.status, failed.header(HEADER)) == (status, "miss")
    good = upgw.post(UP_BODY)
    assert (good.status, good.header(HEADER)) == (200, "miss")
    assert upgw.outcomes(UP_BODY) == ["hit"]
    assert len(up.requests) == 2


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.cut(3), id="cut-mid-stream"),
        pytest.param(Fault(malformed_after=3), id="malformed-chunking"),
        pytest.param(Fault.no_done(finish_reason=False), id="ends-before-finish"),
        pytest.param(
            _raw_stream(_sse(_HELLO, _STOP, error=_ERROR) + b"data: [DONE]\n\n"), id="error-event"
        ),
        pytest.param(_raw_stream(_sse(_HELLO, _STOP, _ERROR, b"[DONE]")), id="error-payload"),
        pytest.param(Fault.no_done(), id="no-done"),
    ],
)
def test_broken_stream_is_not_stored(up: FakeUpstream, upgw: Cached, fault: Fault) -> None:
    """A stream that did not end cleanly (cut, malformed, no finish_reason, an error event,
    no [DONE]) is not stored: the next identical request is a miss that reaches the upstream
    again."""
    body = {**UP_BODY, **STREAM}
    up.fail_next(fault)
    broken = upgw.post(body)
    assert (broken.status, broken.header(HEADER)) == (200, "miss")
    assert upgw.state.cache.store.entries == 0
    again = upgw.post(body)
    assert (again.status, again.header(HEADER)) == (200, "miss")
    assert again.body.endswith(b"data: [DONE]\n\n")
    assert len(up.requests) == 2
    assert upgw.outcomes(body) == ["hit"]  # the clean stream was stored
    assert len(up.requests) == 2


def test_stream_left_by_the_client_is_not_stored() -> None:
    """A stream the client disconnected from mid-way is not stored."""
    with RSGIClient(Gateway(config(chunk_delay_ms=1))) as client:
        gw = Cached(client, "mock")

        async def scenario() -> RSGIResponse:
            flight = client.start("POST", CHAT_PATH, json={**T0, "stream": True}, headers=DEV)
            await flight.proto.wait_chunks(2)
            flight.proto.disconnect()
            return await flight

        left = client.run(scenario())
        assert left.header(HEADER) == "miss" and b"[DONE]" not in left.body
        assert gw.state.cache.store.entries == 0
        assert gw.outcomes(T0) == ["miss"]
        assert len(gw.calls) == 2


def test_stored_logprobs_reach_a_streamed_hit(up: FakeUpstream, upgw: Cached) -> None:
    """A plain answer with logprobs, replayed to a streamed request, keeps its logprobs
    (the key does not tell a stream from a plain request, so the replay must not lose
    them)."""
    logprobs = {
        "content": [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}],
        "refusal": None,
    }
    answer = msgspec.json.encode(
        {
            "id": "chatcmpl-lp",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-up",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hi"},
                    "logprobs": logprobs,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )
    up.fail_next(Fault(body=answer))
    body = {**UP_BODY, "logprobs": True}
    assert upgw.outcomes(body) == ["miss"]
    hit = upgw.post({**body, "stream": True})
    assert hit.header(HEADER) == "hit"
    chunks = [msgspec.json.decode(p) for p in hit.sse_data()[:-1]]
    assert [c["choices"][0]["logprobs"] for c in chunks if c["choices"][0]["logprobs"]] == [
        logprobs
    ]
    assert len(up.requests) == 1


def test_clean_upstream_stream_is_stored(up: FakeUpstream, upgw: Cached) -> None:
    """A real upstream's clean stream is stored and a plain request is answered from it."""
    stream = upgw.post({**UP_BODY, **STREAM})
    plain = upgw.post(UP_BODY)
    assert (stream.header(HEADER), plain.header(HEADER)) == ("miss", "hit")
    assert content(plain) == streamed(stream)[0] == ["The fake upstream answers"]
    assert len(up.requests) == 1


# -- bounds, metrics, access log -------------------------------------------------------------------


def test_max_entries_evicts_the_least_recently_used() -> None:
    """With ``max_entries = 2`` a third answer evicts the least recently used one."""
    with RSGIClient(Gateway(config("[cache]\nmax_entries = 2\n"))) as client:
        gw = Cached(client, "mock")
        a, b, c = ({**T0, "messages": [{"role": "user", "content": w}]} for w in "abc")
        assert gw.outcomes(a, b, a) == ["miss", "miss", "hit"]  # a is now the most recent
        assert gw.outcomes(c) == ["miss"]  # evicts b
        assert gw.state.cache.store.entries == 2
        assert gw.outcomes(a, c, b) == ["hit", "hit", "miss"]
        assert len(gw.calls) == 4


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_metrics_count_outcomes_per_model(gw: Cached) -> None:
    """``/metrics`` counts hits, misses and bypasses per model, and gives the entries and
    bytes stored; uncached models have no cache samples."""
    first = gw.post(T0)
    gw.post(T0)
    gw.post({**T0, "stream": True})
    gw.post({**T0, "temperature": 0.7})
    embedding = gw.post(
        {"model": "embed-cached", "input": "x", "dimensions": 4}, path="/v1/embeddings"
    )
    gw.post({**T0, "model": "gpt-other"})
    samples = _samples(gw.client.get("/metrics").text)
    cache = {k: v for k, v in samples.items() if k.startswith("fastgw_cache_requests_total")}
    assert cache == {
        'fastgw_cache_requests_total{model="gpt-test",outcome="miss"}': 1,
        'fastgw_cache_requests_total{model="gpt-test",outcome="hit"}': 2,
        'fastgw_cache_requests_total{model="gpt-test",outcome="bypass"}': 1,
        'fastgw_cache_requests_total{model="embed-cached",outcome="miss"}': 1,
    }
    assert samples["fastgw_cache_entries"] == 2
    assert samples["fastgw_cache_bytes"] == len(first.body) + len(embedding.body)


def test_access_log_carries_the_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    """Each access-log line of a cached model names its outcome in ``cache``; lines of other
    models have no ``cache`` field."""
    with RSGIClient(Gateway(config())) as client:
        for body in (
            T0,
            {**T0, "stream": True},
            {**T0, "temperature": 0.7},
            {**T0, "model": "gpt-other"},
        ):
            client.post(CHAT_PATH, json=body, headers=DEV)
    lines = [
        msgspec.json.decode(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{")
    ]
    assert [(line["model"], line.get("cache"), line.get("stream", False)) for line in lines] == [
        ("gpt-test", "miss", False),
        ("gpt-test", "hit", True),
        ("gpt-test", "bypass", False),
        ("gpt-other", None, False),
    ]
    assert lines[1]["status"] == 200 and lines[1]["prompt_tokens"] > 0
    # the hit reports the usage stored with the answer: the miss's own
    tokens = [(line["prompt_tokens"], line["completion_tokens"]) for line in lines[:2]]
    assert tokens[0] == tokens[1]


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(
            Fault.error(200, b'{"error":{"message":"overloaded","type":"server_error"}}'),
            id="error-object-with-200",
        ),
        pytest.param(
            Fault(
                raw=b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"connection: close\r\n\r\n"
                b'{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"ind'
            ),
            id="body-cut-by-close",
        ),
    ],
)
def test_a_200_that_is_not_an_answer_is_not_stored(
    up: FakeUpstream, upgw: Cached, fault: Fault
) -> None:
    """A 200 whose body is not a whole completion (an error object, a body cut short by the
    connection closing) is relayed but never stored: the next request asks the upstream."""
    up.fail_next(fault)
    assert upgw.post(UP_BODY).header(HEADER) == "miss"
    assert upgw.outcomes(UP_BODY) == ["miss"]
    assert len(up.requests) == 2


def test_an_entry_that_cannot_be_replayed_is_dropped(gw: Cached) -> None:
    """A stored entry a stream cannot be replayed from is dropped before any header is sent:
    the streamed request is a miss answered by the upstream, never an empty 'complete' stream."""
    state = gw.state
    model = state.models["gpt-test"]
    key = state.keys.authenticate(f"Bearer {DEV_KEY}", None)
    body = msgspec.json.encode(T0)
    request = decode_request(ChatRequest, body)
    lookup = state.cache.lookup(model, key.namespace, request, body, None)
    assert lookup is not None
    state.cache.store.put(lookup.key, b'{"error":{"message":"not an answer"}}', 60.0)
    response = gw.post({**T0, **STREAM})
    assert response.header(HEADER) == "miss"
    assert response.body.endswith(b"data: [DONE]\n\n")
    assert len(gw.calls) == 1

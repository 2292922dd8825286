"""Locust scenarios against a running fastgw: plain chat, streamed chat, cache-heavy, many keys.

    locust -f benchmarks/locustfile.py --host http://127.0.0.1:8080
    locust -f benchmarks/locustfile.py --host http://127.0.0.1:8080 \
        --headless -u 50 -r 50 -t 30s [PlainChatUser StreamedChatUser CacheHeavyUser ManyKeysUser]

Without class names every scenario runs, users spread evenly; name one or more to run only
those. Against ``make run`` (config/fastgw.toml, mock provider) the defaults work as they are.

Environment variables (all optional):
    FASTGW_KEY            gateway key, ``Authorization: Bearer`` (default: sk-fastgw-dev, the
                          development key of config/fastgw.toml)
    FASTGW_KEYS_FILE      file with one key per line, for ManyKeysUser
    FASTGW_KEYS           comma-separated keys, for ManyKeysUser (if no FASTGW_KEYS_FILE);
                          ``python benchmarks/gen_keys.py 100`` makes keys and their config
    FASTGW_MODEL          model of every scenario (default: gpt-4o-mini)
    FASTGW_STREAM_MODEL   model of StreamedChatUser (default: FASTGW_MODEL)
    FASTGW_CACHE_MODEL    model of CacheHeavyUser; give it a [models.cache] section in the
                          gateway config (default: FASTGW_MODEL)
    FASTGW_CACHE_PROMPTS  distinct temperature-0 prompts CacheHeavyUser repeats (default: 20)
    FASTGW_MAX_TOKENS     max_tokens of every request (default: 64)
    FASTGW_WAIT_S         pause of each user between requests in seconds (default: 0, i.e.
                          every user sends its next request as soon as the last one finished)

What Locust reports: ``POST chat`` etc. are whole requests; for streams ``POST stream`` is the
time to the response head, ``SSE ttft`` the time to the first content chunk and ``SSE
complete`` the whole stream. CacheHeavyUser reports ``x-fastgw-cache`` hit/miss counts when
the run stops. Locust itself needs a CPU core per ~1,000 requests/s: on a small machine it
saturates before the gateway does, so ``make bench`` (wrk) measures throughput and this file
measures behaviour under realistic mixed traffic.
"""

from __future__ import annotations

import collections
import os
import random
import time
from pathlib import Path
from typing import Any

import msgspec
from locust import FastHttpUser, constant, events, task
from locust.env import Environment

PATH = "/v1/chat/completions"
KEY = os.environ.get("FASTGW_KEY", "sk-fastgw-dev")
MODEL = os.environ.get("FASTGW_MODEL", "gpt-4o-mini")
STREAM_MODEL = os.environ.get("FASTGW_STREAM_MODEL", MODEL)
CACHE_MODEL = os.environ.get("FASTGW_CACHE_MODEL", MODEL)
CACHE_PROMPTS = int(os.environ.get("FASTGW_CACHE_PROMPTS", "20"))
MAX_TOKENS = int(os.environ.get("FASTGW_MAX_TOKENS", "64"))
WAIT_S = float(os.environ.get("FASTGW_WAIT_S", "0"))
QUESTIONS = (
    "Why does an HTTP proxy keep upstream connections alive?",
    "Explain token buckets in two sentences.",
    "What is the difference between p50 and p99 latency?",
    "Name three causes of head-of-line blocking.",
    "When is an exact-match cache safe for LLM answers?",
)


def _keys() -> list[str]:
    path = os.environ.get("FASTGW_KEYS_FILE")
    if path:
        keys = [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]
    else:
        keys = [k.strip() for k in os.environ.get("FASTGW_KEYS", "").split(",") if k.strip()]
    return keys or [KEY]


def chat(model: str, content: str, *, stream: bool = False, temperature: float = 0.7) -> str:
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": content},
        ],
        "temperature": temperature,
        "max_tokens": MAX_TOKENS,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return msgspec.json.encode(body).decode()


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


class _ChatUser(FastHttpUser):
    abstract = True
    wait_time = constant(WAIT_S)

    def post_chat(self, body: str, key: str = KEY, name: str = "chat") -> Any:
        with self.client.post(
            PATH, data=body, headers=headers(key), name=name, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")
            return response


class PlainChatUser(_ChatUser):
    """Non-streamed chat completions with varied prompts."""

    @task
    def plain_chat(self) -> None:
        self.post_chat(chat(MODEL, random.choice(QUESTIONS)))


class StreamedChatUser(_ChatUser):
    """Streamed chat completions, read to ``data: [DONE]``; reports TTFT and stream time."""

    @task
    def streamed_chat(self) -> None:
        start = time.perf_counter()
        first: float | None = None
        error: Exception | None = None
        size = 0
        with self.client.post(
            PATH,
            data=chat(STREAM_MODEL, random.choice(QUESTIONS), stream=True),
            headers=headers(KEY),
            name="stream",
            stream=True,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
                return
            seen = b""
            try:
                for chunk in response.iter_content(chunk_size=256, decode_content=False):
                    data = chunk if isinstance(chunk, bytes) else chunk.encode()
                    size += len(data)
                    if first is None and b'"content"' in data:
                        first = time.perf_counter()
                    seen = (seen + data)[-64:]
                if b"data: [DONE]" not in seen:
                    error = RuntimeError("stream ended without data: [DONE]")
            except Exception as exc:  # noqa: BLE001 - reported to Locust as this request's failure
                error = exc
            if error is not None:
                response.failure(str(error))
        fire = self.environment.events.request.fire
        if first is not None:
            fire(
                request_type="SSE",
                name="ttft",
                response_time=(first - start) * 1000,
                response_length=0,
                exception=None,
                context={},
            )
        total_ms = (time.perf_counter() - start) * 1000
        fire(
            request_type="SSE",
            name="complete",
            response_time=total_ms,
            response_length=size,
            exception=error,
            context={},
        )


class CacheHeavyUser(_ChatUser):
    """Temperature-0 requests drawn from a small fixed set of prompts: mostly cache hits."""

    @task
    def cached_chat(self) -> None:
        prompt = f"Question {random.randrange(CACHE_PROMPTS)}: {QUESTIONS[0]}"
        response = self.post_chat(chat(CACHE_MODEL, prompt, temperature=0.0), name="chat cached")
        state = (response.headers or {}).get("x-fastgw-cache", "none")
        _cache_counts(self.environment)[state] += 1


class ManyKeysUser(_ChatUser):
    """Plain chat, each request under a key drawn from FASTGW_KEYS_FILE / FASTGW_KEYS."""

    keys: list[str] = []

    def on_start(self) -> None:
        self.keys = _keys()

    @task
    def many_keys_chat(self) -> None:
        self.post_chat(
            chat(MODEL, random.choice(QUESTIONS)),
            key=random.choice(self.keys),
            name="chat many keys",
        )


def _cache_counts(environment: Environment) -> collections.Counter[str]:
    counts = getattr(environment, "fastgw_cache_counts", None)
    if counts is None:
        counts = collections.Counter()
        environment.fastgw_cache_counts = counts  # type: ignore[attr-defined]
    return counts


def _report_cache(environment: Environment, **_: Any) -> None:
    counts = getattr(environment, "fastgw_cache_counts", None)
    if counts:
        total = sum(counts.values())
        parts = ", ".join(f"{state} {n} ({n / total:.0%})" for state, n in counts.most_common())
        print(f"fastgw x-fastgw-cache answers: {parts}")


events.test_stop.add_listener(_report_cache)  # type: ignore[no-untyped-call]

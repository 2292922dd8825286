"""Shutdown: SIGTERM first keeps serving with ``/ready`` at 503 for ``server.drain_grace_s``,
then stops accepting while in-flight streams finish; SIGINT (Ctrl-C) skips the grace; the
process exits 0.

Each test starts its own gateway with a slow mock (one chunk every 100 ms), starts a stream
with the ``openai`` SDK in a thread, sends the signal once the first chunk has arrived, and
watches the stream, ``/ready``, the listening port and the process.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import msgspec
import openai
import pytest

from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

PROMPT = [{"role": "user", "content": "Keep talking while the server shuts down."}]
TOKENS = 20
CHUNK_DELAY_MS = 100
DRAIN_TIMEOUT_S = 10  # mock_config()'s server.drain_timeout_s
GRACE_S = 2.0


class StreamInThread:
    """A streamed chat completion consumed by the SDK in a background thread."""

    def __init__(self, gateway: GatewayProcess, request_id: str) -> None:
        self.content: list[str] = []
        self.finish_reasons: list[str] = []
        self.error: BaseException | None = None
        self.first_chunk = threading.Event()
        self.done = threading.Event()
        self._client = openai.OpenAI(
            base_url=gateway.base_url + "/v1", api_key=DEV_KEY, max_retries=0, timeout=30
        )
        self._request_id = request_id
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            stream = self._client.chat.completions.create(
                model="gpt-test",
                messages=PROMPT,
                stream=True,
                extra_headers={"x-request-id": self._request_id},
            )
            for chunk in stream:
                for choice in chunk.choices:
                    self.content.append(choice.delta.content or "")
                    if choice.finish_reason:
                        self.finish_reasons.append(choice.finish_reason)
                self.first_chunk.set()
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which asserts on it
            self.error = exc
        finally:
            self._client.close()
            self.first_chunk.set()
            self.done.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the stream did not end"


def _poll(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether ``condition()`` became true within ``timeout`` seconds (checked every 10 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)  # poll interval, not a wait for the event itself
    return condition()


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True


def _ready_status(gateway: GatewayProcess) -> int | None:
    """The status of ``GET /ready`` on a new connection; None if it is refused."""
    try:
        with urllib.request.urlopen(gateway.base_url + "/ready", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ConnectionError):
        return None


def _config(*, tokens: int, grace_s: float, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> str:
    config = mock_config(tokens=tokens, chunk_delay_ms=CHUNK_DELAY_MS)
    default = f"drain_timeout_s = {DRAIN_TIMEOUT_S}\n"
    assert default in config
    return config.replace(
        default, f"drain_timeout_s = {drain_timeout_s}\ndrain_grace_s = {grace_s}\n"
    )


def _plain_answer(gateway: GatewayProcess) -> str:
    with openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=DEV_KEY, max_retries=0) as sdk:
        completion = sdk.chat.completions.create(model="gpt-test", messages=PROMPT)
    return completion.choices[0].message.content or ""


def test_sigterm_serves_through_the_grace_then_drains(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """After SIGTERM /ready answers 503 while new requests are still served for the grace;
    then new connections are refused, the in-flight stream completes whole, and exit is 0."""
    gateway = gateway_factory(_config(tokens=TOKENS * 2, grace_s=GRACE_S))  # a 4 s stream
    expected = _plain_answer(gateway)  # plain answers are not paced; the stream is
    stream = StreamInThread(gateway, "drain-stream-1")
    assert stream.first_chunk.wait(10), "no first chunk"
    assert stream.error is None

    gateway.terminate()
    sent = time.monotonic()
    assert _poll(lambda: _ready_status(gateway) == 503, GRACE_S), "/ready is not 503 after SIGTERM"
    assert _plain_answer(gateway) == expected, "a new request was not served during the grace"
    assert _poll(lambda: _refuses_connections(gateway.port), GRACE_S + 5), "still accepting"
    refused_after = time.monotonic() - sent
    still_streaming = not stream.done.is_set()
    stream.join(DRAIN_TIMEOUT_S)

    assert refused_after >= GRACE_S, f"stopped accepting {refused_after:.2f}s after SIGTERM"
    assert still_streaming, "the stream ended before the drain began; nothing was drained"
    assert stream.error is None, f"the stream failed during the drain: {stream.error!r}"
    assert "".join(stream.content) == expected
    assert len(expected.split()) == TOKENS * 2
    assert stream.finish_reasons == ["stop"]
    assert gateway.process.wait(DRAIN_TIMEOUT_S) == 0
    lines = [msgspec.json.decode(line) for line in gateway.stdout().splitlines()]
    assert [line["status"] for line in lines if line["request_id"] == "drain-stream-1"] == [200]
    assert any(line["path"] == "/ready" and line["status"] == 503 for line in lines)


def test_sigint_skips_the_grace(gateway_factory: Callable[..., GatewayProcess]) -> None:
    """Ctrl-C (SIGINT to every process) stops accepting at once, however long the grace, and
    the in-flight stream still completes whole."""
    gateway = gateway_factory(_config(tokens=TOKENS, grace_s=60))
    expected = _plain_answer(gateway)
    stream = StreamInThread(gateway, "drain-stream-2")
    assert stream.first_chunk.wait(10), "no first chunk"

    gateway.interrupt()
    assert _poll(lambda: _refuses_connections(gateway.port), 5), "still accepting after SIGINT"
    still_streaming = not stream.done.is_set()
    stream.join(DRAIN_TIMEOUT_S)

    assert still_streaming, "the stream ended before shutdown began; nothing was drained"
    assert stream.error is None, f"the stream failed during the drain: {stream.error!r}"
    assert "".join(stream.content) == expected
    assert stream.finish_reasons == ["stop"]
    assert gateway.process.wait(DRAIN_TIMEOUT_S) == 0


def _short_drain_config(drain_timeout_s: int) -> str:
    return _config(tokens=200, grace_s=0, drain_timeout_s=drain_timeout_s)  # a 20 s stream


def _cut_by_drain(gateway: GatewayProcess, request_id: str) -> tuple[StreamInThread, float, int]:
    """Start a stream longer than the drain, SIGTERM, and return it, the exit time and code."""
    stream = StreamInThread(gateway, request_id)
    assert stream.first_chunk.wait(10), "no first chunk"
    start = time.monotonic()
    gateway.terminate()
    code = gateway.process.wait(15)
    elapsed = time.monotonic() - start
    stream.join(10)
    return stream, elapsed, code


def test_stream_outliving_drain_is_cut_visibly(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """A stream longer than drain_timeout_s is cut, the SDK raises, and the process exits 0."""
    gateway = gateway_factory(_short_drain_config(1))
    stream, elapsed, code = _cut_by_drain(gateway, "drain-cut-1")
    assert code == 0
    assert elapsed < 1 + 2 + 1  # drain timeout, Granian's kill grace, a margin
    assert isinstance(stream.error, openai.APIError), "a cut stream must not end looking complete"
    assert stream.finish_reasons == []
    assert 0 < len(stream.content) < 200


def test_stream_cut_by_drain_is_access_logged(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """A request still in flight when the drain times out gets its access-log line."""
    gateway = gateway_factory(_short_drain_config(1))
    _cut_by_drain(gateway, "drain-cut-2")
    log = gateway.log()
    assert '"drain-cut-2"' in log, (
        "no access-log line for the request cut by the drain timeout; worker log:\n" + log
    )

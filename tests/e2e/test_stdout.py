"""stdout of ``fastgw serve`` is the JSON access log and nothing else; every other line
(Granian's start, worker and shutdown lines, fastgw's own log) goes to stderr. Costs print as
plain decimals, however small."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import msgspec
import openai
import pytest

from fastgw.accesslog import AccessLine
from fastgw.testing import GatewayProcess
from tests.conftest import DEV_KEY, mock_config

pytestmark = pytest.mark.e2e

PROMPT = [{"role": "user", "content": "One line per request, please."}]
#: USD per million prompt tokens of the mock's model: a request of 8 prompt tokens costs
#: 8e-08, which msgspec alone writes as "8e-8"
TINY_INPUT_PRICE = 0.01
EXPONENT = re.compile(r":-?[0-9][0-9.]*[eE][+-]?[0-9]+[,}]")  # a JSON number value with one


def test_stdout_holds_only_access_lines_with_plain_costs(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    """Requests of every kind through two workers, then a stop: each stdout line decodes as
    one access line, one per request; Granian's and fastgw's own lines are on stderr; the
    tiny cost is written in fixed notation and decodes to the price times the tokens."""
    extra = f'\n[prices."mock-gpt"]\ninput = {TINY_INPUT_PRICE}\noutput = 0.0\n'
    gateway = gateway_factory(mock_config(extra=extra), workers=2)
    sdk = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=DEV_KEY, max_retries=0)
    with sdk:
        plain = sdk.chat.completions.create(
            model="gpt-test", messages=PROMPT, extra_headers={"x-request-id": "plain-1"}
        )
        for _ in sdk.chat.completions.create(
            model="gpt-test",
            messages=PROMPT,
            stream=True,
            extra_headers={"x-request-id": "stream-1"},
        ):
            pass
        with pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(model="no-such-model", messages=PROMPT)
    sent = 4  # /ready (GatewayProcess's readiness probe), plain, stream, 404
    for path in ("/health", "/metrics", "/no/such/path"):
        httpx.get(gateway.base_url + path, timeout=5)
        sent += 1
    httpx.post(gateway.base_url + "/v1/chat/completions", content=b"{", timeout=5)
    sent += 1
    assert gateway.stop() == 0

    lines = gateway.stdout().splitlines()
    access = [msgspec.json.decode(line, type=AccessLine) for line in lines]  # each one decodes
    assert len(access) == sent, lines
    by_id = {line.request_id: line for line in access}
    assert plain.usage is not None
    cost = plain.usage.prompt_tokens * TINY_INPUT_PRICE * 1e-6
    assert cost < 1e-6  # small enough for msgspec to write it with an exponent
    assert by_id["plain-1"].cost_usd == pytest.approx(cost, rel=1e-12)
    assert by_id["stream-1"].stream
    for line in lines:
        assert not EXPONENT.search(line), line

    stderr = gateway.log_path.read_text()
    assert "Starting granian" in stderr and "Spawning worker-2" in stderr
    assert "fastgw worker" in stderr and "ready (core:" in stderr

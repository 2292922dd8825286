"""``server.drain_grace_s`` and the worker's shutdown states, without a server (the signals
themselves are tested end to end in ``tests/e2e/test_drain.py``)."""

from __future__ import annotations

import asyncio

import pytest

from fastgw.config import DEFAULT_DRAIN_GRACE_S, ConfigError, parse_config
from fastgw.drain import SHUTTING_DOWN, Drain
from fastgw.exchange import Exchange

MINIMAL = (
    '[providers.m]\ntype = "mock"\n'
    '[[models]]\nname = "a"\ndeployments = [{ provider = "m", model = "x" }]\n'
)


def test_grace_default_and_value() -> None:
    """The grace defaults to a few seconds and takes 0 (none) up to its bound."""
    assert parse_config(MINIMAL, "t.toml", {}).server.drain_grace_s == DEFAULT_DRAIN_GRACE_S
    assert 0 < DEFAULT_DRAIN_GRACE_S <= 10
    for value in ("0", "2.5", "300"):
        config = parse_config(f"[server]\ndrain_grace_s = {value}\n" + MINIMAL, "t.toml", {})
        assert config.server.drain_grace_s == float(value)


@pytest.mark.parametrize("value", ["-1", "300.5", "1e9"])
def test_grace_out_of_range_is_refused(value: str) -> None:
    """A negative or overlong grace is a config error naming the key and the range."""
    with pytest.raises(ConfigError) as caught:
        parse_config(f"[server]\ndrain_grace_s = {value}\n" + MINIMAL, "t.toml", {})
    assert caught.value.errors == [
        f"server.drain_grace_s: {float(value)} is out of range; use 0-300 seconds"
    ]


def test_sigterm_then_sigint_cuts_at_the_drain_timeout() -> None:
    """SIGTERM makes the worker not ready (the grace runs); SIGINT then starts the drain at
    once, dropping the rest of the grace; at the drain timeout in-flight work is cancelled
    with the shutting_down mark."""

    async def scenario() -> tuple[bool, bool, bool, str | None, bool]:
        loop = asyncio.get_running_loop()
        drain = Drain(loop, timeout_s=0.05, grace_s=3600)
        task = loop.create_task(asyncio.sleep(3600))
        ex = Exchange("r1", "POST", "/v1/chat/completions", task)
        drain.in_flight[task] = ex
        drain.terminate()
        not_ready = drain.draining and not drain.stopping
        drain.terminate()  # repeated (the main process forwards its own SIGTERM): no effect
        drain.begin()
        grace_dropped = drain._grace is None
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        return not_ready, drain.stopping, grace_dropped, ex.error, task.cancelled()

    not_ready, stopping, grace_dropped, error, cancelled = asyncio.run(scenario())
    assert not_ready and stopping and grace_dropped
    assert error == SHUTTING_DOWN and cancelled

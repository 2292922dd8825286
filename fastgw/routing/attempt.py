"""One attempt at one deployment: send the request, then read what must arrive before the
answer may be relayed, and the ``Answer`` that carries it to the relay.

Rules this module keeps:
- An attempt is over when its answer is known to be whole enough to relay: a plain answer
  read to its end, or a stream's first event as its provider recognises it
  (``Provider.first_event``; before that, no byte has gone to the client, so the router may
  retry or fail over).
- The deployment's in-flight count covers the attempt; an ``Answer`` keeps the slot until
  ``finish`` (or ``release`` when the router discards it).
- Only a 200 is measured into the deployment's latency averages (plain answer, or a
  stream's time to first token).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..exchange import Exchange
from ..metrics import Metrics
from ..providers import Call, Response
from .deployment import DeploymentState


class Answer:
    """The upstream answer to relay: ``body`` read whole (plain answers and errors) or
    ``head``, the stream's first bytes up to its first data event."""

    __slots__ = ("body", "deployment", "head", "live", "response")

    def __init__(
        self, response: Response, deployment: DeploymentState, body: bytes, head: bytes
    ) -> None:
        self.response = response
        self.deployment = deployment
        self.body = body
        self.head = head
        self.live = True  # holds one of the deployment's in-flight slots

    def upstream_headers(self) -> Sequence[tuple[str, str]]:
        """The upstream's headers to pass to the client (``x-upstream-ratelimit-*``, see
        ``fastgw.protocols.openai.ratelimit``); empty when it sent none."""
        return self.deployment.provider.upstream_headers(self.response)

    def release(self) -> None:
        if self.live:
            self.live = False
            self.deployment.in_flight -= 1

    def finish(self, ex: Exchange) -> None:
        """The response is over: free its in-flight slot and count its tokens."""
        self.release()
        deployment = self.deployment
        if deployment.tpm is not None and ex.prompt_tokens is not None:
            tokens = ex.prompt_tokens + (ex.completion_tokens or 0)
            deployment.tpm.add(time.monotonic(), tokens)


async def exchange(
    deployment: DeploymentState, call: Call, stream: bool, ex: Exchange, metrics: Metrics
) -> Answer:
    """One attempt: send, then read the body (plain answers, errors) or a stream's first
    data event. The deployment's in-flight count covers the attempt; on success it stays up
    until ``Answer.finish``."""
    call.upstream_model = deployment.model
    call.timeouts = deployment.timeouts
    ex.deployment, ex.provider = deployment.model, deployment.provider_name
    deployment.in_flight += 1
    response: Response | None = None
    sent = time.perf_counter()
    try:
        response = await deployment.provider.send(call)
        metrics.upstream.observe((deployment.provider_name,), time.perf_counter() - sent)
        if stream and response.status == 200:
            left = deployment.timeouts.first_token_s - (time.perf_counter() - sent)
            head = await deployment.provider.first_event(response, left)
            answer = Answer(response, deployment, b"", head)
        else:
            answer = Answer(response, deployment, await response.read(), b"")
    except BaseException:
        if response is not None:
            response.close()
        deployment.in_flight -= 1
        raise
    ex.upstream_s = elapsed = time.perf_counter() - sent
    if answer.response.status == 200:  # a quick error is not a fast deployment
        deployment.observe_latency(elapsed, stream)
    return answer


__all__ = ["Answer", "exchange"]

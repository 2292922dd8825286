"""One attempt at one deployment: send the request, read what must arrive before the answer
may be relayed, record the outcome on the deployment; and the ``Answer`` that carries it to
the relay. Every path of the router (a plain model's one send, the healthy fast path, each
planner step) makes its attempts here: the attempt is written once.

Rules this module keeps:
- An attempt is over when its answer is known to be whole enough to relay: a plain answer
  read to its end, or a stream's first event as its provider recognises it
  (``Provider.first_event``; before that, no byte has gone to the client, so the router may
  retry or fail over).
- The deployment's in-flight count covers the attempt; an ``Answer`` keeps the slot until
  ``complete`` (or ``release`` when the router discards it).
- Only a 200 is measured into the deployment's latency averages (plain answer, or a
  stream's time to first token).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..errors import GatewayError, UpstreamError
from ..exchange import Exchange
from ..metrics import Metrics
from ..protocols.failure import Failure
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

    def complete(self, ex: Exchange) -> None:
        """The response is over: free its in-flight slot and count its tokens."""
        self.release()
        deployment = self.deployment
        if deployment.tpm is not None and ex.prompt_tokens is not None:
            tokens = ex.prompt_tokens + (ex.completion_tokens or 0)
            deployment.tpm.add(time.monotonic(), tokens)


async def attempt(
    deployment: DeploymentState,
    call: Call,
    stream: bool,
    ex: Exchange,
    metrics: Metrics,
    clock: Callable[[], float],
) -> tuple[Answer | GatewayError, Failure | None]:
    """One attempt at ``deployment``, recorded on it. Send, then read the body (plain
    answers, errors) or a stream's first event; count the request (and its quota).

    A 200: ``(answer, None)``, the latency measured, the breaker told; the deployment's
    in-flight slot stays taken until ``Answer.complete``. Anything else: ``(answer or error,
    kind)``, the kind as the provider classifies it, recorded (failures, breaker, cooling
    after a 429), a failed answer closed with its slot freed (its body stays readable).
    A cancelled attempt frees its slot, gives back the breaker's probe and raises."""
    deployment.requests += 1
    if deployment.rpm is not None:
        deployment.rpm.add(clock())
    call.upstream_model = deployment.model
    call.timeouts = deployment.timeouts
    ex.deployment, ex.provider = deployment.model, deployment.provider_name
    provider = deployment.provider
    deployment.in_flight += 1
    response: Response | None = None
    sent = time.perf_counter()
    try:
        response = await provider.send(call)
        metrics.upstream.observe((deployment.provider_name,), time.perf_counter() - sent)
        if stream and response.status == 200:
            left = deployment.timeouts.first_token_s - (time.perf_counter() - sent)
            answer = Answer(response, deployment, b"", await provider.first_event(response, left))
        else:
            answer = Answer(response, deployment, await response.read(), b"")
    except UpstreamError as exc:  # no answer: the transport failed or timed out
        if response is not None:
            response.close()
        deployment.in_flight -= 1
        deployment.record(Failure.TRANSIENT, clock())
        return exc, Failure.TRANSIENT
    except BaseException:
        if response is not None:
            response.close()
        deployment.in_flight -= 1
        if deployment.breaker is not None:
            deployment.breaker.release()  # cancelled: a probe had no result
        raise
    ex.upstream_s = elapsed = time.perf_counter() - sent
    if response.status == 200:
        deployment.observe_latency(elapsed, stream)  # a quick error is not a fast deployment
        if deployment.breaker is not None:
            deployment.breaker.success(clock())
        return answer, None
    response.close()
    answer.release()
    now = clock()
    kind = provider.classify(response, answer.body)
    if kind is Failure.RATE_LIMITED:
        wait = provider.cooldown(response)
        if wait is not None:
            deployment.cooling_until = max(deployment.cooling_until, now + wait)
    deployment.record(kind, now)
    return answer, kind


__all__ = ["Answer", "attempt"]

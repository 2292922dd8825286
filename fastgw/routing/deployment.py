"""What routing knows about one deployment: its settings, health and load.

Rules this module keeps:
- No I/O: the provider is held for the shell to call (``Provider``); every time is a
  ``now`` given by the caller (monotonic seconds).
- Optional parts (breaker, per-minute windows) are ``None`` when not configured, so an
  unconfigured feature is one ``is None`` test.
- ``ready_in`` is the single answer to "when could a request go here?": 0 now, a number of
  seconds, or infinity (a half-open circuit whose probe is out).
"""

from __future__ import annotations

import math

from ..config import CircuitConfig, Deployment, RetryConfig, Timeouts
from ..protocols.failure import Failure
from ..providers.base import Provider
from .breaker import CircuitBreaker
from .policy import MinuteWindow, RateBucket

LATENCY_WEIGHT = 0.2  # weight of the newest sample in the latency moving average


class DeploymentState:
    __slots__ = (
        "breaker",
        "config",
        "cooling_until",
        "cost",
        "failures",
        "in_flight",
        "label",
        "label_ok",
        "latency",
        "model",
        "name",
        "provider",
        "provider_name",
        "requests",
        "retries",
        "rpm",
        "tags",
        "timeouts",
        "tpm",
        "ttft",
        "weight",
    )

    def __init__(
        self,
        config: Deployment,
        name: str,
        model: str,
        provider: Provider,
        timeouts: Timeouts,
        retry: RetryConfig,
        circuit: CircuitConfig | None,
    ) -> None:
        self.config = config
        self.name = name
        self.label = f"{model}/{name}"  # in x-fastgw-attempts: public model / deployment
        self.label_ok = self.label + ":200"
        self.model = config.model
        self.provider = provider
        self.provider_name = config.provider
        self.timeouts = timeouts
        self.weight = config.weight
        self.tags = frozenset(config.tags)
        self.cost = config.input_cost_per_mtok + config.output_cost_per_mtok
        self.breaker = CircuitBreaker(circuit) if circuit is not None and circuit.enabled else None
        self.rpm = MinuteWindow(config.rpm) if config.rpm is not None else None
        self.tpm = MinuteWindow(config.tpm) if config.tpm is not None else None
        self.retries = RateBucket(retry.max_retries_per_s)
        self.cooling_until = 0.0  # after a 429: no request before this
        self.in_flight = 0
        # moving averages of successful attempts: a plain answer read whole, and a stream's
        # first data event (time to first token); None until the first sample
        self.latency: float | None = None
        self.ttft: float | None = None
        self.requests = 0
        self.failures = 0

    def ready_in(self, now: float, retry: bool) -> float:
        """Seconds until a request (a retry when ``retry``) may go here."""
        wait = self.cooling_until - now
        if self.breaker is not None and not self.breaker.available(now):
            if self.breaker.state != "open":
                return math.inf  # half-open, its probe is out
            wait = max(wait, self.breaker.retry_in(now))
        if self.rpm is not None:
            wait = max(wait, self.rpm.free_in(now))
        if self.tpm is not None:
            wait = max(wait, self.tpm.free_in(now))
        if retry:
            wait = max(wait, self.retries.ready_in(now))
        return max(wait, 0.0)

    def status(self, now: float) -> str:
        """``healthy``, ``cooling`` (429 or a quota), ``open`` or ``half_open``."""
        if self.breaker is not None and self.breaker.state != "closed":
            return self.breaker.state
        return "cooling" if self.ready_in(now, False) > 0 else "healthy"

    def record(self, kind: Failure | None, now: float) -> bool:
        """Apply one attempt's or health check's result (``None``: a 200) to the failure
        count and the breaker; whether it shows the deployment alive. An answer that is a
        429 or a 4xx shows it alive; no answer, a 5xx or refused credentials do not."""
        breaker = self.breaker
        if kind is Failure.TRANSIENT or kind is Failure.DEPLOYMENT:
            self.failures += 1
            if breaker is not None:
                breaker.failure(now)
            return False
        if breaker is not None:
            breaker.success(now)
        return True

    def observe_latency(self, seconds: float, stream: bool) -> None:
        """Add one successful attempt's time: to its first token when ``stream``, else to
        its whole answer."""
        if stream:
            self.ttft = _average(self.ttft, seconds)
        else:
            self.latency = _average(self.latency, seconds)

    def expected_latency(self, stream: bool) -> float | None:
        """The average that predicts this request: time to first token for a stream, whole
        answer otherwise; the other one while the first has no sample yet."""
        first, other = (self.ttft, self.latency) if stream else (self.latency, self.ttft)
        return other if first is None else first


def _average(average: float | None, sample: float) -> float:
    return sample if average is None else average + LATENCY_WEIGHT * (sample - average)

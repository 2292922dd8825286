"""``[limits]`` and the five limit fields a key, a team or a model may carry.

The five fields (``rpm``, ``tpm``, ``parallel``, ``budget_day_usd``, ``budget_month_usd``) are
written once, here: ``LimitFields`` is the base of the TOML's keys, teams and model limits, of
the admin API's create bodies and of the key ring's records; ``LimitPatch`` is the base of the
admin API's patch bodies; ``limit_problems`` is their one check, for the TOML and the admin API
alike.

Rules this module keeps:
- A limit is a whole number from 1 to ``MAX_LIMIT``; a budget a finite amount above 0 and at
  most ``MAX_BUDGET_USD``; None (left out) means no limit.
- ``LimitFields`` and ``LimitPatch`` are frozen and keyword-only, so every holder is too
  (decoded bodies and records are never changed, only replaced); each subclass adds
  ``forbid_unknown_fields`` where it decodes input.
"""

from __future__ import annotations

import zoneinfo
from typing import TYPE_CHECKING, Any, Final

import msgspec
from msgspec import UNSET, UnsetType

from ..wire import MAX_TOKENS
from ._base import STRUCT, join
from .known import Known

if TYPE_CHECKING:
    from .load import Config

DEFAULT_TIMEZONE = "UTC"
DEFAULT_COMPLETION_TOKENS = 1024  # the token reservation when a request names no max_tokens
# the most one request reserves against a budget, as a share of the smallest budget it is
# under: a worst-case estimate (n x max_tokens) cannot hold a shared budget on its own
DEFAULT_MAX_RESERVATION_SHARE = 0.1
# Upper bounds of the numbers a key, team or model limit may hold (TOML and admin API alike):
# far above any real limit, exact as doubles (token buckets, Redis), never near an overflow.
MAX_LIMIT = 10**12  # rpm, tpm, parallel
MAX_BUDGET_USD = 1e12  # budget_day_usd, budget_month_usd
MAX_COMPLETION_TOKENS = MAX_TOKENS  # [limits] default_completion_tokens: what a request may ask

COUNT_LIMITS: Final = ("rpm", "tpm", "parallel")
BUDGETS: Final = ("budget_day_usd", "budget_month_usd")
LIMIT_NAMES: Final = COUNT_LIMITS + BUDGETS


class LimitFields(msgspec.Struct, frozen=True, kw_only=True):
    """Limits and budgets a key, a team or a model may carry; None means no limit."""

    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # tokens (prompt + completion) per minute
    parallel: int | None = None  # requests in flight at once
    budget_day_usd: float | None = None  # spend per calendar day in [limits] timezone
    budget_month_usd: float | None = None  # spend per calendar month


class LimitPatch(msgspec.Struct, frozen=True, kw_only=True):
    """The five fields in a PATCH body: left out (``UNSET``) keeps, null clears."""

    rpm: int | UnsetType | None = UNSET
    tpm: int | UnsetType | None = UNSET
    parallel: int | UnsetType | None = UNSET
    budget_day_usd: float | UnsetType | None = UNSET
    budget_month_usd: float | UnsetType | None = UNSET


def limit_values(item: LimitFields) -> dict[str, Any]:
    """The five fields of ``item``, to build another holder of them (``Record(**values)``)."""
    return {name: getattr(item, name) for name in LIMIT_NAMES}


def has_limits(item: LimitFields) -> bool:
    return any(getattr(item, name) is not None for name in LIMIT_NAMES)


def limit_problems(item: Any) -> list[str]:
    """What is wrong with the limits and budgets of ``item`` (a key, team or model: TOML or
    admin API), each as ``"field: why"``: limits are whole numbers from 1 to ``MAX_LIMIT``,
    budgets finite amounts above 0 and at most ``MAX_BUDGET_USD``."""
    problems: list[str] = []
    for name in COUNT_LIMITS:
        value = getattr(item, name)
        if value is not None and value < 1:
            problems.append(f"{name}: must be at least 1 (leave it out for no limit)")
        elif value is not None and value > MAX_LIMIT:
            problems.append(f"{name}: must be at most {MAX_LIMIT} (leave it out for no limit)")
    for name in BUDGETS:
        value = getattr(item, name)
        if value is not None and not value > 0:  # NaN too
            problems.append(f"{name}: must be above 0 (leave it out for no budget)")
        elif value is not None and not value <= MAX_BUDGET_USD:  # inf too
            problems.append(
                f"{name}: must be at most {MAX_BUDGET_USD:.0f} (leave it out for no budget)"
            )
    return problems


def check_limit_fields(path: str, item: LimitFields) -> list[str]:
    return [f"{path}.{problem}" for problem in limit_problems(item)]


class ModelLimits(LimitFields, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Limits on one public model across every key (``[limits.models."name"]``)."""


class LimitsConfig(msgspec.Struct, **STRUCT):
    # None: enforce limits only when the TOML sets one (a key's, team's or model's rpm, tpm,
    # parallel or budget); true: always (keys with limits come from the admin API only);
    # false: never (limits and budgets in the TOML are ignored)
    enabled: bool | None = None
    timezone: str = DEFAULT_TIMEZONE  # where budget days and months begin and end
    default_completion_tokens: int = DEFAULT_COMPLETION_TOKENS
    # a request reserves at most this share of the smallest budget it is under (it is still
    # charged what it used); in (0, 1]
    max_reservation_share: float = DEFAULT_MAX_RESERVATION_SHARE
    models: dict[str, ModelLimits] = {}


def limits_wanted(config: Config) -> bool:
    """Whether the limiter belongs in the pipeline (see ``LimitsConfig.enabled``)."""
    if config.limits.enabled is not None:
        return config.limits.enabled
    holders: list[LimitFields] = [*config.keys, *config.teams, *config.limits.models.values()]
    return any(has_limits(h) for h in holders)


def check_limits(limits: LimitsConfig, known: Known) -> list[str]:
    errors: list[str] = []
    try:
        zoneinfo.ZoneInfo(limits.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append(
            f"limits.timezone: unknown time zone {limits.timezone!r}; use an IANA name "
            "such as 'UTC' or 'Europe/Paris'"
        )
    if limits.default_completion_tokens > MAX_COMPLETION_TOKENS:
        errors.append(f"limits.default_completion_tokens: must be at most {MAX_COMPLETION_TOKENS}")
    if limits.default_completion_tokens < 1:
        errors.append("limits.default_completion_tokens: must be at least 1")
    if not 0 < limits.max_reservation_share <= 1:  # also refuses nan
        errors.append(
            "limits.max_reservation_share: must be above 0 and at most 1 (the share of a "
            f"budget one request may reserve; default {DEFAULT_MAX_RESERVATION_SHARE})"
        )
    for name, model_limits in limits.models.items():
        path = join(join("limits", "models"), name)
        if name not in known.models:
            errors.append(f"{path}: unknown model {name!r}; use a [[models]] name")
        errors.extend(check_limit_fields(path, model_limits))
    return errors

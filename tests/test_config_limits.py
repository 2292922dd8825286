"""The five limit fields are written once (``fastgw.config.LimitFields`` / ``LimitPatch``)
and every holder has them: TOML keys, teams and model limits, admin API bodies, records."""

from __future__ import annotations

import msgspec
import pytest

from fastgw.admin import bodies
from fastgw.config import (
    LIMIT_NAMES,
    KeyConfig,
    LimitFields,
    LimitPatch,
    ModelLimits,
    TeamConfig,
    limit_problems,
    limit_values,
)
from fastgw.errors import InvalidRequest
from fastgw.keys import KeyRecord, TeamRecord, key_record, team_record

HOLDERS = [KeyConfig, TeamConfig, ModelLimits, bodies.KeyCreate, bodies.TeamCreate]


def names(cls: type[msgspec.Struct]) -> tuple[str, ...]:
    return tuple(f.name for f in msgspec.structs.fields(cls))


def test_the_five_fields_are_declared_once() -> None:
    """The base Structs hold exactly the five names, and each holder inherits them."""
    assert names(LimitFields) == names(LimitPatch) == LIMIT_NAMES
    for cls in [*HOLDERS, KeyRecord, TeamRecord]:
        assert issubclass(cls, LimitFields), cls
    for cls in (bodies.KeyPatch, bodies.TeamPatch):
        assert issubclass(cls, LimitPatch), cls
    # the views write them out to keep "object" and "id" first in the JSON; pinned here
    for view in (bodies.KeyView, bodies.TeamView):
        assert set(LIMIT_NAMES) <= set(names(view)), view


def test_records_carry_the_limits_of_the_toml() -> None:
    """A key and a team from the TOML keep all five values in their records."""
    values = {"rpm": 1, "tpm": 2, "parallel": 3, "budget_day_usd": 4.5, "budget_month_usd": 6.0}
    key = KeyConfig(id="k", hash="sha256:" + "a" * 64, **values)
    team = TeamConfig(id="t", **values)
    assert limit_values(key_record(key)) == values
    assert limit_values(team_record(team)) == values


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("rpm", 0, "rpm: must be at least 1 (leave it out for no limit)"),
        ("parallel", 10**13, "parallel: must be at most 1000000000000 (leave it out for no limit)"),
        ("budget_day_usd", float("nan"), "budget_day_usd: must be above 0 (leave it out for no "
         "budget)"),
        ("budget_month_usd", float("inf"), "budget_month_usd: must be at most 1000000000000 "
         "(leave it out for no budget)"),
    ],
)  # fmt: skip
def test_one_check_for_the_toml_and_the_admin_api(field: str, value: float, problem: str) -> None:
    """``limit_problems`` words the TOML's error; the admin API turns the same check into a
    400 naming the field."""
    assert limit_problems(ModelLimits(**{field: value})) == [problem]
    record = TeamRecord(id="t", **{field: value})
    with pytest.raises(InvalidRequest) as info:
        bodies.check_record(record, {"m"})
    assert info.value.param == field


def test_patch_bodies_leave_out_what_they_do_not_change() -> None:
    """A PATCH body sets one limit, clears another, and keeps the rest unset."""
    patch = bodies.decode(b'{"rpm": 5, "tpm": null}', bodies.KeyPatch)
    assert (patch.rpm, patch.tpm, patch.parallel) == (5, None, msgspec.UNSET)
    with pytest.raises(InvalidRequest):
        bodies.decode(b'{"rpms": 5}', bodies.TeamPatch)

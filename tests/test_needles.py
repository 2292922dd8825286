"""contains_any, on the pure module and its compiled twin alike."""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.twins import PROPERTY, twin


@pytest.fixture(scope="module", params=["python", "cython"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """``fastgw._core.needles`` or its compiled twin ``needles_c``."""
    return twin("needles", request.param)


@pytest.mark.parametrize(
    ("data", "needles", "found"),
    [
        (b"", (), False),
        (b"abc", (), False),
        (b"abc", (b"",), False),  # an empty needle is never looked for
        (b"", (b"a",), False),
        (b"abc", (b"abcd",), False),  # longer than the data
        (b"xxabc", (b"zz", b"abc"), True),
        (b"abc", (b"abc",), True),
        (b"a\x00b\x00c", (b"\x00c",), True),  # NUL bytes are ordinary bytes
        (b"sk-pro sk-proj", (b"sk-proj-",), False),
    ],
)
def test_cases(impl: ModuleType, data: bytes, needles: tuple[bytes, ...], found: bool) -> None:
    assert impl.contains_any(data, needles) is found


@PROPERTY
@given(st.binary(max_size=100), st.lists(st.binary(max_size=6), max_size=4))
def test_agrees_with_in(impl: ModuleType, data: bytes, needles: list[bytes]) -> None:
    """The same answer as Python's ``in`` over the non-empty needles."""
    expected = any(n and n in data for n in needles)
    assert impl.contains_any(data, tuple(needles)) is expected

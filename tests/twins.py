"""Helpers for testing both twins of a ``fastgw._core`` module with the same tests."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest
from hypothesis import settings

PROPERTY = settings(max_examples=300, deadline=None, database=None)


def twin(name: str, which: str) -> ModuleType:
    """``fastgw._core.<name>`` (``which == "python"``) or its compiled ``<name>_c``; the
    compiled one is skipped when ``FASTGW_NO_EXTENSIONS`` is set or it is not built."""
    if which == "python":
        return importlib.import_module(f"fastgw._core.{name}")
    if os.environ.get("FASTGW_NO_EXTENSIONS", "") not in ("", "0"):
        pytest.skip("FASTGW_NO_EXTENSIONS is set")
    try:
        return importlib.import_module(f"fastgw._core.{name}_c")
    except ImportError:
        pytest.skip("compiled twin not built")


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

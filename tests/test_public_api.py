"""The public API is small and pinned: changing it is a deliberate act that edits this test."""

from __future__ import annotations

import fastgw
from fastgw._version import __version__

PUBLIC = [
    "Config",
    "ConfigError",
    "Gateway",
    "GatewayError",
    "__version__",
    "create_app",
    "hash_key",
    "load_config",
    "parse_config",
]


def test_all_is_pinned_and_sorted() -> None:
    """``fastgw.__all__`` is exactly the pinned list, sorted."""
    assert fastgw.__all__ == PUBLIC
    assert fastgw.__all__ == sorted(fastgw.__all__)


def test_every_public_name_resolves() -> None:
    """Each name in ``__all__`` is importable from ``fastgw``."""
    for name in fastgw.__all__:
        assert getattr(fastgw, name) is not None, name


def test_star_import_gives_exactly_all() -> None:
    """``from fastgw import *`` binds the public names and nothing else."""
    namespace: dict[str, object] = {}
    exec("from fastgw import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC


def test_version() -> None:
    """The package version is the one in ``_version.py``, in X.Y.Z form."""
    assert fastgw.__version__ == __version__
    assert [part.isdigit() for part in __version__.split(".")] == [True, True, True]


def test_gateway_error_is_the_root_of_public_errors() -> None:
    """``GatewayError`` is an Exception; ``ConfigError`` is separate (a start-up error)."""
    assert issubclass(fastgw.GatewayError, Exception)
    assert not issubclass(fastgw.ConfigError, fastgw.GatewayError)

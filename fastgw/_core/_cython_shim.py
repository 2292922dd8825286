"""What the pure twins use of the ``cython`` module, for when Cython is not installed.

Cython is a build tool: ``pip install .`` needs it to compile the core, and a wheel ships the
compiled modules, but nothing at run time may need it. The pure twins are Cython's "pure
Python mode" source and say ``import cython`` for their typed declarations; where that import
fails they import this module in its place (one ``try``/``except ImportError`` block each,
which Cython compiles as its own ``import cython``).

Rules this module keeps:
- ``compiled`` is False: the twins take their Python branches.
- Type names are the Python types the values have in pure mode; ``declare``, ``cast`` and the
  decorators hand their value back unchanged, as Cython's own shadow module does.
- Only what the twins use, plus the decorators Cython's pure mode offers for the same purpose;
  a test imports each twin with this module standing in for Cython.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

compiled = False

# C types as the Python values they hold in pure mode
int = int  # Cython's name for a C int, shadowing the builtin on purpose
char = int
bint = bool
longlong = int
size_t = int
Py_ssize_t = int
double = float
p_char = object
p_double = object
NULL = None


def declare(tp: Any = None, value: Any = None, **_: Any) -> Any:
    """``cython.declare(type, value)``: the value (None when only a type is given)."""
    return value


def cast(tp: Any, value: Any, **_: Any) -> Any:
    return value


def address(value: Any) -> Any:
    return value


def sizeof(value: Any) -> int:
    return 1


def pointer(tp: Any) -> Any:
    return object


def _keep(function: F) -> F:
    return function


def _keep_with(*_: Any, **__: Any) -> Callable[[F], F]:
    return _keep


cfunc = ccall = cclass = inline = final = _keep
locals = returns = exceptval = boundscheck = wraparound = cdivision = _keep_with

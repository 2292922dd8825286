"""Build the compiled twins of fastgw/_core.

Each hot module is a plain ``.py`` file. Cython compiles that same source into ``<name>_c``,
typed by ``<name>_c.pxd`` (Cython finds a .pxd by the compiled module's name), so the pure and
the compiled module cannot drift apart; the selector in ``fastgw/_core/__init__.py`` picks
one at import. cythonize does not track a .pxd that only augments a .py, so the C is
regenerated whenever a .pxd is newer than it.

``FASTGW_DEBUG_BUILD=1`` builds with line tracing (for coverage and profilers);
``FASTGW_NO_EXTENSIONS=1`` at build time skips the extensions altogether.
"""

import os
import sys

from setuptools import Extension, setup

CORE_MODULES = ["sse", "buckets", "exact_cache", "http1", "admission"]
PYX_MODULES = ["jsonshape", "needles"]


def _extensions() -> list[Extension]:
    if os.environ.get("FASTGW_NO_EXTENSIONS"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.exit(
            "fastgw: Cython is needed to build the compiled core. "
            "Install it with `pip install Cython`, or set FASTGW_NO_EXTENSIONS=1 "
            "to install the pure-Python build."
        )
    debug = bool(os.environ.get("FASTGW_DEBUG_BUILD"))
    macros = [("CYTHON_TRACE_NOGIL", "1")] if debug else []
    exts = [
        Extension(
            f"fastgw._core.{name}_c",
            [f"fastgw/_core/{name}.py"],
            define_macros=macros,
            extra_compile_args=["-O2"] if not debug else ["-O0", "-g"],
        )
        for name in CORE_MODULES
    ]
    # written as .pyx (C pointers, memchr); the pure twin is the .py of the same name
    exts += [
        Extension(
            f"fastgw._core.{name}_c",
            [f"fastgw/_core/{name}_c.pyx"],
            define_macros=macros,
            extra_compile_args=["-O2"] if not debug else ["-O0", "-g"],
        )
        for name in PYX_MODULES
    ]
    directives = {
        "language_level": 3,
        "boundscheck": False,
        "wraparound": False,
        "cdivision": True,
        "linetrace": debug,
        "profile": debug,
    }
    stale = any(
        os.path.getmtime(f"fastgw/_core/{name}_c.pxd")
        > (os.path.getmtime(c) if os.path.exists(c := f"fastgw/_core/{name}.c") else 0)
        for name in CORE_MODULES
        if os.path.exists(f"fastgw/_core/{name}_c.pxd")
    )
    return cythonize(exts, compiler_directives=directives, annotate=debug, force=stale)


setup(ext_modules=_extensions())

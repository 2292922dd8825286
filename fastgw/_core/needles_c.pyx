# cython: language_level=3
"""The compiled twin of ``fastgw._core.needles`` (its docstring states the rules).

A ``.pyx`` rather than the shared ``.py`` source: it calls libc ``memmem`` on the buffers.
"""

cdef extern from "string.h" nogil:
    void* memmem(const void* haystack, size_t haystacklen, const void* needle, size_t needlelen)

__all__ = ["contains_any"]


def contains_any(bytes data, tuple needles):
    """True when one of ``needles`` (the non-empty ones) occurs in ``data``."""
    cdef const char* p = data
    cdef Py_ssize_t n = len(data)
    cdef bytes needle
    cdef Py_ssize_t m
    for item in needles:
        needle = <bytes?>item
        m = len(needle)
        if m and m <= n and memmem(p, <size_t>n, <const char*>needle, <size_t>m) != NULL:
            return True
    return False

# cython: language_level=3
"""The compiled twin of ``fastgw._core.jsonshape`` (its docstring states the rules).

A ``.pyx`` rather than the shared ``.py`` source: the scan walks a C pointer and jumps over
strings with ``memchr``, and keeps the top-level keys in fixed C arrays (hash, start, length)
so the common path allocates nothing. ``top_level_keys`` (a rare path) is the pure one.
"""

from libc.stdint cimport uint64_t
from libc.string cimport memchr, memcmp

from .jsonshape import (
    DUPLICATE_KEY,
    ESCAPED_KEY,
    MAX_TOP_LEVEL_KEYS,
    OK,
    TOO_DEEP,
    TOO_MANY_KEYS,
    top_level_keys,
)

__all__ = [
    "DUPLICATE_KEY",
    "ESCAPED_KEY",
    "MAX_TOP_LEVEL_KEYS",
    "OK",
    "TOO_DEEP",
    "TOO_MANY_KEYS",
    "check_shape",
    "top_level_keys",
]

cdef enum:
    _MAX_KEYS = 128  # MAX_TOP_LEVEL_KEYS (checked at import below)

if MAX_TOP_LEVEL_KEYS != _MAX_KEYS:
    raise ImportError("jsonshape_c: _MAX_KEYS differs from jsonshape.MAX_TOP_LEVEL_KEYS")


cdef inline Py_ssize_t _string_end(const unsigned char* p, Py_ssize_t start, Py_ssize_t n):
    """The index of the quote closing the string opened at ``start``, or -1."""
    cdef Py_ssize_t j = start + 1
    cdef Py_ssize_t k
    cdef const unsigned char* q
    while j < n:
        q = <const unsigned char*>memchr(p + j, 34, <size_t>(n - j))
        if q == NULL:
            return -1
        j = q - p
        k = j - 1
        while p[k] == 92:
            k -= 1
        if (j - 1 - k) % 2 == 0:
            return j
        j += 1
    return -1


def check_shape(bytes body, int max_depth):
    """``OK``, ``TOO_DEEP``, ``DUPLICATE_KEY``, ``TOO_MANY_KEYS`` or ``ESCAPED_KEY``."""
    cdef const unsigned char* p = body
    cdef Py_ssize_t n = len(body)
    cdef Py_ssize_t i = 0, j, s, length, m
    cdef int depth = 0
    cdef bint in_object = False, expect_key = False, escaped = False
    cdef unsigned char c
    cdef uint64_t h
    cdef uint64_t hashes[_MAX_KEYS]
    cdef Py_ssize_t starts[_MAX_KEYS]
    cdef Py_ssize_t lengths[_MAX_KEYS]
    cdef int nkeys = 0, t
    while i < n:
        c = p[i]
        if c == 34:  # '"'
            j = _string_end(p, i, n)
            if j < 0:
                break  # unterminated: the decoder says so
            if expect_key and depth == 1:
                expect_key = False
                s = i + 1
                length = j - s
                if memchr(p + s, 92, <size_t>length) != NULL:
                    escaped = True
                    h = 0
                else:
                    h = 14695981039346656037ULL  # FNV-1a
                    for m in range(s, j):
                        h = (h ^ p[m]) * 1099511628211ULL
                    for t in range(nkeys):
                        if (
                            hashes[t] == h
                            and lengths[t] == length
                            and memcmp(p + starts[t], p + s, <size_t>length) == 0
                        ):
                            return DUPLICATE_KEY
                if nkeys >= _MAX_KEYS:
                    return TOO_MANY_KEYS
                hashes[nkeys] = h
                starts[nkeys] = s
                lengths[nkeys] = length
                nkeys += 1
            i = j + 1
            continue
        if c == 123 or c == 91:  # "{" "["
            depth += 1
            if depth > max_depth:
                return TOO_DEEP
            if depth == 1:
                in_object = c == 123
                expect_key = in_object
        elif c == 125 or c == 93:  # "}" "]"
            depth -= 1
            if depth < 0:
                break  # malformed
        elif c == 44 and depth == 1:  # ","
            expect_key = in_object
        i += 1
    return ESCAPED_KEY if escaped else OK

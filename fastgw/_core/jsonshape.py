"""Bounds on the shape of a client's JSON body, checked on its bytes before it is decoded.

Rules this module keeps:
- One pass over the bytes: arrays and objects nest at most ``max_depth`` deep, the top-level
  object has at most ``MAX_TOP_LEVEL_KEYS`` keys and none of them is spelled twice. A body
  that breaks one gets a code, never an exception.
- It does not validate JSON: a malformed body passes (``OK``) and the decoder that runs next
  reports it. It never reads past the end and stops at the first bound broken.
- A top-level key written with a backslash escape (``"mod\\u0065l"``) cannot be compared as
  bytes: the answer is then ``ESCAPED_KEY`` (the depth was still checked) and the caller
  compares the decoded keys of ``top_level_keys``, a rare and slower path.
- Why it exists: a decoder keeps the last of two equal keys while the body is forwarded as
  received, and an upstream may read the first; and a body nested thousands deep exhausts the
  decoders' recursion (a ``RecursionError``, not a 400).

This is the pure-Python twin; ``jsonshape_c.pyx`` is the compiled one (C pointers and
``memchr``: ~0.2 µs for a 1 KB body), and the same tests run on both.
"""

import re

OK = 0
TOO_DEEP = 1
DUPLICATE_KEY = 2
TOO_MANY_KEYS = 3
ESCAPED_KEY = 4

#: Keys a top-level object may have (OpenAI's chat request has about 35 parameters).
MAX_TOP_LEVEL_KEYS = 128

# what matters outside strings: a string's start, a nesting change, a separator
_TOKEN = re.compile(rb'["{}\[\],]')


def _string_end(body: bytes, start: int) -> int:
    """The index of the quote closing the string opened at ``start``, or -1."""
    j = body.find(b'"', start + 1)
    while j >= 0:
        k = j - 1
        while body[k] == 92:  # a run of backslashes: odd escapes the quote
            k -= 1
        if (j - 1 - k) % 2 == 0:
            return j
        j = body.find(b'"', j + 1)
    return -1


def check_shape(body: bytes, max_depth: int) -> int:
    """``OK``, ``TOO_DEEP``, ``DUPLICATE_KEY``, ``TOO_MANY_KEYS`` or ``ESCAPED_KEY``."""
    depth = 0
    in_object = False  # the top level is an object
    expect_key = False  # at depth 1 of it, the next string is a key
    escaped = False
    keys: set[bytes] = set()
    find = _TOKEN.search
    match = find(body)
    while match is not None:
        i = match.start()
        c = body[i]
        if c == 34:  # '"'
            j = _string_end(body, i)
            if j < 0:
                break  # unterminated: the decoder says so
            if expect_key and depth == 1:
                expect_key = False
                key = body[i + 1 : j]
                if 92 in key:
                    escaped = True
                elif key in keys:
                    return DUPLICATE_KEY
                if len(keys) >= MAX_TOP_LEVEL_KEYS:
                    return TOO_MANY_KEYS
                keys.add(key)
            match = find(body, j + 1)
            continue
        if c == 123 or c == 91:  # "{" "["
            depth += 1
            if depth > max_depth:
                return TOO_DEEP
            if depth == 1:
                in_object = expect_key = c == 123
        elif c == 125 or c == 93:  # "}" "]"
            depth -= 1
            if depth < 0:
                break  # malformed
        elif depth == 1:  # ","
            expect_key = in_object
        match = find(body, i + 1)
    return ESCAPED_KEY if escaped else OK


def top_level_keys(body: bytes) -> list[bytes]:
    """The raw bytes (between the quotes, escapes kept) of each top-level key, in order; for
    the rare paths that need them decoded. Stops at ``MAX_TOP_LEVEL_KEYS + 1`` keys."""
    found: list[bytes] = []
    depth = 0
    expect_key = in_object = False
    find = _TOKEN.search
    match = find(body)
    while match is not None and len(found) <= MAX_TOP_LEVEL_KEYS:
        i = match.start()
        c = body[i]
        if c == 34:
            j = _string_end(body, i)
            if j < 0:
                break
            if expect_key and depth == 1:
                expect_key = False
                found.append(body[i + 1 : j])
            match = find(body, j + 1)
            continue
        if c == 123 or c == 91:
            depth += 1
            if depth == 1:
                in_object = expect_key = c == 123
        elif c == 125 or c == 93:
            depth -= 1
            if depth < 0:
                break
        elif depth == 1:
            expect_key = in_object
        match = find(body, i + 1)
    return found

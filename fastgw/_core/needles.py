"""Whether any of a few byte strings occurs in a buffer: the redactor's per-chunk test.

Rules this module keeps:
- One question, no allocation: ``contains_any(data, needles)`` is True when some needle
  occurs in ``data``. An empty needle is never looked for (it would match everywhere).
- This is the pure-Python twin (``in``, once per needle); ``needles_c.pyx`` is the compiled
  one, with libc ``memmem`` (a relayed stream asks once per chunk, so it is on the hot path
  of every stream when secrets are configured). The same tests run on both.
"""


def contains_any(data: bytes, needles: tuple[bytes, ...]) -> bool:
    """True when one of ``needles`` (the non-empty ones) occurs in ``data``."""
    return any(needle and needle in data for needle in needles)

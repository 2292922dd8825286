"""Coverage-guided fuzzing of the byte parsers with atheris, on both twins at once.

    python benchmarks/fuzz/fuzz_parsers.py sse|http1|canonical [libFuzzer flags]
    make fuzz FUZZ_SECONDS=60        # each target for that long

Each input is split into cut points and data; the data, cut at those points, is fed to the
pure and to the compiled twin, and the run stops on any exception but the documented ones, or
when the twins disagree, or when the cut feed differs from the one-piece feed: the same
properties as tests/adversarial/test_parser_fuzz.py, open-ended. The pure modules are
instrumented (coverage guides the search through their branches); the compiled twins are
black boxes checked against them. atheris comes from PyPI as a binary wheel, no clang needed;
instrumenting the compiled C would need clang's -fsanitize=fuzzer, which this does not do.
Crashing inputs are written to the working directory (crash-*), to be kept as test cases.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports():
    import msgspec

    from fastgw._core import http1 as http1_py
    from fastgw._core import sse as sse_py
    from fastgw.cache import canonical

from fastgw._core import http1_c, sse_c  # compiled: not instrumented
from tests.adversarial.test_parser_fuzz import framed, parsed, pieces


def _split(data: bytes) -> tuple[bytes, list[int], bool]:
    provider = atheris.FuzzedDataProvider(data)
    count = provider.ConsumeIntInRange(0, 16)
    cuts = [provider.ConsumeIntInRange(0, 4096) for _ in range(count)]
    close = provider.ConsumeBool()
    return provider.ConsumeBytes(provider.remaining_bytes()), cuts, close


def fuzz_sse(data: bytes) -> None:
    body, cuts, _ = _split(data)
    chunks = pieces(body, cuts)
    whole = framed(sse_py, [body])
    assert framed(sse_py, chunks) == whole, "pure: cut feed differs from the one-piece feed"
    assert framed(sse_c, chunks) == whole, "compiled twin differs from the pure one"


def fuzz_http1(data: bytes) -> None:
    body, cuts, close = _split(data)
    chunks = pieces(body, cuts)
    whole = parsed(http1_py, [body], close)
    assert parsed(http1_py, chunks, close) == whole, "pure: cut feed differs from one piece"
    assert parsed(http1_c, chunks, close) == whole, "compiled twin differs from the pure one"


def fuzz_canonical(data: bytes) -> None:
    for form_of in (canonical.canonical_chat, canonical.canonical_completion):
        try:
            form = form_of(data, "m")
        except msgspec.DecodeError:
            continue
        except RecursionError:  # issue 12 item 4: deep nesting (a known defect, not new)
            return
        assert form_of(form.partition(b"\n")[2], "m") == form, "a form is not a fixpoint"


TARGETS: dict[str, Callable[[bytes], None]] = {
    "sse": fuzz_sse,
    "http1": fuzz_http1,
    "canonical": fuzz_canonical,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(TARGETS)} [libFuzzer flags]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

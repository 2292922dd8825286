"""A strict reader of the Prometheus text exposition (0.0.4), for tests of ``/metrics``."""

from __future__ import annotations

import re

# name{labels} value, as the text format allows it (label values are escaped strings)
_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r'(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})?'
    r" (?P<value>[-+]?(?:[0-9.]+(?:e[-+]?[0-9]+)?|Inf|NaN))$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')

Sample = tuple[str, dict[str, str], float]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], value)


def parse(text: str) -> tuple[dict[str, tuple[str, str]], list[Sample]]:
    """HELP and TYPE per family (checked to come in that order), then every sample."""
    families: dict[str, tuple[str, str]] = {}
    samples: list[Sample] = []
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    for i, line in enumerate(lines):
        if line.startswith("# HELP "):
            name, help_text = line[7:].split(" ", 1)
            assert lines[i + 1].startswith(f"# TYPE {name} ")
            families[name] = (help_text, "")
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            assert kind in ("counter", "gauge", "histogram")
            families[name] = (families[name][0], kind)
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a valid sample line: {line!r}"
            labels = {k: _unescape(v) for k, v in _LABEL.findall(match["labels"] or "")}
            samples.append((match["name"], labels, float(match["value"])))
    return families, samples


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample ``name`` with exactly ``labels``, or None."""
    found = [v for n, ls, v in parse(text)[1] if n == name and ls == labels]
    assert len(found) <= 1
    return found[0] if found else None


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include ``labels``."""
    return sum(
        v
        for n, ls, v in parse(text)[1]
        if n == name and all(ls.get(k) == want for k, want in labels.items())
    )

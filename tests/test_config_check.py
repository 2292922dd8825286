"""``fastgw check-config`` reports every error of a file in one pass, and ``fastgw init``
writes a starter config that passes it (the CLI run as a real subprocess)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openai import OpenAI

from fastgw.config import ConfigError, check_file, parse_config
from fastgw.keys import KEY_PREFIX, hash_key
from fastgw.testing import GatewayProcess

ROOT = Path(__file__).resolve().parent.parent
HASH = hash_key("sk-check")


def fastgw(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "FASTGW_ADMIN_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "fastgw", *args],
        input="",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**environ, **(env or {})},
        timeout=30,
    )


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "t.toml", {})
    return info.value.errors


SEVERAL = f"""
[server]
prot = 8080
workers = 0

[providers.mock]
type = "mock"
tokens = "many"

[[models]]
name = "chat"
deployments = [{{ provider = "opneai", model = "gpt-4o-mini" }}]
fallbacks = ["ghost"]

[[keys]]
id = "k"
hash = "{HASH}"
rpm = -1
models = ["chat", "nope"]

[limits]
timezone = "Mars/Olympus"
"""


def test_check_config_reports_errors_of_every_section_in_one_run(tmp_path: Path) -> None:
    """Typos and wrong types do not hide range or reference errors, in any section: one run
    prints them all, ordered by section, and exits 1."""
    path = tmp_path / "several.toml"
    path.write_text(SEVERAL)
    result = fastgw("check-config", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}: 8 configuration errors:"
    assert lines[1:] == [
        "  - server.prot: unknown key; did you mean 'port'?",
        "  - server.workers: must be at least 1",
        "  - providers.mock.tokens: expected a whole number, got a string 'many'",
        "  - models[0].deployments[0].provider: unknown provider 'opneai'; define "
        "[providers.opneai] or use one of: mock",
        "  - models[0].fallbacks[0]: unknown model 'ghost'; use a [[models]] name",
        "  - keys[0].rpm: must be at least 1 (leave it out for no limit)",
        "  - keys[0].models: unknown model 'nope'; use '*' or a [[models]] name",
        "  - limits.timezone: unknown time zone 'Mars/Olympus'; use an IANA name such as "
        "'UTC' or 'Europe/Paris'",
    ]


def test_an_entry_dropped_for_its_shape_keeps_its_name_and_number() -> None:
    """A model with a typo is reported once: its name still counts for the keys that use it,
    and errors of the entries after it keep the numbers the file gives them."""
    errors = errors_of(
        '[providers.m]\ntype = "mock"\n'
        '[[models]]\nname = "a"\ndeployment = []\n'
        '[[models]]\nname = "b"\ndeployments = [{ provider = "x", model = "m" }]\n'
        f'[[keys]]\nid = "k"\nhash = "{HASH}"\nmodels = ["a", "b"]\n'
    )
    assert errors == [
        "models[0].deployment: unknown key; did you mean 'deployments'?",
        "models[0].deployments: missing; add it (an array of a table)",
        "models[1].deployments[0].provider: unknown provider 'x'; define [providers.x] or use "
        "one of: m",
    ]


def test_a_wrongly_typed_optional_value_hides_nothing_else_in_its_table() -> None:
    """A bad value is reported, the rest of its table is still checked."""
    errors = errors_of(
        '[providers.m]\ntype = "mock"\nchunk_delay_ms = "slow"\ntokens = 0\n'
        '[[models]]\nname = "a"\ndeployments = [{ provider = "m", model = "x", weight = -1 }]\n'
    )
    assert errors == [
        "providers.m.chunk_delay_ms: expected a number, got a string 'slow'",
        "providers.m.tokens: must be at least 1",
        "models[0].deployments[0].weight: must be above 0",
    ]


def test_a_broken_provider_still_counts_as_defined() -> None:
    """A provider with an unknown type is one error, not also one per deployment using it."""
    errors = errors_of(
        '[providers.p]\ntype = "antropic"\n'
        '[[models]]\nname = "a"\ndeployments = [{ provider = "p", model = "x" }]\n'
    )
    kinds = '"openai", "anthropic", "gemini", "bedrock", "cohere", "mock"'
    assert errors == [f"providers.p.type: set type to one of {kinds} (got 'antropic')"]


def test_check_config_on_an_empty_file_is_an_error(tmp_path: Path) -> None:
    """An empty file (or one of comments) serves nothing: exit 1, and the fix is named."""
    path = tmp_path / "empty.toml"
    path.write_text("# nothing yet\n")
    result = fastgw("check-config", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines()[:2] == [
        f"{path}: 1 configuration error:",
        "  - the file is empty (or holds only comments): there is nothing to serve; "
        "`fastgw init PATH` writes a starter config",
    ]


def test_serve_refuses_an_empty_file(tmp_path: Path) -> None:
    """``serve`` refuses what ``check-config`` refuses (exit 2), before starting anything."""
    path = tmp_path / "empty.toml"
    path.write_text("")
    result = fastgw("serve", "--config", str(path), "--port", "1")
    assert result.returncode == 2
    assert "the file is empty" in result.stderr


def test_a_file_without_models_is_an_error(tmp_path: Path) -> None:
    """Models come only from the file: none means every request would be a 404."""
    path = tmp_path / "nomodels.toml"
    path.write_text(f'[providers.m]\ntype = "mock"\n[[keys]]\nid = "k"\nhash = "{HASH}"\n')
    result = fastgw("check-config", str(path))
    assert result.returncode == 1
    assert "  - models: no [[models]] table" in result.stderr


NO_KEYS = '[providers.m]\ntype = "mock"\n[[models]]\nname = "a"\n' + (
    'deployments = [{ provider = "m", model = "x" }]\n'
)


def test_a_file_without_keys_is_a_warning(tmp_path: Path) -> None:
    """No [[keys]] and no admin key: valid (keys may be in the key store) but warned about,
    with exit 0; ``--strict`` makes the warning fail the check."""
    path = tmp_path / "nokeys.toml"
    path.write_text(NO_KEYS)
    result = fastgw("check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{path}: OK (1 models, 1 providers, 0 keys)\n"
    assert re.fullmatch(
        rf"{re.escape(str(path))}: warning: keys: no \[\[keys\]\] and the admin API is off "
        r"\(FASTGW_ADMIN_KEY is not set\): .*fastgw hash-key --new.*\n",
        result.stderr,
    )
    assert fastgw("check-config", "--strict", str(path)).returncode == 1


def test_no_keys_with_the_admin_api_on_is_not_warned_about(tmp_path: Path) -> None:
    """With the admin key set, keys are made at run time: nothing to warn about."""
    path = tmp_path / "nokeys.toml"
    path.write_text(NO_KEYS)
    result = fastgw("check-config", "--strict", str(path), env={"FASTGW_ADMIN_KEY": "adm"})
    assert (result.returncode, result.stderr) == (0, "")


def test_check_file_report() -> None:
    """``check_file`` gives the config when valid, with its relative paths resolved."""
    report = check_file(ROOT / "config" / "fastgw.toml", env={})
    assert report.errors == [] and report.warnings == []
    assert report.config is not None
    assert Path(report.config.storage.sqlite_path).is_absolute()


# -- fastgw init ---------------------------------------------------------------------------------


def test_init_writes_a_starter_config_that_passes_check_config(tmp_path: Path) -> None:
    """``init`` prints a new key once and writes a config holding only its hash, with the
    mock provider and a commented OpenAI one; the file passes ``check-config --strict``."""
    path = tmp_path / "conf" / "fastgw.toml"
    result = fastgw("init", str(path))
    assert result.returncode == 0, result.stderr
    (key,) = re.findall(rf"^key:  ({KEY_PREFIX}\S+) ", result.stdout, re.M)
    text = path.read_text()
    assert key not in text
    assert f'hash = "{hash_key(key)}"' in text
    assert '[providers.mock]\ntype = "mock"' in text
    assert '# [providers.openai]\n# type = "openai"' in text
    check = fastgw("check-config", "--strict", str(path))
    assert check.returncode == 0, check.stderr
    assert check.stdout == f"{path}: OK (2 models, 1 providers, 1 keys)\n"


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    """An existing file is left alone (exit 1) unless ``--force``; forced, it gets a new key."""
    path = tmp_path / "fastgw.toml"
    path.write_text("# mine\n")
    result = fastgw("init", str(path))
    assert result.returncode == 1
    assert "exists; pass --force" in result.stderr
    assert path.read_text() == "# mine\n"
    forced = fastgw("init", "--force", str(path))
    assert forced.returncode == 0, forced.stderr
    assert "[[keys]]" in path.read_text()


@pytest.mark.e2e
def test_init_starter_serves_with_the_key_it_printed(tmp_path: Path) -> None:
    """The starter config is a working gateway: the printed key gets an answer from the mock
    through the official OpenAI SDK."""
    path = tmp_path / "fastgw.toml"
    result = fastgw("init", str(path))
    (key,) = re.findall(rf"^key:  ({KEY_PREFIX}\S+) ", result.stdout, re.M)
    with GatewayProcess(path.read_text()) as gateway:
        client = OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, timeout=10)
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert answer.choices[0].message.content


# -- hostile files -------------------------------------------------------------------------------


def _field_names() -> list[str]:
    """Every key the schema knows, so that generated documents reach deep into it."""
    import msgspec

    from fastgw.config import Config, MockProvider, OpenAIProvider

    seen: set[str] = {"type", "openai", "mock", "zzz"}
    todo: list[type[msgspec.Struct]] = [Config, MockProvider, OpenAIProvider]
    done: set[type[msgspec.Struct]] = set()
    while todo:
        cls = todo.pop()
        if cls in done:
            continue
        done.add(cls)
        for field in msgspec.structs.fields(cls):
            seen.add(field.encode_name)
            for arg in _types_in(field.type):
                if isinstance(arg, type) and issubclass(arg, msgspec.Struct):
                    todo.append(arg)
    return sorted(seen)


def _types_in(tp: object) -> list[object]:
    import typing

    args = typing.get_args(tp)
    return [tp, *(t for a in args for t in _types_in(a))]


def test_any_document_gives_errors_never_a_crash() -> None:
    """Whatever nesting of TOML values a file holds under whichever keys, checking it ends in
    a list of errors (or a config), never in an exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from fastgw.config import Config, decode_config

    keys = st.sampled_from(_field_names())
    scalars = st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
        st.sampled_from(["mock", "openai", "m", "a", "*", "redis", "UTC", f"{HASH}"]),
    )
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=20,
    )

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.dictionaries(keys, values, max_size=6))
    def check(raw: dict[str, object]) -> None:
        config, errors = decode_config(raw, {})
        assert all(isinstance(e, str) and e for e in errors)
        assert isinstance(config, Config)

    check()


COALESCE = f"""
[providers.mock]
type = "mock"

[[models]]
name = "chat"
deployments = [{{ provider = "mock", model = "m" }}]
coalesce = {{value}}

[[keys]]
id = "k"
hash = "{HASH}"
"""


def test_check_config_accepts_a_boolean_coalesce_and_refuses_anything_else(
    tmp_path: Path,
) -> None:
    """``coalesce = true/false`` on a model passes ``check-config``; another type fails with
    the key path."""
    path = tmp_path / "coalesce.toml"
    for value in ("true", "false"):
        path.write_text(COALESCE.replace("{value}", value))
        result = fastgw("check-config", str(path))
        assert result.returncode == 0, result.stderr
        assert parse_config(path.read_text(), "t.toml", {}).models[0].coalesce is (value == "true")
    path.write_text(COALESCE.replace("{value}", '"sometimes"'))
    result = fastgw("check-config", str(path))
    assert result.returncode == 1
    assert "models[0].coalesce" in result.stderr
    assert any("models[0].coalesce" in e for e in errors_of(path.read_text()))


def test_a_provider_type_that_is_not_a_string_is_an_error() -> None:
    """``type = []`` (a list, a table) is told the choices like a misspelt type; it once raised
    TypeError (hypothesis found it)."""
    (error,) = errors_of("[providers.p]\ntype = []\n")
    assert error.startswith("providers.p.type: set type to one of") and error.endswith(
        "(got a list)"
    )

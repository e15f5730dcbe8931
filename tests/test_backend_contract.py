"""What every registered backend promises, checked for each (stage, name) in the registry.

Options: defaults round-trip through JSON and YAML, bad keys and values are config errors naming the key, every
option is documented and bounded, no option shadows a stage key. Building: offline backends build here with a
JSON-serialisable identity that is the same on every build; a missing package is a BackendUnavailable saying what
to ``pip install``, and choosing a backend imports none of its heavy packages.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, get_args, get_origin

import annotated_types
import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

import gen4gen.backends as registry
from gen4gen.backends import REGISTRY, backend_class, build_backend
from gen4gen.config import RunConfig, load_config
from gen4gen.errors import BackendUnavailable, ConfigError
from gen4gen.testing.fake_openai import FakeOpenAI

BACKENDS = [(kind, name) for kind, table in REGISTRY.items() for name in table]
IDS = [f"{kind}.{name}" for kind, name in BACKENDS]

#: backends that build here with no weights, packages or network beyond the core install
OFFLINE = {("segment", "grabcut"), ("segment", "alpha"), ("compose", "prior"), ("repaint", "scene")}
OFFLINE |= {("repaint", "noise"), ("caption", "template")}
#: backends that talk to an OpenAI-compatible endpoint (built against the fake server)
ENDPOINT = {("compose", "llm"), ("caption", "vlm")}
#: backends that need a heavy optional package, checked when the backend is built
HEAVY: dict[tuple[str, str], tuple[str, ...]] = {
    ("segment", "isnet"): ("onnxruntime",),
    ("segment", "rembg"): ("rembg", "onnxruntime"),
    ("repaint", "sdxl"): ("diffusers", "torch"),
    ("repaint", "sd"): ("diffusers", "torch"),
    ("caption", "transformers"): ("transformers", "torch"),
}
HEAVY_CASES = [(kind, name, package) for (kind, name), packages in HEAVY.items() for package in packages]
NUMBERS = (int, float)


def _fields(kind: str, name: str) -> dict[str, FieldInfo]:
    return backend_class(kind, name).Options.model_fields


def _base_types(annotation: Any) -> set[Any]:
    """The plain types of an annotation, ``int | None`` -> {int, NoneType}."""
    args = get_args(annotation)
    if get_origin(annotation) in (types.UnionType, typing.Union):
        return {t for arg in args for t in _base_types(arg)}
    return {get_origin(annotation) or annotation}


def _bounds(field: FieldInfo) -> dict[str, float]:
    found: dict[str, float] = {}
    for item in field.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                found[attr] = getattr(item, attr)
    return found


@contextmanager
def _builder(kind: str, name: str) -> Iterator[Callable[[], Any]]:
    """A function building the backend offline (endpoint backends against one fake server), or pytest.skip."""
    if (kind, name) in OFFLINE:
        yield lambda: build_backend(kind, name, {})
    elif (kind, name) in ENDPOINT:
        with FakeOpenAI() as server:
            yield lambda: build_backend(kind, name, {"base_url": server.url, "model": "fake-model"})
    else:
        pytest.skip(f"{kind}.{name} needs weights; covered by its own tests")


def test_every_backend_is_classified() -> None:
    """A new backend must say here how it is built, so the build contracts below cover it."""
    classified = OFFLINE | ENDPOINT | set(HEAVY)
    assert set(BACKENDS) == classified, f"classify {sorted(set(BACKENDS) - classified)} in this file"


# ------------------------------------------------------------------------------------------------------ options
@pytest.mark.parametrize(("kind", "name"), BACKENDS, ids=IDS)
def test_default_options_round_trip(kind: str, name: str) -> None:
    options_cls = backend_class(kind, name).Options
    options = options_cls()
    dumped = options.model_dump(mode="json")
    assert options_cls.model_validate(dumped) == options
    assert options_cls.model_validate(json.loads(json.dumps(dumped))) == options
    assert options_cls.model_validate(yaml.safe_load(yaml.safe_dump(dumped))) == options
    # and through the config file's path: the resolved config holds the same options
    config = load_config(overrides=[f"{kind}.backend={name}"])
    assert config.backend_options(kind) == options
    resolved = config.resolved()[kind]
    assert load_config(base={kind: yaml.safe_load(yaml.safe_dump(resolved))}).backend_options(kind) == options


@pytest.mark.parametrize(("kind", "name"), BACKENDS, ids=IDS)
def test_options_are_frozen_and_strict(kind: str, name: str) -> None:
    options_cls = backend_class(kind, name).Options
    assert options_cls.model_config.get("extra") == "forbid"
    assert options_cls.model_config.get("frozen") is True


@pytest.mark.parametrize(("kind", "name"), BACKENDS, ids=IDS)
def test_unknown_key_is_a_config_error_naming_it(kind: str, name: str) -> None:
    with pytest.raises(ConfigError, match=rf"unknown key '{kind}\.no_such_option' for backend '{name}'"):
        load_config(overrides=[f"{kind}.backend={name}", f"{kind}.no_such_option=1"])


@pytest.mark.parametrize(("kind", "name"), BACKENDS, ids=IDS)
def test_wrongly_typed_values_are_config_errors_naming_the_key(kind: str, name: str) -> None:
    for key in _fields(kind, name):
        with pytest.raises(ConfigError, match=rf"{kind}\.{key}\b") as caught:
            load_config(overrides=[f"{kind}.backend={name}", f"{kind}.{key}={{wrong: [1]}}"])
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("kind", "name"), BACKENDS, ids=IDS)
def test_values_out_of_bounds_are_config_errors_naming_the_key(kind: str, name: str) -> None:
    for key, field in _fields(kind, name).items():
        bounds = _bounds(field)
        step = 1 if int in _base_types(field.annotation) else 1e-3
        outside = [bounds["ge"] - step] if "ge" in bounds else [bounds["gt"]] if "gt" in bounds else []
        outside += [bounds["le"] + step] if "le" in bounds else [bounds["lt"]] if "lt" in bounds else []
        for value in outside:
            with pytest.raises(ConfigError, match=rf"{kind}\.{key}\b"):
                load_config(overrides=[f"{kind}.backend={name}", f"{kind}.{key}={value}"])


@pytest.mark.parametrize(("kind", "name"), BACKENDS, ids=IDS)
def test_every_option_is_documented(kind: str, name: str) -> None:
    """`gen4gen backends --options` prints each option's description: none may be missing."""
    missing = [key for key, field in _fields(kind, name).items() if not (field.description or "").strip()]
    assert not missing, f"{kind}.{name}: add Field(description=...) to {missing}"


@pytest.mark.parametrize(("kind", "name"), BACKENDS, ids=IDS)
def test_every_number_option_is_bounded(kind: str, name: str) -> None:
    """A number without bounds accepts nonsense (steps=0, strength=1.5) that fails only once the stage runs."""
    unbounded = [
        key
        for key, field in _fields(kind, name).items()
        if _base_types(field.annotation) & set(NUMBERS) and not _bounds(field)
    ]
    assert not unbounded, f"{kind}.{name}: add ge/gt/le/lt to {unbounded}"


@pytest.mark.parametrize(("kind", "name"), BACKENDS, ids=IDS)
def test_options_do_not_shadow_stage_keys(kind: str, name: str) -> None:
    """Backend options sit flat in the stage section: one named like a stage key (caption.max_words) is lost."""
    section = RunConfig.model_fields[kind].annotation
    assert isinstance(section, type) and issubclass(section, BaseModel)
    clash = set(_fields(kind, name)) & set(section.model_fields)
    assert not clash, f"{kind}.{name}: options {sorted(clash)} collide with the {kind} section's own keys"


# ------------------------------------------------------------------------------------------------------ building
@pytest.mark.parametrize(("kind", "name"), BACKENDS, ids=IDS)
def test_identity_is_json_and_stable(kind: str, name: str) -> None:
    with _builder(kind, name) as build:
        first, second = build(), build()
        assert first.name == name
        assert isinstance(first.options, backend_class(kind, name).Options)
        identity = first.identity()
        assert json.loads(json.dumps(identity)) == identity
        assert identity["name"] == name and isinstance(identity["version"], str)
        assert second.identity() == identity
        assert first.identity() == identity  # asking again changes nothing


@pytest.mark.parametrize(("kind", "name", "package"), HEAVY_CASES, ids=[f"{k}.{n}-{p}" for k, n, p in HEAVY_CASES])
def test_missing_package_is_backend_unavailable_with_pip_install(
    kind: str, name: str, package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend's module imports without its heavy package; building it says what to install."""
    for other in HEAVY[(kind, name)]:
        # the backend's other packages load for real first, so none of them caches `package` as missing
        if other != package:
            with suppress(ImportError):
                importlib.import_module(other)
    monkeypatch.setitem(sys.modules, package, None)  # `import package` now raises ModuleNotFoundError
    backend_class(kind, name)  # choosing the backend needs no heavy package
    with pytest.raises(BackendUnavailable, match="pip install") as caught:
        build_backend(kind, name, {})
    assert "\n" not in str(caught.value) and f"'{name}'" in str(caught.value)


@pytest.mark.parametrize(("kind", "name"), BACKENDS, ids=IDS)
def test_missing_package_at_import_is_backend_unavailable(
    kind: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend module whose top-level import fails on a third-party package names it and how to install."""

    def import_module(module_name: str, package: str | None = None) -> types.ModuleType:
        raise ModuleNotFoundError(f"No module named 'somepackage' (importing {module_name})", name="somepackage")

    monkeypatch.setattr(registry, "importlib", types.SimpleNamespace(import_module=import_module))
    with pytest.raises(BackendUnavailable, match=rf"{kind} backend '{name}'.*'somepackage'.*pip install"):
        backend_class(kind, name)


def test_choosing_backends_imports_no_heavy_package() -> None:
    """The registry, gen4gen.hf and every backend module import without torch, diffusers, transformers or onnx."""
    heavy = sorted({package for packages in HEAVY.values() for package in packages} | {"huggingface_hub"})
    code = (
        "import sys\n"
        "import gen4gen.hf\n"
        "from gen4gen.backends import REGISTRY, backend_class\n"
        "for kind, table in REGISTRY.items():\n"
        "    for name in table:\n"
        "        backend_class(kind, name)\n"
        f"print([p for p in {heavy!r} if p in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"

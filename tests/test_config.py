"""Config loading: defaults, files, overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gen4gen.config import EXAMPLE_CONFIG, ConfigError, load_config


def test_defaults_and_overrides() -> None:
    config = load_config(overrides=["compose.canvas=512", "seed=7", "caption.max_words=20"])
    assert (config.compose.canvas, config.seed, config.caption.max_words) == (512, 7, 20)
    assert config.segment.backend == "grabcut" and config.repaint.backend == "scene"


def test_yaml_and_toml_files(tmp_path: Path) -> None:
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text("samples: 3\ncompose:\n  canvas: 384\n")
    toml_path = tmp_path / "c.toml"
    toml_path.write_text("samples = 5\n[segment]\nrounds = 3\n")
    assert load_config(yaml_path).compose.canvas == 384
    config = load_config(toml_path, ["samples=6"])
    assert (config.samples, config.segment.rounds) == (6, 3)


def test_example_config_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "gen4gen.yaml"
    path.write_text(EXAMPLE_CONFIG)
    assert load_config(path).samples == yaml.safe_load(EXAMPLE_CONFIG)["samples"]


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("compose.canvas=abc", "compose.canvas"),
        ("compose.canvas=10", "compose.canvas"),
        ("colour=red", "colour"),
        ("segment.backend=magic", "available: alpha, grabcut, isnet, rembg"),
        ("repaint.no_such_option=1", "repaint.no_such_option"),
        ("nonsense", "KEY=VALUE"),
    ],
)
def test_errors_name_the_key(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert fragment in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("compose: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        load_config(broken)
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_config(tmp_path / "missing.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listing)


def test_resolved_config_includes_backend_options() -> None:
    resolved = load_config().resolved()
    assert resolved["segment"]["backend"] == "grabcut"
    assert len(resolved["segment"]) > 4  # the backend's own options are filled in

"""The wheelhouse behind images and bundles: pins from this environment, markers of the
target, and one cache shared by several target platforms."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from roost.core import ConfigError
from roost.deploy.wheelhouse import PLATFORM_EXTRAS, Target, fits, parse_target, pinned_requirements


def test_pins_are_the_versions_installed_here() -> None:
    pins = pinned_requirements(PLATFORM_EXTRAS)
    assert f"pydantic=={metadata.version('pydantic')}" in pins
    assert f"asyncpg=={metadata.version('asyncpg')}" in pins, "the postgres extra"
    assert not any(p.startswith("roost") for p in pins)
    assert not any(p.startswith("kubernetes==") for p in pins), "only the extras asked for"


def test_target_markers_decide_what_is_needed() -> None:
    # redis needs async-timeout below Python 3.11.3: Debian bookworm's python is 3.11.2.
    pins = pinned_requirements(["redis"])
    assert any(p.startswith("async-timeout") for p in pins)
    newer = pinned_requirements(["redis"], target=Target(python_version="3.12"))
    assert not any(p.startswith("async-timeout") for p in newer)


def test_a_shared_cache_gives_each_platform_its_own_wheels() -> None:
    amd, arm = parse_target("linux/amd64"), parse_target("linux/arm64@3.11")
    native_x86 = Path("asyncpg-0.32.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl")
    native_arm = Path("asyncpg-0.32.0-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl")
    pure = Path("pydantic-2.14.4-py3-none-any.whl")
    abi3 = Path("xllamacpp-1.0-cp310-abi3-manylinux2014_x86_64.whl")
    assert fits(native_x86, amd) and not fits(native_x86, arm)
    assert fits(native_arm, arm) and not fits(native_arm, amd)
    assert fits(pure, amd) and fits(pure, arm)
    assert fits(abi3, amd)
    assert not fits(native_x86, Target(python_version="3.12"))
    assert "manylinux_2_28_aarch64" in arm.pip_platforms()


def test_unknown_targets_are_refused() -> None:
    with pytest.raises(ConfigError, match="linux/amd64 or linux/arm64"):
        parse_target("windows/amd64")
    with pytest.raises(ConfigError, match="Python version"):
        parse_target("linux/amd64@eleven")

"""``secret://NAME`` references: configuration values that name a secret of the store.

A model API key, a webhook URL or a knowledge database password may be given as
``secret://openai-key`` instead of the value; the code that uses it calls
:func:`resolve` right before use, so the value never sits in the configuration, the
environment or a log. The resolver is installed by ``roost.govern`` (the secret store
lives above this layer); without one, a reference is a clear configuration error.
"""

from __future__ import annotations

from collections.abc import Callable

from roost.core.errors import ConfigError

SCHEME = "secret://"
Resolver = Callable[[str], str]
_resolver: list[Resolver] = []


def is_ref(value: str | None) -> bool:
    return isinstance(value, str) and value.startswith(SCHEME)


def install(resolver: Resolver | None) -> None:
    """Set the process's resolver of secret names (None removes it)."""
    _resolver[:] = [resolver] if resolver is not None else []


def resolve(value: str) -> str:
    """``value``, or the secret it references."""
    if not is_ref(value):
        return value
    name = value[len(SCHEME) :]
    if not _resolver:
        raise ConfigError(
            f"{value} references a secret and no secret store is configured",
            hint="run under `roost serve` (or call roost.govern.install_secret_resolver())",
        )
    return _resolver[0](name)


def resolve_optional(value: str | None) -> str | None:
    return None if value is None else resolve(value)

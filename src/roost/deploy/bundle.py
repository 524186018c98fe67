"""The air-gapped bundle (``roost bundle``): one archive with everything an offline data
centre needs to install Roost: the wheelhouse for the target platform, the local model,
the Helm chart, the platform image as an OCI archive, checksums and an install script.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from roost.core.errors import ConfigError
from roost.deploy.engine import Echo, Engine, save_image
from roost.deploy.errors import DeployError
from roost.deploy.wheelhouse import Target, extras_spec, stage_wheels

BUNDLE_EXTRAS = ("postgres", "redis", "fast", "local", "sandbox", "otlp", "k8s")


def chart_dir() -> Path:
    """The Helm chart: inside the package when installed from a wheel, else the
    repository's ``deploy/helm/roost``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "helm" / "roost", here.parents[2] / "deploy" / "helm" / "roost"):
        if (candidate / "Chart.yaml").is_file():
            return candidate
    raise ConfigError(
        "the Helm chart is not part of this installation", hint="use a source checkout"
    )


def chart_archive(dest_dir: Path) -> Path:
    """``roost-<version>.tgz`` as ``helm package`` writes it (a tarball of the chart)."""
    import yaml

    source = chart_dir()
    version = yaml.safe_load((source / "Chart.yaml").read_text(encoding="utf-8"))["version"]
    dest = dest_dir / f"roost-{version}.tgz"
    with tarfile.open(dest, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                tar.add(path, arcname=f"roost/{path.relative_to(source)}", recursive=False)
    return dest


@dataclass
class BundleSpec:
    extras: Sequence[str] = BUNDLE_EXTRAS
    target: Target = field(default_factory=Target)
    models: Sequence[Path] = ()
    """GGUF files (and their ``.json`` manifests next to them) to ship."""
    image: str | None = None
    """An image already built here to ship as an OCI archive."""


def _install_script(spec: BundleSpec) -> str:
    return f"""\
#!/bin/sh
# Installs Roost from this bundle, with no network: checks every file's checksum, makes a
# virtualenv from the bundled wheels, puts the local model under ROOST_HOME and loads the
# image into Podman or Docker when one is installed.
#   PREFIX   virtualenv to create      (default /opt/roost)
#   PYTHON   python{spec.target.python_version} to use           (default python3)
#   ROOST_HOME  where the model goes  (default ~/.roost)
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="${{PREFIX:-/opt/roost}}"
PYTHON="${{PYTHON:-python3}}"
ROOST_HOME="${{ROOST_HOME:-$HOME/.roost}}"
cd "$HERE"
echo "checking checksums"
sha256sum --quiet -c SHA256SUMS
echo "installing {extras_spec(spec.extras)} into $PREFIX (no package index)"
"$PYTHON" -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install --quiet --no-index --find-links "$HERE/wheels" \\
  --disable-pip-version-check -r "$HERE/wheels/requirements.txt"
if [ -d models ] && [ -n "$(ls models)" ]; then
  mkdir -p "$ROOST_HOME/models" && chmod 0700 "$ROOST_HOME" "$ROOST_HOME/models"
  for f in models/*; do
    [ -e "$ROOST_HOME/models/$(basename "$f")" ] || cp "$f" "$ROOST_HOME/models/"
  done
fi
for archive in images/*.tar; do
  [ -e "$archive" ] || continue
  if command -v podman >/dev/null 2>&1; then podman load -i "$archive"
  elif command -v docker >/dev/null 2>&1; then docker load -i "$archive"
  else echo "no container engine: copy $archive to your registry (skopeo copy oci-archive:...)"; fi
done
echo "done. Start the server:  ROOST_HOME=$ROOST_HOME $PREFIX/bin/roost serve"
echo "Kubernetes:  helm install roost $HERE/helm/roost-*.tgz -f <your values>"
"""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _place(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def write_bundle(
    dest: Path,
    spec: BundleSpec,
    *,
    engine: Engine | None = None,
    wheelhouse: Path | None = None,
    echo: Echo = print,
) -> Path:
    """Write the bundle archive ``dest`` (an uncompressed ``.tar``: wheels, models and
    images are compressed already). Returns ``dest``."""
    if spec.image and engine is None:
        raise ConfigError(
            "shipping an image needs a container engine", hint="install Podman or leave out --image"
        )
    for model in spec.models:
        if not model.is_file():
            raise ConfigError(
                f"no model file {model}", hint="roost model install, or pass the .gguf path"
            )
    top = dest.name.removesuffix(".tar")
    with tempfile.TemporaryDirectory(prefix="roost-bundle-", dir=dest.parent) as tmp:
        root = Path(tmp) / top
        stage_wheels(
            root / "wheels", extras=spec.extras, target=spec.target, cache=wheelhouse, echo=echo
        )
        (root / "models").mkdir()
        for model in spec.models:
            _place(model, root / "models" / model.name)
            manifest = model.with_suffix(".json")
            if manifest.is_file():
                _place(manifest, root / "models" / manifest.name)
        (root / "helm").mkdir()
        chart_archive(root / "helm")
        if spec.image and engine is not None:
            (root / "images").mkdir()
            safe = spec.image.rsplit("/", 1)[-1].replace(":", "-")
            echo(f"saving image {spec.image}")
            save_image(engine, spec.image, root / "images" / f"{safe}.oci.tar", echo)
        script = root / "install.sh"
        script.write_text(_install_script(spec), encoding="utf-8")
        script.chmod(0o755)
        echo("writing checksums")
        sums = [
            f"{_sha256(path)}  {path.relative_to(root)}"
            for path in sorted(root.rglob("*"))
            if path.is_file()
        ]
        (root / "SHA256SUMS").write_text("\n".join(sums) + "\n", encoding="utf-8")
        echo(f"writing {dest}")
        try:
            with tarfile.open(dest, "w") as tar:
                tar.add(root, arcname=top)
        except OSError as exc:
            dest.unlink(missing_ok=True)
            raise DeployError(f"cannot write {dest}: {exc}", hint="check free disk space") from exc
    return dest

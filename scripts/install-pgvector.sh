#!/usr/bin/env bash
# Builds pgvector for the local PostgreSQL from Debian's own source package (Debian 12
# ships no pgvector binary package; trixie's source builds against PostgreSQL 15) and
# installs it, so the pgvector tests run instead of skipping. Needs root and apt.
# Idempotent: does nothing when the extension is already installed.
set -euo pipefail
PG_CONFIG="${PG_CONFIG:-$(ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -1)}"
[ -x "$PG_CONFIG" ] || { echo "no PostgreSQL server here; pgvector tests will skip" >&2; exit 0; }
share="$("$PG_CONFIG" --sharedir)"
[ -f "$share/extension/vector.control" ] && exit 0
major="$("$PG_CONFIG" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sources" "$work/lists/partial"
cat > "$work/sources/trixie-src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt_opts=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$work/sources" -o "Dir::State::Lists=$work/lists")
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential "postgresql-server-dev-$major" >/dev/null
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only -qq pgvector 2>/dev/null)
tar -xzf "$work"/pgvector_*.orig.tar.gz -C "$work"
make -C "$work"/pgvector-*/ -s -j2 PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
make -C "$work"/pgvector-*/ -s install PG_CONFIG="$PG_CONFIG" >/dev/null
echo "pgvector installed for PostgreSQL $major"

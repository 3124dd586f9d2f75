#!/usr/bin/env bash
# Lint, type-check and run the whole test suite (real redis-server, aiortc peers, Chromium).
# WebRTC tests run inside a private network namespace when we are root on Linux.
# Extra arguments go to pytest, e.g. scripts/test.sh -k whip
set -uo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
[[ -x "$py" ]] || { echo "test.sh: run scripts/install.sh --test first" >&2; exit 1; }

"$py" -m ruff check server media tests scripts || exit 1
"$py" -m mypy || exit 1

cmd=("$py" -m pytest -ra -p no:cacheprovider "$@")
if [[ "$(id -u)" -eq 0 && "$(uname -s)" == "Linux" ]] && ip netns list >/dev/null 2>&1; then
    scripts/netns-run "${cmd[@]}"
else
    echo "test.sh: not root, running without a private network namespace" >&2
    "${cmd[@]}"
fi
status=$?
if [[ $status -eq 5 ]]; then
    echo "test.sh: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$status"

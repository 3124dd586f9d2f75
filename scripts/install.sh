#!/usr/bin/env bash
# Install everything Stallcast needs on Debian/Ubuntu: system packages and a virtualenv in .venv.
#   scripts/install.sh          server only (redis-server, Python packages)
#   scripts/install.sh --test   also the test tools and Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[[ "${1:-}" == "--test" ]] && with_tests=1

packages=(redis-server iproute2 python3-venv python3-pip)
(( with_tests )) && packages+=(chromium fonts-wqy-microhei)

sudo=""
[[ "$(id -u)" -ne 0 ]] && sudo="sudo"
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if (( ${#missing[@]} )); then
    echo "install.sh: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "install.sh: Python 3.11 or newer is needed" >&2; exit 1; }
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
if (( with_tests )); then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
else
    .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
echo "install.sh: ready (.venv/bin/stallcast)" >&2

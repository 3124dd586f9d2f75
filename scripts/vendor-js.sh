#!/usr/bin/env bash
# Refresh web_client/vendor/ from the npm registry at the pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."
HLS_VERSION=1.7.4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "hls.js@${HLS_VERSION}" --silent >/dev/null && tar xzf "hls.js-${HLS_VERSION}.tgz")
cp "$tmp/package/dist/hls.light.min.js" web_client/vendor/hls.light.min.js
cp "$tmp/package/LICENSE" web_client/vendor/hls.js.LICENSE
echo "vendored hls.js ${HLS_VERSION}" >&2

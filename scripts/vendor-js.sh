#!/usr/bin/env bash
# Refresh web_client/vendor/ from the npm registry at the pinned versions. Each package's
# tarball must match its pinned sha256 before anything is copied.
set -euo pipefail
cd "$(dirname "$0")/.."
HLS_VERSION=1.7.4
HLS_SHA256=e4ab3d5d13f7cca9ef241d098f39686e19fd451831ba07dc9943482fd5ff75c7
MSGPACK_VERSION=3.1.3
MSGPACK_SHA256=1fef5cd691fbe3ea2695ca12c8c01a5c2c50e7014486d32037e0242c1c24bd36
QR_VERSION=2.0.4
QR_SHA256=02e2e18a99a90b02dad940851f59b7c3c5fd1ab79cbdece8595cb06328878159
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# unpack NAME VERSION SHA256 DIR: fetch NAME@VERSION's tarball, check it, unpack into $tmp/DIR.
unpack() {
    local tgz
    tgz=$(cd "$tmp" && npm pack "$1@$2" --silent)
    echo "$3  $tmp/$tgz" | sha256sum --check --quiet
    mkdir -p "$tmp/$4"
    tar xzf "$tmp/$tgz" -C "$tmp/$4"
}

unpack hls.js "$HLS_VERSION" "$HLS_SHA256" hls
cp "$tmp/hls/package/dist/hls.light.min.js" web_client/vendor/hls.light.min.js
cp "$tmp/hls/package/LICENSE" web_client/vendor/hls.js.LICENSE
echo "vendored hls.js ${HLS_VERSION}" >&2

# @msgpack/msgpack's ES module build as published: dist.esm/index.mjs and the modules it
# imports (browsers load them as they are, no bundler). Type declarations and source maps
# stay behind.
unpack @msgpack/msgpack "$MSGPACK_VERSION" "$MSGPACK_SHA256" msgpack
rm -rf web_client/vendor/msgpack
mkdir -p web_client/vendor/msgpack
(cd "$tmp/msgpack/package/dist.esm" && find . -name '*.mjs' -exec cp --parents -t "$OLDPWD/web_client/vendor/msgpack" {} +)
cp "$tmp/msgpack/package/LICENSE" web_client/vendor/msgpack/LICENSE
echo "vendored @msgpack/msgpack ${MSGPACK_VERSION}" >&2

# qrcode-generator's ES module build (dist/qrcode.mjs, one file, no imports) for the watch
# page's share sheet. The package ships no LICENSE file; its licence (MIT, Kazuhiko Arase) is
# the header of that file, copied alongside.
unpack qrcode-generator "$QR_VERSION" "$QR_SHA256" qr
rm -rf web_client/vendor/qrcode-generator
mkdir -p web_client/vendor/qrcode-generator
cp "$tmp/qr/package/dist/qrcode.mjs" web_client/vendor/qrcode-generator/qrcode.mjs
awk 'NR > 1 && /^\/\/-+$/ { print; exit } { print }' "$tmp/qr/package/dist/qrcode.mjs" \
    > web_client/vendor/qrcode-generator/LICENSE
echo "vendored qrcode-generator ${QR_VERSION}" >&2

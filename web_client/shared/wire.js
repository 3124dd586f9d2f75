// The data channel's wire format: one MessagePack map per message, both ways (docs/events.md).
// The codec is the official @msgpack/msgpack build, vendored in vendor/msgpack/ and pinned
// in scripts/vendor-js.sh; this module only fixes the settings the pages use.
import { Decoder, Encoder } from "../vendor/msgpack/index.mjs";

// Keys whose value is undefined are left out, as JSON.stringify does, instead of sent as nil.
const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

/** One value as MessagePack bytes (a Uint8Array of its own). */
export function encode(value) {
  return encoder.encode(value);
}

/** The one value that fills `bytes` (ArrayBuffer or typed array); throws on anything else. */
export function decode(bytes) {
  return decoder.decode(bytes);
}

// A small MessagePack decoder: enough for the server's event maps and then some.
// Supports nil, booleans, all integer forms, float32/64, str, bin, arrays and maps.
// Extension types are refused. Spec: https://github.com/msgpack/msgpack/blob/master/spec.md

const utf8 = new TextDecoder("utf-8");

function toBytes(input) {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) {
    return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  }
  throw new TypeError("msgpack: expected an ArrayBuffer or a typed array");
}

/** Decode one MessagePack value that fills the whole input. */
export function decode(input) {
  const bytes = toBytes(input);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;

  function need(n) {
    if (pos + n > bytes.length) throw new RangeError("msgpack: truncated input");
  }
  function u8() { need(1); return view.getUint8(pos++); }
  function u16() { need(2); const v = view.getUint16(pos); pos += 2; return v; }
  function u32() { need(4); const v = view.getUint32(pos); pos += 4; return v; }
  function big(signed) {
    need(8);
    const v = signed ? view.getBigInt64(pos) : view.getBigUint64(pos);
    pos += 8;
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  }
  function str(n) {
    need(n);
    const s = utf8.decode(bytes.subarray(pos, pos + n));
    pos += n;
    return s;
  }
  function bin(n) {
    need(n);
    const b = bytes.slice(pos, pos + n);
    pos += n;
    return b;
  }
  function array(n) {
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = value();
    return out;
  }
  function map(n) {
    const out = {};
    for (let i = 0; i < n; i++) {
      const k = value();
      // defineProperty: a "__proto__" key stays an ordinary key.
      Object.defineProperty(out, typeof k === "string" ? k : String(k), {
        value: value(), enumerable: true, writable: true, configurable: true,
      });
    }
    return out;
  }

  function value() {
    const t = u8();
    if (t <= 0x7f) return t; // positive fixint
    if (t >= 0xe0) return t - 0x100; // negative fixint
    if (t >= 0x80 && t <= 0x8f) return map(t & 0x0f);
    if (t >= 0x90 && t <= 0x9f) return array(t & 0x0f);
    if (t >= 0xa0 && t <= 0xbf) return str(t & 0x1f);
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(u8());
      case 0xc5: return bin(u16());
      case 0xc6: return bin(u32());
      case 0xca: { need(4); const v = view.getFloat32(pos); pos += 4; return v; }
      case 0xcb: { need(8); const v = view.getFloat64(pos); pos += 8; return v; }
      case 0xcc: return u8();
      case 0xcd: return u16();
      case 0xce: return u32();
      case 0xcf: return big(false);
      case 0xd0: { need(1); const v = view.getInt8(pos); pos += 1; return v; }
      case 0xd1: { need(2); const v = view.getInt16(pos); pos += 2; return v; }
      case 0xd2: { need(4); const v = view.getInt32(pos); pos += 4; return v; }
      case 0xd3: return big(true);
      case 0xd9: return str(u8());
      case 0xda: return str(u16());
      case 0xdb: return str(u32());
      case 0xdc: return array(u16());
      case 0xdd: return array(u32());
      case 0xde: return map(u16());
      case 0xdf: return map(u32());
      default:
        throw new TypeError(`msgpack: unsupported type byte 0x${t.toString(16)}`);
    }
  }

  const result = value();
  if (pos !== bytes.length) throw new RangeError("msgpack: trailing bytes after the value");
  return result;
}

// A small MessagePack decoder: enough for the server's event maps and then some.
// Supports nil, booleans, all integer forms, float32/64, str, bin, arrays and maps, and an
// encoder (below) for the messages a viewer sends.
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

// -- encoder ---------------------------------------------------------------------------------
// Maps (plain objects and Map), arrays, strings, integers, floats, booleans, null (and
// undefined, as nil) and binary (Uint8Array / ArrayBuffer). Integers take the smallest form;
// other numbers are float64. Object keys whose value is undefined are left out, as in JSON.

const utf8enc = new TextEncoder();
const MAX_DEPTH = 64;

class Writer {
  constructor() {
    this.buf = new Uint8Array(256);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  room(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v) { this.room(1); this.view.setUint8(this.pos, v); this.pos += 1; }
  u16(v) { this.room(2); this.view.setUint16(this.pos, v); this.pos += 2; }
  u32(v) { this.room(4); this.view.setUint32(this.pos, v); this.pos += 4; }
  bytes(b) { this.room(b.length); this.buf.set(b, this.pos); this.pos += b.length; }

  int(v) {
    if (v >= 0) {
      if (v <= 0x7f) this.u8(v);
      else if (v <= 0xff) { this.u8(0xcc); this.u8(v); }
      else if (v <= 0xffff) { this.u8(0xcd); this.u16(v); }
      else if (v <= 0xffffffff) { this.u8(0xce); this.u32(v); }
      else { this.u8(0xcf); this.room(8); this.view.setBigUint64(this.pos, BigInt(v)); this.pos += 8; }
    } else if (v >= -32) {
      this.u8(v + 0x100);
    } else if (v >= -0x80) {
      this.u8(0xd0); this.room(1); this.view.setInt8(this.pos, v); this.pos += 1;
    } else if (v >= -0x8000) {
      this.u8(0xd1); this.room(2); this.view.setInt16(this.pos, v); this.pos += 2;
    } else if (v >= -0x80000000) {
      this.u8(0xd2); this.room(4); this.view.setInt32(this.pos, v); this.pos += 4;
    } else {
      this.u8(0xd3); this.room(8); this.view.setBigInt64(this.pos, BigInt(v)); this.pos += 8;
    }
  }

  bigint(v) {
    if (v >= -(2n ** 63n) && v < 0n) {
      this.u8(0xd3); this.room(8); this.view.setBigInt64(this.pos, v); this.pos += 8;
    } else if (v >= 0n && v < 2n ** 64n) {
      this.u8(0xcf); this.room(8); this.view.setBigUint64(this.pos, v); this.pos += 8;
    } else {
      throw new RangeError("msgpack: integer out of the 64-bit range");
    }
  }

  float(v) { this.u8(0xcb); this.room(8); this.view.setFloat64(this.pos, v); this.pos += 8; }

  str(s) {
    const b = utf8enc.encode(s);
    const n = b.length;
    if (n <= 31) this.u8(0xa0 | n);
    else if (n <= 0xff) { this.u8(0xd9); this.u8(n); }
    else if (n <= 0xffff) { this.u8(0xda); this.u16(n); }
    else { this.u8(0xdb); this.u32(n); }
    this.bytes(b);
  }

  bin(b) {
    const n = b.length;
    if (n <= 0xff) { this.u8(0xc4); this.u8(n); }
    else if (n <= 0xffff) { this.u8(0xc5); this.u16(n); }
    else { this.u8(0xc6); this.u32(n); }
    this.bytes(b);
  }

  sized(n, fix, t16, t32) {
    if (n <= 15) this.u8(fix | n);
    else if (n <= 0xffff) { this.u8(t16); this.u16(n); }
    else { this.u8(t32); this.u32(n); }
  }

  value(v, depth) {
    if (depth > MAX_DEPTH) throw new RangeError("msgpack: nested too deeply (a cycle?)");
    if (v === null || v === undefined) return this.u8(0xc0);
    switch (typeof v) {
      case "boolean": return this.u8(v ? 0xc3 : 0xc2);
      case "number": return Number.isSafeInteger(v) ? this.int(v) : this.float(v);
      case "bigint": return this.bigint(v);
      case "string": return this.str(v);
      case "object": break;
      default: throw new TypeError(`msgpack: cannot encode a ${typeof v}`);
    }
    if (v instanceof Uint8Array) return this.bin(v);
    if (v instanceof ArrayBuffer) return this.bin(new Uint8Array(v));
    if (ArrayBuffer.isView(v)) return this.bin(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    if (Array.isArray(v)) {
      this.sized(v.length, 0x90, 0xdc, 0xdd);
      for (const item of v) this.value(item, depth + 1);
      return undefined;
    }
    const entries = v instanceof Map ? [...v.entries()]
      : Object.entries(v).filter(([, item]) => item !== undefined);
    this.sized(entries.length, 0x80, 0xde, 0xdf);
    for (const [k, item] of entries) {
      this.value(k, depth + 1);
      this.value(item, depth + 1);
    }
    return undefined;
  }
}

/** Encode one value as MessagePack; returns a Uint8Array. */
export function encode(value) {
  const w = new Writer();
  w.value(value, 0);
  return w.buf.slice(0, w.pos);
}

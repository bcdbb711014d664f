/**
 * Set one metadata_props entry of an ONNX ModelProto without touching anything else: the top-level
 * fields are copied byte for byte, entries (field 14) with the same key are left out, and the new
 * entry is appended (protobuf fields may come in any order). The graph, and so the model's
 * outputs, stay identical; only the file's bytes (its sha256) change.
 */
import { varint } from "../src/fusion/learned/contract.ts";

function encVarint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function lenField(fieldNo: number, body: Uint8Array): Uint8Array {
  const head = [...encVarint(fieldNo * 8 + 2), ...encVarint(body.length)];
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

/** Key of a StringStringEntryProto body. */
function keyOf(body: Uint8Array): string {
  const pos = { p: 0 };
  while (pos.p < body.length) {
    const t = varint(body, pos);
    const l = varint(body, pos);
    if (t >> 3 === 1) return new TextDecoder().decode(body.subarray(pos.p, pos.p + l));
    pos.p += l;
  }
  return "";
}

/** `value` null: remove the key. */
export function setOnnxMetadata(buf: Uint8Array, key: string, value: string | null): Uint8Array {
  const parts: Uint8Array[] = [];
  const pos = { p: 0 };
  while (pos.p < buf.length) {
    const start = pos.p;
    const tag = varint(buf, pos);
    const wt = tag & 7;
    if (wt === 0) varint(buf, pos);
    else if (wt === 1) pos.p += 8;
    else if (wt === 5) pos.p += 4;
    else if (wt === 2) {
      const len = varint(buf, pos);
      const bodyStart = pos.p;
      pos.p += len;
      if (pos.p > buf.length) throw new Error("truncated field");
      if (tag >> 3 === 14 && keyOf(buf.subarray(bodyStart, pos.p)) === key) continue;
    } else throw new Error(`unsupported wire type ${wt}`);
    parts.push(buf.subarray(start, pos.p));
  }
  const enc = new TextEncoder();
  if (value !== null) {
    const entry = new Uint8Array([...lenField(1, enc.encode(key)), ...lenField(2, enc.encode(value))]);
    parts.push(lenField(14, entry));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

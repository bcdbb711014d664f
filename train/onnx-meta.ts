/**
 * Set one metadata_props entry of an ONNX ModelProto without touching anything else: the top-level
 * fields are copied byte for byte, entries (field 14) with the same key are left out, and the new
 * entry is appended (protobuf fields may come in any order). The graph, and so the model's
 * outputs, stay identical; only the file's bytes (its sha256) change.
 */
import { metadataEntry, ONNX_METADATA_FIELD, protoFields } from "../src/fusion/learned/contract.ts";

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

/** `value` null: remove the key. */
export function setOnnxMetadata(buf: Uint8Array, key: string, value: string | null): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of protoFields(buf)) {
    if (f.field === ONNX_METADATA_FIELD && f.body && metadataEntry(f.body).key === key) continue;
    parts.push(buf.subarray(f.start, f.end));
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

/**
 * PCD v0.7 reader (I/O-free: bytes in, columns out). The header is parsed, never assumed: FIELDS,
 * SIZE, TYPE and COUNT give each field's byte offset inside a record, WIDTH x HEIGHT (or POINTS)
 * the record count. `DATA binary` and `DATA ascii` are read; `binary_compressed` is refused with a
 * clear error. Bytes after the payload are accepted (the genuine nuScenes radar files carry ~3.7 KB
 * of trailing zeros; the devkit reads WIDTH points and ignores the rest).
 */

export class PcdError extends Error {
  readonly code = "E_PCD";
}

export interface PcdField {
  name: string;
  /** Bytes per element: 1, 2, 4 or 8. */
  size: number;
  /** F (float), I (signed), U (unsigned). */
  type: "F" | "I" | "U";
  count: number;
  /** Byte offset of the field's first element inside a record (binary data). */
  offset: number;
}

export interface PcdHeader {
  version: string;
  fields: PcdField[];
  /** Bytes per record. */
  recordBytes: number;
  points: number;
  data: "binary" | "ascii";
  /** Byte offset of the payload inside the file. */
  dataOffset: number;
}

export interface PcdCloud {
  header: PcdHeader;
  /** One column per field name (first element of fields with COUNT > 1), as float64. */
  columns: Record<string, Float64Array>;
  count: number;
  /** Bytes after the payload (accepted, reported). */
  trailingBytes: number;
}

const MAX_HEADER = 4096;

/** Parse the header; throws PcdError naming what is wrong. */
export function parsePcdHeader(bytes: Uint8Array): PcdHeader {
  const limit = Math.min(bytes.byteLength, MAX_HEADER);
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, limit));
  const lines: string[] = [];
  let pos = 0;
  let dataOffset = -1;
  while (pos < text.length) {
    const nl = text.indexOf("\n", pos);
    if (nl < 0) break;
    const line = text.slice(pos, nl).replace(/\r$/, "");
    pos = nl + 1;
    lines.push(line);
    if (line.startsWith("DATA")) {
      dataOffset = pos;
      break;
    }
  }
  if (dataOffset < 0) throw new PcdError(`no DATA line in the first ${limit} bytes (not a PCD file?)`);
  const kv = new Map<string, string[]>();
  for (const l of lines) {
    if (l.startsWith("#") || l.trim() === "") continue;
    const [k, ...v] = l.trim().split(/\s+/);
    kv.set(k!, v);
  }
  const need = (k: string) => {
    const v = kv.get(k);
    if (!v || v.length === 0) throw new PcdError(`header lacks ${k}`);
    return v;
  };
  const names = need("FIELDS");
  const sizes = need("SIZE").map(Number);
  const types = need("TYPE");
  const counts = kv.get("COUNT")?.map(Number) ?? names.map(() => 1);
  if (sizes.length !== names.length || types.length !== names.length || counts.length !== names.length)
    throw new PcdError(
      `FIELDS (${names.length}), SIZE (${sizes.length}), TYPE (${types.length}) and COUNT (${counts.length}) differ in length`,
    );
  const fields: PcdField[] = [];
  let off = 0;
  names.forEach((name, i) => {
    const size = sizes[i]!;
    const type = types[i]!;
    const count = counts[i]!;
    if (![1, 2, 4, 8].includes(size)) throw new PcdError(`field ${name}: SIZE ${size} not 1, 2, 4 or 8`);
    if (type !== "F" && type !== "I" && type !== "U")
      throw new PcdError(`field ${name}: TYPE ${type} unknown`);
    if (type === "F" && size !== 4 && size !== 8) throw new PcdError(`field ${name}: float of ${size} bytes`);
    if (!Number.isInteger(count) || count < 1) throw new PcdError(`field ${name}: COUNT ${count} invalid`);
    fields.push({ name, size, type, count, offset: off });
    off += size * count;
  });
  const width = Number(need("WIDTH")[0]);
  const height = Number(kv.get("HEIGHT")?.[0] ?? 1);
  const points = kv.has("POINTS") ? Number(kv.get("POINTS")![0]) : width * height;
  if (!Number.isInteger(points) || points < 0) throw new PcdError(`POINTS ${points} invalid`);
  if (points !== width * height)
    throw new PcdError(`POINTS ${points} differs from WIDTH x HEIGHT ${width} x ${height}`);
  const mode = need("DATA")[0];
  if (mode !== "binary" && mode !== "ascii")
    throw new PcdError(`DATA ${mode} not supported (binary and ascii are)`);
  return {
    version: kv.get("VERSION")?.[0] ?? "",
    fields,
    recordBytes: off,
    points,
    data: mode,
    dataOffset,
  };
}

function readScalar(dv: DataView, at: number, f: PcdField): number {
  if (f.type === "F") return f.size === 4 ? dv.getFloat32(at, true) : dv.getFloat64(at, true);
  if (f.type === "I") {
    if (f.size === 1) return dv.getInt8(at);
    if (f.size === 2) return dv.getInt16(at, true);
    if (f.size === 4) return dv.getInt32(at, true);
    return Number(dv.getBigInt64(at, true));
  }
  if (f.size === 1) return dv.getUint8(at);
  if (f.size === 2) return dv.getUint16(at, true);
  if (f.size === 4) return dv.getUint32(at, true);
  return Number(dv.getBigUint64(at, true));
}

/** Parse a whole PCD file: a truncated payload is an error, trailing bytes are not. */
export function parsePcd(bytes: Uint8Array): PcdCloud {
  const header = parsePcdHeader(bytes);
  const n = header.points;
  const columns: Record<string, Float64Array> = {};
  for (const f of header.fields) columns[f.name] = new Float64Array(n);
  if (header.data === "binary") {
    const need = header.recordBytes * n;
    const have = bytes.byteLength - header.dataOffset;
    if (have < need)
      throw new PcdError(
        `truncated: payload needs ${need} bytes (${n} x ${header.recordBytes}), file has ${have}`,
      );
    const dv = new DataView(bytes.buffer, bytes.byteOffset + header.dataOffset, need);
    for (const f of header.fields) {
      const col = columns[f.name]!;
      for (let i = 0, at = f.offset; i < n; i++, at += header.recordBytes) col[i] = readScalar(dv, at, f);
    }
    return { header, columns, count: n, trailingBytes: have - need };
  }
  const text = new TextDecoder("latin1").decode(bytes.subarray(header.dataOffset));
  const rows = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (rows.length < n) throw new PcdError(`truncated: ${rows.length} ascii rows, header says ${n}`);
  const perRow = header.fields.reduce((a, f) => a + f.count, 0);
  for (let i = 0; i < n; i++) {
    const v = rows[i]!.trim().split(/\s+/).map(Number);
    if (v.length < perRow) throw new PcdError(`ascii row ${i} has ${v.length} values, expected ${perRow}`);
    let k = 0;
    for (const f of header.fields) {
      columns[f.name]![i] = v[k]!;
      k += f.count;
    }
  }
  return { header, columns, count: n, trailingBytes: 0 };
}

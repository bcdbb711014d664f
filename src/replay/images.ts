/**
 * Image frames of a replayed log: the size from the file's own header (JPEG SOFn marker, PNG
 * IHDR), and a truncation check, without decoding pixels. I/O-free.
 */
import { ReplayFileError } from "./nuscenes.ts";

export interface ImageInfo {
  format: "jpeg" | "png";
  width: number;
  height: number;
}

/** Size of a JPEG from its SOF marker; throws ReplayFileError for a corrupt or truncated file. */
export function jpegInfo(b: Uint8Array): ImageInfo {
  if (b.byteLength < 4 || b[0] !== 0xff || b[1] !== 0xd8)
    throw new ReplayFileError("not a JPEG (no SOI marker)");
  // A complete JPEG ends with EOI (FF D9), possibly followed by padding.
  let end = b.byteLength - 1;
  while (end > 1 && b[end] === 0x00) end--;
  if (!(b[end - 1] === 0xff && b[end] === 0xd9)) throw new ReplayFileError("JPEG truncated (no EOI marker)");
  let i = 2;
  while (i + 9 < b.byteLength) {
    if (b[i] !== 0xff) throw new ReplayFileError(`JPEG corrupt: no marker at byte ${i}`);
    const m = b[i + 1]!;
    if (m === 0xff) {
      i++;
      continue;
    }
    const len = (b[i + 2]! << 8) | b[i + 3]!;
    // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      const height = (b[i + 5]! << 8) | b[i + 6]!;
      const width = (b[i + 7]! << 8) | b[i + 8]!;
      if (!width || !height) throw new ReplayFileError("JPEG with zero size");
      return { format: "jpeg", width, height };
    }
    i += 2 + len;
  }
  throw new ReplayFileError("JPEG corrupt: no SOF marker");
}

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Size of a PNG from IHDR; a file without its IEND chunk is truncated. */
export function pngInfo(b: Uint8Array): ImageInfo {
  if (b.byteLength < 33 || PNG_SIG.some((v, i) => b[i] !== v))
    throw new ReplayFileError("not a PNG (bad signature)");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const width = dv.getUint32(16);
  const height = dv.getUint32(20);
  if (!width || !height) throw new ReplayFileError("PNG with zero size");
  const tail = new TextDecoder("latin1").decode(b.subarray(Math.max(0, b.byteLength - 12)));
  if (!tail.includes("IEND")) throw new ReplayFileError("PNG truncated (no IEND chunk)");
  return { format: "png", width, height };
}

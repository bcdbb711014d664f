/**
 * JPEG encoding for simulated camera frames, on jpeg-js. jpeg-js's `encode()` builds a new encoder
 * (~50 ms of table set-up) for every image; its JPEGEncoder class, which can be reused (~5-10 ms
 * per 320x180 frame), is not exported. We load that class from the package's own encoder source
 * once; if that ever fails (a future jpeg-js layout), we fall back to the public `encode()`.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import jpeg from "jpeg-js";

interface Encoder {
  encode(img: { data: Uint8Array; width: number; height: number }, quality: number): Uint8Array | number[];
}

let cached: Encoder | null | undefined;

function reusableEncoder(quality: number): Encoder | null {
  if (cached !== undefined) return cached;
  try {
    const require = createRequire(import.meta.url);
    const src = readFileSync(require.resolve("jpeg-js/lib/encoder.js"), "utf8");
    const Ctor = new Function("module", "exports", "require", `${src}\nreturn JPEGEncoder;`)(
      { exports: {} },
      {},
      require,
    ) as new (
      q: number,
    ) => Encoder;
    cached = new Ctor(quality);
  } catch {
    cached = null;
  }
  return cached;
}

/** Encode RGBA pixels as a baseline JPEG. */
export function encodeJpeg(rgba: Uint8Array, width: number, height: number, quality: number): Uint8Array {
  const enc = reusableEncoder(quality);
  if (enc) return Uint8Array.from(enc.encode({ data: rgba, width, height }, quality));
  return new Uint8Array(jpeg.encode({ data: rgba, width, height }, quality).data);
}

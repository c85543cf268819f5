// tests/e2e/lib/png.mjs — big test images that a browser really decodes.
//
// The content script only offers an image of the page that has loaded (`naturalWidth > 0`), so
// a "generated image" must be a PNG the browser can decode, not random bytes behind a signature.
// pseudoRandomPng(size) is one: 8-bit RGB noise (which no compressor shrinks), stored in IDAT
// without compression, padded to exactly `size` bytes by a tEXt chunk. The same arguments give
// the same bytes on every run.
import { crc32, deflateSync } from "node:zlib";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** Deterministic noise: xorshift32 from `seed`, `n` bytes. */
function noise(n, seed) {
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, n);
}

/** A valid PNG of exactly `size` bytes (at least ~64 KiB), `width` pixels wide, of noise. */
export function pseudoRandomPng(size, { width = 1024, seed = 0x5e3a7e57 } = {}) {
  const row = 1 + 3 * width; // filter byte 0 ("none"), then RGB
  const keyword = Buffer.from("Comment\0", "latin1");
  for (let height = Math.floor(size / row); height > 0; height--) {
    const raw = noise(row * height, seed + height);
    for (let y = 0; y < height; y++) raw[y * row] = 0;
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, truecolour, deflate, adaptive filters, no interlace
    const parts = [SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw, { level: 0 })), chunk("IEND", Buffer.alloc(0))];
    const pad = size - parts.reduce((n, p) => n + p.length, 0) - 12 - keyword.length;
    if (pad < 0) continue;
    const text = Buffer.concat([keyword, Buffer.alloc(pad, "e2e padding ", "latin1")]);
    parts.splice(3, 0, chunk("tEXt", text));
    const png = Buffer.concat(parts);
    if (png.length !== size) throw new Error(`pseudoRandomPng: ${png.length} bytes, not ${size}`);
    return png;
  }
  throw new Error(`pseudoRandomPng: ${size} bytes is too small`);
}

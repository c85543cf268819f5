// scripts/make-icons.mjs — draws the extension's icons (extension/icons/icon{16,32,48,128}.png).
//
// Run by hand when the design changes (`node scripts/make-icons.mjs`) and commit the PNGs; the
// build only copies them. No image library: the pixels are computed here (4×4 supersampled for
// smooth edges) and written as an RGBA PNG with node:zlib.
//
// The design: a rounded square in Semantest blue (#0066CC) with a white ring around a white dot,
// and a small green (#00AA44) dot at the top right, the two colours of the indicator.
import { writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

const OUT = new URL("../extension/icons/", import.meta.url);
const BLUE = [0x00, 0x66, 0xcc];
const GREEN = [0x00, 0xaa, 0x44];
const WHITE = [0xff, 0xff, 0xff];

// The colour at (x, y) in a 1×1 square, or null where transparent.
function paint(x, y) {
    const r = 0.2; // corner radius
    const cx = Math.min(Math.max(x, r), 1 - r);
    const cy = Math.min(Math.max(y, r), 1 - r);
    if (Math.hypot(x - cx, y - cy) > r) return null;
    if (Math.hypot(x - 0.78, y - 0.22) < 0.12) return GREEN;
    const d = Math.hypot(x - 0.46, y - 0.54);
    if (d < 0.11 || (d > 0.22 && d < 0.32)) return WHITE;
    return BLUE;
}

function pixels(size) {
    const n = 4;
    const rgba = Buffer.alloc(size * size * 4);
    for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
            const sum = [0, 0, 0, 0];
            for (let sy = 0; sy < n; sy++) {
                for (let sx = 0; sx < n; sx++) {
                    const c = paint((x + (sx + 0.5) / n) / size, (y + (sy + 0.5) / n) / size);
                    if (c) {
                        sum[0] += c[0];
                        sum[1] += c[1];
                        sum[2] += c[2];
                        sum[3] += 1;
                    }
                }
            }
            const i = (y * size + x) * 4;
            if (sum[3] > 0) {
                rgba[i] = Math.round(sum[0] / sum[3]);
                rgba[i + 1] = Math.round(sum[1] / sum[3]);
                rgba[i + 2] = Math.round(sum[2] / sum[3]);
                rgba[i + 3] = Math.round((255 * sum[3]) / (n * n));
            }
        }
    }
    return rgba;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
});

function crc32(buf) {
    let c = 0xffffffff;
    for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "ascii");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
}

function png(size) {
    const rgba = pixels(size);
    const rows = Buffer.alloc(size * (size * 4 + 1)); // each row: filter byte 0, then RGBA
    for (let y = 0; y < size; y++) {
        rgba.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
    }
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(size, 0);
    ihdr.writeUInt32BE(size, 4);
    ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit, RGBA, deflate, no filter, no interlace
    return Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        chunk("IHDR", ihdr),
        chunk("IDAT", deflateSync(rows, { level: 9 })),
        chunk("IEND", Buffer.alloc(0)),
    ]);
}

for (const size of [16, 32, 48, 128]) {
    const file = new URL(`icon${size}.png`, OUT);
    writeFileSync(file, png(size));
    console.log(`wrote extension/icons/icon${size}.png`);
}

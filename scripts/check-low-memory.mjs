// scripts/check-low-memory.mjs — checks what wasm-opt's --low-memory-unused assumes of the
// .wasm: nothing lies in the first 1024 bytes of its memory.
//
// build.sh runs wasm-opt with --low-memory-unused (1.4 KB smaller), which assumes the module
// never reads or writes below address 1024. rustc's wasm32 layout gives that today: the stack
// starts at 1 MiB and grows down toward 0 (it reaches the first KiB only 1023 KiB deep), and
// the data segments lie above it. If a later toolchain put data lower, this check stops the
// build instead of shipping a module whose loads the optimizer rewrote on a false premise.
//
// Usage: node scripts/check-low-memory.mjs <module.wasm>   (exits 1, saying why, if not)
import { readFileSync } from "node:fs";

const LOW = 1024;
const file = process.argv[2];
if (!file) {
  console.error("usage: node scripts/check-low-memory.mjs <module.wasm>");
  process.exit(2);
}
const bytes = readFileSync(file);
let at = 8; // after the magic number and the version

function leb() {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return value;
  }
}

/** Skips a byte vector (its length, then its bytes). */
function skipBytes() {
  const length = leb(); // read first: `at += leb()` would add to the old `at`
  at += length;
}

/** A constant offset expression (`i32.const N end`), as a number, or null for anything else. */
function offset() {
  if (bytes[at++] !== 0x41) return null;
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = bytes[at++];
    value |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte >= 0x80);
  if (shift < 32 && byte & 0x40) value |= -1 << shift; // sign-extend
  return bytes[at++] === 0x0b ? value : null;
}

const fail = (why) => {
  console.error(`check-low-memory: ${file}: ${why}`);
  process.exit(1);
};

let segments = 0;
while (at < bytes.length) {
  const id = bytes[at++];
  const size = leb();
  const end = at + size;
  if (id === 11) {
    for (let n = leb(); n > 0; n--) {
      const flags = leb();
      if (flags === 1) {
        skipBytes(); // passive: placed by memory.init at run time, wherever the code says
      } else {
        if (flags === 2) leb(); // an explicit memory index
        const start = offset();
        if (start === null) fail(`data segment ${segments}: its offset is not a constant`);
        if (start < LOW) fail(`a data segment starts at ${start}, below ${LOW}`);
        skipBytes();
        segments++;
      }
    }
  }
  at = end;
}
console.log(`check-low-memory: ${segments} data segments, all at or above ${LOW}`);

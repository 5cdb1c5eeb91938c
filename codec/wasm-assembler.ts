/**
 * Just enough of the WebAssembly binary format (core spec, chapter 5) to
 * write small numeric kernels by hand in TypeScript, so the codec needs no
 * compiler toolchain and no binary in the repository. Functions take and
 * return i32 only; memory is imported as "m"."memory".
 */

export function uleb(value: number): number[] {
  const out: number[] = [];
  let rest = value >>> 0;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) byte |= 0x80;
    out.push(byte);
  } while (rest !== 0);
  return out;
}

export function sleb(value: number): number[] {
  const out: number[] = [];
  let rest = value | 0;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    if ((rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const I32 = 0x7f;

/** Instructions, as byte arrays to spread into a function body. */
export const op = {
  get: (local: number): number[] => [0x20, ...uleb(local)],
  set: (local: number): number[] => [0x21, ...uleb(local)],
  tee: (local: number): number[] => [0x22, ...uleb(local)],
  i32: (value: number): number[] => [0x41, ...sleb(value)],
  add: [0x6a], sub: [0x6b], mul: [0x6c], and: [0x71],
  eqz: [0x45], ltS: [0x48], ltU: [0x49],
  /** i32.load / i64.load / i64.store with natural alignment, offset 0. */
  load32: [0x28, 2, 0],
  load64: [0x29, 3, 0],
  store64: [0x37, 3, 0],
  xor64: [0x85],
  /** v128.load / v128.store (align 16 is a hint: unaligned addresses work), v128.xor. */
  load128: [0xfd, 0x00, 4, 0],
  store128: [0xfd, 0x0b, 4, 0],
  xor128: [0xfd, 0x51],
  block: [0x02, 0x40], loop: [0x03, 0x40], if: [0x04, 0x40], end: [0x0b],
  br: (depth: number): number[] => [0x0c, depth],
  brIf: (depth: number): number[] => [0x0d, depth],
};

export interface FunctionSpec {
  name: string;
  params: number;
  locals: number;
  body: number[];
}

function section(id: number, bytes: number[]): number[] {
  return [id, ...uleb(bytes.length), ...bytes];
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(text: string): number[] {
  return [...uleb(text.length), ...Buffer.from(text, 'utf8')];
}

/** A module importing one memory and exporting `functions` (i32 params, no results). */
export function assembleModule(functions: readonly FunctionSpec[]): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) => [0x60, ...vector(Array.from({ length: f.params }, () => [I32])), 0]);
  const imports = [[...name('m'), ...name('memory'), 0x02, 0x00, ...uleb(1)]];
  const declared = functions.map((_, index) => uleb(index));
  const exports = functions.map((f, index) => [...name(f.name), 0x00, ...uleb(index)]);
  const bodies = functions.map((f) => {
    const body = [...vector(f.locals > 0 ? [[...uleb(f.locals), I32]] : []), ...f.body, ...op.end];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(types)),
    ...section(2, vector(imports)),
    ...section(3, vector(declared)),
    ...section(7, vector(exports)),
    ...section(10, vector(bodies)),
  ]);
}

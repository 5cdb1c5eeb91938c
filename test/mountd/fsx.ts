/**
 * fsx-style randomized checker: random writes (inside the file, across its
 * end, past it leaving holes), truncates (shrink and grow), reads and
 * flushes on a target file, mirrored on a shadow; after every step the
 * sizes and the step's range are compared, and the whole file every
 * fullCheckEvery steps and at the end. A mismatch throws with the seed,
 * the step and the first differing offset, so any failure replays.
 *
 * Targets: a path (any filesystem: a local directory, a Mosaic mount), or
 * any object with the FsxFile shape (the unit tests run FileData with a
 * Buffer shadow).
 *
 *   node dist/test/mountd/fsx.js [--seed N] [--ops N] [--size-max BYTES] FILE SHADOW
 */
import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { randomInt, seededRandom } from './helpers/seeded-random.js';

export interface FsxFile {
  write(offset: number, data: Buffer): Promise<void>;
  read(offset: number, length: number): Promise<Buffer>;
  truncate(sizeBytes: number): Promise<void>;
  size(): Promise<number>;
  flush(): Promise<void>;
}

export interface FsxOptions {
  seed: number;
  ops: number;
  sizeMaxBytes: number;
  writeBytesMax: number;
  fullCheckEvery: number;
  /** Called after every step (fault injection between steps). */
  afterStep?: (step: number) => void | Promise<void>;
}

export interface FsxCounts {
  write: number;
  truncate: number;
  read: number;
  flush: number;
}

/** Runs the operations; throws an Error naming seed and step on the first difference. */
export async function runFsx(target: FsxFile, shadow: FsxFile, options: FsxOptions): Promise<FsxCounts> {
  const random = seededRandom(options.seed);
  const counts: FsxCounts = { write: 0, truncate: 0, read: 0, flush: 0 };
  const where = (step: number, what: string) => `fsx seed ${options.seed} step ${step} (${what})`;
  for (let step = 0; step < options.ops; step++) {
    const size = await shadow.size();
    const roll = random();
    let what: string;
    let checkFrom = 0;
    let checkBytes = 0;
    if (roll < 0.5) {
      // Writes start anywhere up to 1/8 past the end, so some leave holes.
      const offset = randomInt(random, Math.min(options.sizeMaxBytes - 1, size + (size >> 3) + 1));
      const bytes = 1 + randomInt(random, Math.min(options.writeBytesMax, options.sizeMaxBytes - offset));
      const data = Buffer.allocUnsafe(bytes);
      for (let i = 0; i < bytes; i++) data[i] = (step * 131 + i * 7 + (i >> 8)) & 0xff;
      what = `write ${offset}+${bytes}`;
      await target.write(offset, data);
      await shadow.write(offset, data);
      checkFrom = offset;
      checkBytes = bytes;
      counts.write++;
    } else if (roll < 0.65) {
      const to = random() < 0.5 ? randomInt(random, size + 1) : randomInt(random, options.sizeMaxBytes + 1);
      what = `truncate ${size} -> ${to}`;
      await target.truncate(to);
      await shadow.truncate(to);
      checkFrom = Math.max(0, Math.min(size, to) - 4096);
      checkBytes = Math.abs(to - size) + 8192;
      counts.truncate++;
    } else if (roll < 0.95) {
      checkFrom = randomInt(random, size + 1);
      checkBytes = 1 + randomInt(random, options.writeBytesMax);
      what = `read ${checkFrom}+${checkBytes}`;
      counts.read++;
    } else {
      what = 'flush';
      await target.flush();
      await shadow.flush();
      counts.flush++;
    }
    const targetSize = await target.size();
    const shadowSize = await shadow.size();
    if (targetSize !== shadowSize) throw new Error(`${where(step, what)}: size ${targetSize}, expected ${shadowSize}`);
    if (checkBytes > 0) await compare(target, shadow, checkFrom, checkBytes, where(step, what));
    if ((step + 1) % options.fullCheckEvery === 0 || step === options.ops - 1) {
      await compare(target, shadow, 0, shadowSize, where(step, `${what}, whole file`));
    }
    await options.afterStep?.(step);
  }
  return counts;
}

async function compare(target: FsxFile, shadow: FsxFile, offset: number, bytes: number, where: string): Promise<void> {
  const chunkBytes = 1024 * 1024;
  for (let at = offset; at < offset + bytes; at += chunkBytes) {
    const length = Math.min(chunkBytes, offset + bytes - at);
    const got = await target.read(at, length);
    const want = await shadow.read(at, length);
    if (!got.equals(want)) {
      let i = 0;
      while (i < Math.min(got.length, want.length) && got[i] === want[i]) i++;
      throw new Error(`${where}: bytes differ at offset ${at + i} (read ${got.length}, expected ${want.length} bytes; got ${got[i]}, expected ${want[i]})`);
    }
  }
}

/** A file reached through the ordinary file API (async: the mount may be served by this process). */
export class PathFile implements FsxFile {
  private readonly handle: FileHandle;

  private constructor(handle: FileHandle) {
    this.handle = handle;
  }

  static async open(path: string): Promise<PathFile> {
    return new PathFile(await open(path, 'w+'));
  }

  async write(offset: number, data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) done += (await this.handle.write(data, done, data.length - done, offset + done)).bytesWritten;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return out.subarray(0, done);
  }

  truncate(sizeBytes: number): Promise<void> {
    return this.handle.truncate(sizeBytes);
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  flush(): Promise<void> {
    return this.handle.sync();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** A shadow in memory, for unit tests. */
export class BufferFile implements FsxFile {
  private data = Buffer.alloc(0);

  async write(offset: number, bytes: Buffer): Promise<void> {
    if (offset + bytes.length > this.data.length) this.resize(offset + bytes.length);
    bytes.copy(this.data, offset);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    return Buffer.from(this.data.subarray(Math.min(offset, this.data.length), Math.min(offset + length, this.data.length)));
  }

  async truncate(sizeBytes: number): Promise<void> {
    this.resize(sizeBytes);
  }

  async size(): Promise<number> {
    return this.data.length;
  }

  async flush(): Promise<void> {}

  private resize(sizeBytes: number): void {
    const next = Buffer.alloc(sizeBytes);
    this.data.copy(next, 0, 0, Math.min(sizeBytes, this.data.length));
    this.data = next;
  }
}

async function main(argv: string[]): Promise<void> {
  const { Command } = await import('commander');
  const program = new Command('fsx')
    .description('randomized write/truncate/read checker against a shadow file')
    .option('--seed <n>', 'seed (printed; replays a run)', String(Date.now() % 1_000_000))
    .option('--ops <n>', 'operations', '2000')
    .option('--size-max <bytes>', 'largest file size', String(8 * 1024 * 1024))
    .option('--write-max <bytes>', 'largest write or read', String(256 * 1024))
    .option('--full-check-every <n>', 'compare the whole file every N steps', '50')
    .argument('<file>').argument('<shadow>');
  program.parse(argv);
  const opts = program.opts<{ seed: string; ops: string; sizeMax: string; writeMax: string; fullCheckEvery: string }>();
  const [file, shadowPath] = program.args as [string, string];
  const options: FsxOptions = {
    seed: Number(opts.seed), ops: Number(opts.ops), sizeMaxBytes: Number(opts.sizeMax),
    writeBytesMax: Number(opts.writeMax), fullCheckEvery: Number(opts.fullCheckEvery),
  };
  console.log(`fsx: seed ${options.seed}, ${options.ops} ops, size up to ${options.sizeMaxBytes} bytes on ${file}`);
  const target = await PathFile.open(file);
  const shadow = await PathFile.open(shadowPath);
  try {
    const counts = await runFsx(target, shadow, options);
    console.log(`fsx: ok (${counts.write} writes, ${counts.truncate} truncates, ${counts.read} reads, ${counts.flush} fsyncs)`);
  } finally {
    await target.close();
    await shadow.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv).catch((err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  });
}

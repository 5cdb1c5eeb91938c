/**
 * The block-device path without a kernel NBD driver (ENVIRONMENT.md):
 * `nbdfuse DIR/disk URI` exposes an NBD export as a file, `losetup
 * --direct-io=on` makes it a loop device (direct I/O, or reads are served
 * from the page cache and never reach the NBD server), then mkfs/mount.
 *
 * Every step registers its undo on a Teardown stack; run() undoes in
 * reverse order (umount, losetup -d, fusermount -u), each step tried even
 * when an earlier one failed, so a failing test leaves nothing mounted or
 * attached. Steps are bounded (polls with a limit, commands with timeouts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { must, run } from './cluster.js';

export class Teardown {
  private readonly steps: { name: string; undo: () => Promise<void> }[] = [];

  add(name: string, undo: () => Promise<void>): void {
    this.steps.push({ name, undo });
  }

  /** Undoes every step, newest first; returns the failures (also those of steps after a failed one). */
  async run(): Promise<string[]> {
    const failures: string[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (err) {
        failures.push(`${step.name}: ${(err as Error).message}`);
      }
    }
    return failures;
  }
}

async function pollUntil(check: () => boolean, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An export exposed as a file by nbdfuse (DIR/disk). */
export interface FuseFile {
  file: string;
  child: ChildProcess;
}

/** nbdfuse DIR/disk URI in the background; ready when its pid file is written. Undo: fusermount -u, then wait for its exit. */
export async function nbdfuse(teardown: Teardown, dir: string, uri: string): Promise<FuseFile> {
  mkdirSync(dir, { recursive: true });
  const pidFile = `${dir}.pid`;
  const file = join(dir, 'disk');
  const child = spawn('nbdfuse', ['-P', pidFile, file, uri], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  teardown.add(`fusermount -u ${dir}`, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const result = await run('fusermount', ['-u', dir], { timeoutMs: 30_000 });
      if (result.code !== 0) {
        // Still busy (a loop device holds it after a failure): detach lazily, then end nbdfuse.
        await run('fusermount', ['-u', '-z', dir], { timeoutMs: 30_000 });
        child.kill('SIGTERM');
      }
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
  await pollUntil(() => (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '') || child.exitCode !== null, 30_000, `nbdfuse ${uri}`);
  if (child.exitCode !== null) throw new Error(`nbdfuse ${uri} exited ${child.exitCode}: ${stderr.trim()}`);
  return { file, child };
}

/** losetup --direct-io=on -f --show FILE, checked to have direct I/O on. Undo: losetup -d. */
export async function loopDevice(teardown: Teardown, file: string): Promise<string> {
  const device = (await must('losetup', ['--direct-io=on', '-f', '--show', file])).trim();
  teardown.add(`losetup -d ${device}`, async () => { await must('losetup', ['-d', device]); });
  const dio = (await must('losetup', ['-n', '-l', '-O', 'DIO', device])).trim();
  if (dio !== '1') throw new Error(`${device} has no direct I/O (DIO ${dio}): reads would not reach the NBD server`);
  return device;
}

/** mount DEVICE DIR. Undo: umount (lazily when busy). */
export async function mountDevice(teardown: Teardown, device: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await must('mount', [device, dir]);
  teardown.add(`umount ${dir}`, async () => {
    const result = await run('umount', [dir], { timeoutMs: 60_000 });
    if (result.code !== 0) await must('umount', ['-l', dir]);
  });
}

/** The whole chain up to a loop device: nbdfuse, then losetup. */
export async function attach(teardown: Teardown, fuseDir: string, uri: string): Promise<string> {
  const fuse = await nbdfuse(teardown, fuseDir, uri);
  return loopDevice(teardown, fuse.file);
}

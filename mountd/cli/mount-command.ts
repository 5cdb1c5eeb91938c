/**
 * `mountd mount EXPORT MOUNTPOINT`: mounts an export over FUSE, in the
 * foreground (the default: logs on stderr, Ctrl-C unmounts) or as a
 * daemon (--daemon: a detached child mounts, the command returns once the
 * mount is up, or fails with the child's error). SIGINT/SIGTERM flush every
 * open file, commit sizes to exportd and unmount before exiting 0; a mount
 * unmounted from outside (fusermount -u) is flushed the same way and the
 * process exits 0. A second signal while that flush is under way exits 1
 * at once, leaving what is not flushed.
 */
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import type { Command } from 'commander';
import { resolveClientSettings } from '../../common/client-config.js';
import { MosaicError } from '../../common/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../../common/logging.js';
import { MiB, parseBytes, parseDurationMs } from '../../common/units.js';
import { mountMosaic } from '../fuse/filesystem.js';
import { parseFuseOptions } from './mount-options.js';

interface MountFlags {
  exportd?: string;
  secret?: string;
  config?: string;
  token?: string;
  daemon?: boolean;
  foreground?: boolean;
  o: string[];
  memoryMax: string;
  storageTimeout: string;
  metaTimeout: string;
  cacheTtl: string;
  readAhead: string;
  logFile?: string;
  logLevel: string;
}

/** Set in the daemon's child: it reports "mounted" or the error over IPC. */
const CHILD_ENV = 'MOSAIC_MOUNTD_DAEMON_CHILD';

export function registerMountCommand(program: Command): void {
  program.command('mount')
    .description('mount EXPORT of a Mosaic cluster at MOUNTPOINT over FUSE')
    .argument('<export>', 'export name')
    .argument('<mountpoint>', 'an existing directory')
    .option('--exportd <host:port>', 'exportd address (default: from the client config)')
    .option('--secret <secret>', 'cluster secret (default: from the client config)')
    .option('--config <file>', 'client config (client.conf); default $MOSAIC_CONFIG')
    .option('--token <token>', 'mount token, for exports that need one')
    .option('--foreground', 'stay in the foreground (the default)')
    .option('--daemon', 'detach once mounted')
    .option('-o <options>', 'mount options: attr_timeout=S (0), entry_timeout=S (1), negative_timeout=S (0), allow_other (default when root), noallow_other, max_write=BYTES (1048576), fsname=NAME (mosaic), debug', collect, [])
    .option('--memory-max <size>', 'data memory of the mount (write-back, read-ahead)', '256MiB')
    .option('--storage-timeout <duration>', 'deadline of one storage node call; a node past it is skipped', '4s')
    .option('--meta-timeout <duration>', 'deadline of one exportd call', '30s')
    .option('--cache-ttl <duration>', 'how long this mount trusts cached names and attributes', '1s')
    .option('--read-ahead <stripes>', 'stripes fetched ahead of a sequential reader', '32')
    .option('--log-file <file>', 'also log to this file (a daemon logs only there)')
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')}`, 'info')
    .action(async (exportName: string, mountpoint: string, flags: MountFlags) => {
      try {
        if (flags.daemon && process.env[CHILD_ENV] === undefined) {
          await runDaemonParent(flags);
          return;
        }
        await runForeground(exportName, mountpoint, flags);
      } catch (err) {
        const error = MosaicError.from(err);
        process.send?.({ error: error.message });
        console.error(`mountd mount: ${error.message}`);
        process.exit(1);
      }
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function runForeground(exportName: string, mountpoint: string, flags: MountFlags): Promise<void> {
  const level = flags.logLevel as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw MosaicError.invalid(`--log-level ${flags.logLevel}: expected one of ${LOG_LEVELS.join(', ')}`);
  const settings = resolveClientSettings({ exportd: flags.exportd, secret: flags.secret, config: flags.config, token: flags.token });
  const cacheTtlMs = parseDurationMs(flags.cacheTtl);
  const readAheadStripes = Number(flags.readAhead);
  if (!Number.isSafeInteger(readAheadStripes) || readAheadStripes < 0 || readAheadStripes > 256) throw MosaicError.invalid(`--read-ahead ${flags.readAhead}: expected 0..256 stripes`);
  const memoryBytesMax = parseBytes(flags.memoryMax);
  if (memoryBytesMax < 16 * MiB) throw MosaicError.invalid(`--memory-max ${flags.memoryMax}: at least 16MiB (a few stripes in flight)`);
  const logger = createLogger('mountd', { level, format: 'text', file: flags.logFile });
  const mounted = await mountMosaic({
    exportd: settings.exportd, secret: settings.secret, exportName, token: settings.token, mountpoint,
    fuse: parseFuseOptions(flags.o, process.getuid?.() === 0),
    memoryBytesMax,
    metaTimeoutMs: parseDurationMs(flags.metaTimeout),
    storageTimeoutMs: parseDurationMs(flags.storageTimeout),
    nodeDownForMs: 5_000,
    entryCacheMs: cacheTtlMs,
    attrCacheMs: cacheTtlMs,
    readAheadStripes,
    // Stripe flushes in flight per file: 16 keeps the n storage nodes busy
    // while the next stripes fill (measured here: ~40% more sequential write
    // than 4); their memory still comes from the mount's budget.
    flushStripesMax: 16,
    logger,
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn(`${signal} again: exiting before the flush finished`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal}: flushing open files and unmounting ${mounted.mountpoint}`);
    mounted.unmount().then(() => process.exit(0), (err: unknown) => {
      logger.error(`unmount failed: ${(err as Error).message}`);
      process.exit(1);
    });
  };
  mounted.lost.then(() => process.exit(0), (err: unknown) => {
    logger.error(`closing after the unmount from outside failed: ${(err as Error).message}`);
    process.exit(1);
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (process.send) {
    process.send({ mounted: mounted.mountpoint, pid: process.pid });
    process.disconnect?.();
  }
}

/** Starts the detached child and waits for it to say it mounted (or why not). */
async function runDaemonParent(flags: MountFlags): Promise<void> {
  const logFd = flags.logFile ? openSync(flags.logFile, 'a') : 'ignore';
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'ipc'],
    env: { ...process.env, [CHILD_ENV]: '1' },
  });
  const message = await new Promise<{ mounted?: string; pid?: number; error?: string }>((resolve) => {
    child.once('message', (m) => resolve(m as { mounted?: string; error?: string }));
    child.once('exit', (code) => resolve({ error: `the mount process exited with code ${code ?? 'null'} before mounting${flags.logFile ? `; see ${flags.logFile}` : ''}` }));
  });
  if (message.error !== undefined) throw new MosaicError('EIO', message.error);
  console.log(`mounted at ${message.mounted} (mountd pid ${message.pid})`);
  child.unref();
  child.disconnect?.();
}

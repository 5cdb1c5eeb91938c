/**
 * `mountd nbdserver` and `mountd nbd`: the NBD commands of the mountd CLI,
 * registered on its commander program by registerNbdCommands().
 *
 *  nbdserver: serves every regular file under --dir of an export as an NBD
 *    export named by its relative path, on TCP (--listen) or a Unix socket
 *    (--socket), in the foreground. SIGINT/SIGTERM: stop accepting, answer
 *    the requests already read, flush every file durably, commit sizes,
 *    release the files on exportd, exit 0.
 *  nbd FILE [/dev/nbdX]: attaches one file to the kernel NBD driver through
 *    an internal server on a Unix socket and Debian's nbd-client; the first
 *    free device when none is named; in the foreground; SIGTERM/SIGINT
 *    disconnect the device (nbd-client -d), then flush and exit. Without the
 *    kernel driver it fails at once (exit 2) saying so.
 *
 * Exit codes: 0 after a clean stop, 1 when serving failed, 2 for usage
 * errors and a missing kernel driver.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { resolveClientSettings } from '../../common/client-config.js';
import { MosaicError } from '../../common/errors.js';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from '../../common/logging.js';
import { MiB, parseBytes, parseDurationMs } from '../../common/units.js';
import { ClusterSession } from './cluster-session.js';
import { MosaicCatalog } from './mosaic-catalog.js';
import { NbdServer, type ListenAddress } from './server.js';

interface CommonFlags {
  config?: string;
  exportd?: string;
  secret?: string;
  export?: string;
  token?: string;
  readOnly?: boolean;
  memoryMax: string;
  flushStripesMax: string;
  readAhead: string;
  storageTimeout: string;
  metaTimeout: string;
  logLevel: string;
  logFile?: string;
}

interface ServerFlags extends CommonFlags {
  listen: string;
  socket?: string;
  dir: string;
}

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

function commonOptions(command: Command): Command {
  return command
    .option('--config <file>', 'client config (client.conf); default $MOSAIC_CONFIG')
    .option('--exportd <host:port>', 'exportd address (default: from the client config)')
    .option('--secret <secret>', 'cluster secret (default: from the client config)')
    .option('--export <name>', 'export holding the files (default: from the client config)')
    .option('--token <token>', 'mount token, for exports that need one')
    .option('--read-only', 'serve read-only: writes, trims and zeroing get EPERM')
    .option('--memory-max <size>', 'data memory for write-back buffers and encoding', '256MiB')
    .option('--flush-stripes-max <n>', 'stripe flushes in flight per served file (1..256)', '16')
    .option('--read-ahead <stripes>', 'stripes fetched ahead of each sequential reader of a served file (0..256)', '32')
    .option('--storage-timeout <duration>', 'deadline of one storage node call; a node past it is skipped', '4s')
    .option('--meta-timeout <duration>', 'deadline of one exportd call', '30s')
    .option('--log-file <file>', 'also log to this file')
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')}`, 'info');
}

export function registerNbdCommands(program: Command): void {
  commonOptions(program.command('nbdserver')
    .description('serve the regular files of an export as NBD exports (fixed newstyle, TCP 10809)'))
    .option('--listen <host:port>', 'TCP address to listen on', '127.0.0.1:10809')
    .option('--socket <path>', 'listen on this Unix socket instead of TCP')
    .option('--dir <path>', 'serve the files under this directory of the export, named by their relative paths', '/')
    .action(async (flags: ServerFlags) => {
      await runOrExit('nbdserver', () => runServer(flags));
    });

  commonOptions(program.command('nbd')
    .description('attach FILE of an export to a kernel NBD device (/dev/nbdX), in the foreground')
    .argument('<file>', 'path of the file in the export')
    .argument('[device]', 'the NBD device (default: the first free /dev/nbdN)'))
    .action(async (file: string, device: string | undefined, flags: CommonFlags) => {
      await runOrExit('nbd', () => runAttach(file, device, flags));
    });
}

async function runOrExit(command: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    const error = MosaicError.from(err);
    console.error(`mountd ${command}: ${error.message}`);
    process.exit(error.code === 'EINVAL' || error.code === 'ENODEV' ? EXIT_USAGE : EXIT_FAILED);
  }
}

interface Served {
  address: ListenAddress;
  stop: () => Promise<void>;
  logger: Logger;
}

/** Connects to the cluster and starts serving; stop() ends it cleanly (requests answered, files flushed). */
async function serve(flags: CommonFlags, dir: string, single: string | undefined, address: ListenAddress): Promise<Served> {
  const level = flags.logLevel as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw MosaicError.invalid(`--log-level ${flags.logLevel}: expected one of ${LOG_LEVELS.join(', ')}`);
  const memoryBytesMax = parseBytes(flags.memoryMax);
  if (memoryBytesMax < 16 * MiB) throw MosaicError.invalid(`--memory-max ${flags.memoryMax}: at least 16MiB`);
  const flushStripesMax = Number(flags.flushStripesMax);
  if (!Number.isInteger(flushStripesMax) || flushStripesMax < 1 || flushStripesMax > 256) throw MosaicError.invalid(`--flush-stripes-max ${flags.flushStripesMax}: expected 1..256`);
  const readAheadStripes = Number(flags.readAhead);
  if (!Number.isSafeInteger(readAheadStripes) || readAheadStripes < 0 || readAheadStripes > 256) throw MosaicError.invalid(`--read-ahead ${flags.readAhead}: expected 0..256 stripes`);
  const settings = resolveClientSettings({ exportd: flags.exportd, secret: flags.secret, config: flags.config, token: flags.token });
  const exportName = flags.export ?? settings.export;
  if (exportName === undefined) throw MosaicError.invalid('--export: name the export (or put "export" in the client config)');
  const logger = createLogger('mountd-nbd', { level, format: 'text', file: flags.logFile });
  const session = await ClusterSession.open({
    exportd: settings.exportd, secret: settings.secret, exportName, token: settings.token, logger, memoryBytesMax,
    metaTimeoutMs: parseDurationMs(flags.metaTimeout), storageTimeoutMs: parseDurationMs(flags.storageTimeout), nodeDownForMs: 5_000,
  });
  const readOnly = flags.readOnly === true;
  const catalog = new MosaicCatalog(session, { dir, single, readOnly, flushStripesMax, readAheadStripes });
  const server = new NbdServer({ catalog, readOnly, logger, payloads: session.buffers });
  let bound: ListenAddress;
  try {
    bound = await server.listen(address);
  } catch (err) {
    await session.close();
    throw new MosaicError('EBUSY', `cannot listen on ${describe(address)}: ${(err as Error).message}`);
  }
  logger.info(`serving export ${exportName}${dir === '/' ? '' : ` directory ${dir}`}${readOnly || session.exportReadOnly ? ' read-only' : ''} over NBD on ${describe(bound)}`);
  let stopping: Promise<void> | undefined;
  return {
    address: bound,
    logger,
    stop: () => stopping ??= (async () => {
      await server.close();
      await catalog.closeAll();
      await session.close();
    })(),
  };
}

/** HOST:PORT to listen on; port 0 picks a free one (the log line says which). */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw MosaicError.invalid(`--listen ${JSON.stringify(text)}: expected HOST:PORT`);
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

function describe(address: ListenAddress): string {
  return 'path' in address ? address.path : `${address.host}:${address.port}`;
}

async function runServer(flags: ServerFlags): Promise<void> {
  let address: ListenAddress;
  if (flags.socket !== undefined) address = { path: flags.socket };
  else {
    address = parseListen(flags.listen);
  }
  const served = await serve(flags, flags.dir, undefined, address);
  onSignals(served.logger, async () => {
    await served.stop();
    if ('path' in served.address) rmSync(served.address.path, { force: true });
  });
}

/** SIGINT/SIGTERM run `stop` once, then exit 0 (1 if it failed). */
function onSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: finishing requests, flushing, disconnecting`);
    stop().then(() => process.exit(0), (err: unknown) => {
      logger.error(`stopping failed: ${(err as Error).message}`);
      process.exit(EXIT_FAILED);
    });
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

/** The message `mountd nbd` gives where the kernel has no NBD driver. */
export const NO_NBD_DRIVER_MESSAGE = 'the kernel NBD driver is not loaded (no /sys/module/nbd and no /dev/nbd0). '
  + 'Load it with `modprobe nbd` (as root; the module ships with the distribution kernel, e.g. Debian\'s linux-image), '
  + 'or serve the file with `mountd nbdserver` and use a userspace client (nbdfuse, qemu-nbd, qemu) instead';

export function kernelNbdPresent(): boolean {
  return existsSync('/sys/module/nbd') || existsSync('/dev/nbd0');
}

/** The first /dev/nbdN with no connection (the kernel exposes /sys/block/nbdN/pid while one is attached). */
function firstFreeDevice(): string {
  const names = readdirSync('/sys/block').filter((n) => /^nbd\d+$/.test(n)).sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  for (const name of names) if (!existsSync(`/sys/block/${name}/pid`)) return `/dev/${name}`;
  throw new MosaicError('EBUSY', `every NBD device is in use (${names.length} of them); load the module with more (modprobe nbd nbds_max=N)`);
}

async function runAttach(file: string, device: string | undefined, flags: CommonFlags): Promise<void> {
  if (!kernelNbdPresent()) throw new MosaicError('ENODEV', NO_NBD_DRIVER_MESSAGE);
  const name = file.replace(/^\/+/, '');
  if (name === '') throw MosaicError.invalid(`FILE ${JSON.stringify(file)}: name a file of the export`);
  const target = device ?? firstFreeDevice();
  if (!/^\/dev\/nbd\d+$/.test(target)) throw MosaicError.invalid(`device ${target}: expected /dev/nbdN`);
  const socketDir = mkdtempSync(join(tmpdir(), 'mosaic-nbd-'));
  const socketPath = join(socketDir, 'nbd.sock');
  const served = await serve(flags, '/', name, { path: socketPath });
  const cleanup = async (): Promise<void> => {
    await run('nbd-client', ['-d', target]).catch((err: unknown) => served.logger.warn(`nbd-client -d ${target}: ${(err as Error).message}`));
    await served.stop();
    rmSync(socketDir, { recursive: true, force: true });
  };
  try {
    await run('nbd-client', ['-N', name, '-u', socketPath, target, '-b', '4096']);
  } catch (err) {
    await served.stop();
    rmSync(socketDir, { recursive: true, force: true });
    throw new MosaicError('EIO', `nbd-client could not attach ${target}: ${(err as Error).message}`);
  }
  served.logger.info(`${file} attached to ${target}; SIGTERM or Ctrl-C detaches it`);
  onSignals(served.logger, cleanup);
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

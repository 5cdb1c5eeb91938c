#!/usr/bin/env node
/**
 * `storaged`: the storage node's command line. Options are the config keys
 * (file first, flags over it). SIGTERM/SIGINT stop it cleanly: no new
 * requests, in-flight ones finished, every open file synced and closed,
 * exit 0; a second signal exits at once (1). A bad config or sid directory
 * prints one line and exits 1.
 */
import { Command } from 'commander';
import { describeConfig, loadConfig } from '../common/config.js';
import { MosaicError } from '../common/errors.js';
import { createLogger, exitAfterLogs } from '../common/logging.js';
import { checkStoragedConfig, STORAGED_CONFIG_SPEC, type StoragedConfig } from './config.js';
import { STORAGED_VERSION, StoragedDaemon } from './daemon.js';

/** "--sid 3:/srv/sid3" flags, collected into the sids list. */
function collectSid(value: string, previous: Array<{ sid: string; path: string }> = []): Array<{ sid: string; path: string }> {
  const match = /^(\d+):(.+)$/.exec(value);
  if (!match) throw MosaicError.invalid(`--sid: expected SID:PATH, got "${value}"`);
  return [...previous, { sid: match[1]!, path: match[2]! }];
}

const program = new Command('storaged')
  .description('Mosaic storage node: serves projections of file stripes from one or more sids')
  .version(STORAGED_VERSION)
  .option('-c, --config <file>', 'YAML config file (keys below)')
  .option('--listen <host:port>', 'RPC address')
  .option('--advertise <host:port>', 'address clients should use (default: listen)')
  .option('--http <host:port>', 'HTTP address of /health and /metrics')
  .option('--secret <secret>', 'cluster secret')
  .option('--secret-file <file>', 'file holding the cluster secret')
  .option('--sid <sid:path>', 'serve this sid from this directory (repeatable; replaces the file\'s sids)', collectSid)
  .option('--exportd <host:port>', 'exportd address, for heartbeats')
  .option('--heartbeat-interval <duration>', 'time between heartbeats (e.g. 2s)')
  .option('--open-files-max <n>', 'bins files held open at most')
  .option('--scrub-bytes-per-second <size>', 'scrub read rate (e.g. 64MiB, 0 = unthrottled)')
  .option('--rpc-inflight-max <n>', 'requests in flight per connection')
  .option('--drain-timeout <duration>', 'on SIGTERM, how long in-flight requests may take')
  .option('--log-level <level>', 'error, warn, info or debug')
  .option('--log-format <format>', 'text or json')
  .option('--log-file <file>', 'also append the log to this file')
  .addHelpText('after', `\nConfig file keys (flags override them):\n${describeConfig(STORAGED_CONFIG_SPEC)}\n\nExample storaged.yml:\n  listen: 127.0.0.1:7100\n  http: 127.0.0.1:7180\n  secretFile: /etc/mosaic/secret\n  sids:\n    - { sid: 1, path: /srv/mosaic/sid1 }\n    - { sid: 2, path: /srv/mosaic/sid2 }\n  exportd: 127.0.0.1:7000\n\n  storaged --config storaged.yml\n  storaged --listen 127.0.0.1:7101 --http 127.0.0.1:7181 --secret-file ./secret --sid 1:/srv/sid1`)
  .action(async (flags: Record<string, unknown>) => {
    const config = loadConfig<StoragedConfig>(STORAGED_CONFIG_SPEC, flags.config as string | undefined, {
      listen: flags.listen,
      advertise: flags.advertise,
      http: flags.http,
      secret: flags.secret,
      secretFile: flags.secretFile,
      sids: flags.sid,
      exportd: flags.exportd,
      heartbeatInterval: flags.heartbeatInterval,
      openFilesMax: flags.openFilesMax,
      scrubBytesPerSecond: flags.scrubBytesPerSecond,
      rpcInflightMax: flags.rpcInflightMax,
      drainTimeout: flags.drainTimeout,
      logLevel: flags.logLevel,
      logFormat: flags.logFormat,
      logFile: flags.logFile,
    });
    const secret = checkStoragedConfig(config);
    const logger = createLogger('storaged', { level: config.logLevel, format: config.logFormat, file: config.logFile || undefined });
    const daemon = new StoragedDaemon({ config, secret, logger });
    let signalled = false;
    const stop = (signal: string) => {
      if (signalled) process.exit(1);
      signalled = true;
      logger.info(`${signal}: shutting down`);
      daemon.stop().then(() => exitAfterLogs(logger, 0), (err: unknown) => {
        logger.error(`shutdown failed: ${(err as Error).message}`);
        exitAfterLogs(logger, 1);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    await daemon.start();
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`storaged: ${MosaicError.from(err).message}\n`);
  process.exit(1);
});

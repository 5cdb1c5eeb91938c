#!/usr/bin/env node
/**
 * `exportd`: the metadata service's command line. Options are the config
 * keys (file first, flags over it); SIGTERM/SIGINT stop it cleanly (no new
 * calls, calls in flight finished, DB closed); a second signal exits at once.
 * Errors at startup print one line and exit 1.
 */
import { Command } from 'commander';
import { describeConfig } from '../common/config.js';
import { MosaicError } from '../common/errors.js';
import { createLogger, exitAfterLogs } from '../common/logging.js';
import { EXPORTD_CONFIG_SPEC, loadExportdConfig } from './config.js';
import { EXPORTD_VERSION, startExportd } from './daemon.js';

const program = new Command('exportd')
  .description('Mosaic metadata service: namespace, cluster map, placement, admin RPC')
  .version(EXPORTD_VERSION)
  .option('-c, --config <file>', 'YAML config file (keys below)')
  .option('--listen <host:port>', 'RPC address')
  .option('--http <host:port>', 'HTTP address of /health and /metrics')
  .option('--secret <secret>', 'cluster secret')
  .option('--secret-file <file>', 'file holding the cluster secret')
  .option('--data-dir <dir>', 'metadata directory')
  .option('--node-down-after <duration>', 'mark a silent storage node down after this long (e.g. 10s)')
  .option('--log-level <level>', 'error, warn, info or debug')
  .option('--log-format <format>', 'text or json')
  .option('--log-file <file>', 'also append the log to this file')
  .addHelpText('after', `\nConfig file keys (flags override them):\n${describeConfig(EXPORTD_CONFIG_SPEC)}\n\nExample:\n  exportd --config /etc/mosaic/exportd.yml\n  exportd --listen 127.0.0.1:7000 --secret-file ./secret --data-dir /var/lib/mosaic/exportd`)
  .action(async (flags: Record<string, string | undefined>) => {
    const config = loadExportdConfig(flags.config, {
      listen: flags.listen,
      http: flags.http,
      secret: flags.secret,
      secretFile: flags.secretFile,
      dataDir: flags.dataDir,
      nodeDownAfterMs: flags.nodeDownAfter,
      logLevel: flags.logLevel,
      logFormat: flags.logFormat,
      logFile: flags.logFile,
    });
    const logger = createLogger('exportd', { level: config.logLevel, format: config.logFormat, file: config.logFile || undefined });
    const running = await startExportd(config, logger);
    let signalled = false;
    const stop = (signal: string) => {
      if (signalled) process.exit(1);
      signalled = true;
      logger.info(`${signal}: shutting down`);
      running.close().then(() => exitAfterLogs(logger, 0), (err: unknown) => {
        logger.error(`shutdown failed: ${(err as Error).message}`);
        exitAfterLogs(logger, 1);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`exportd: ${MosaicError.from(err).message}\n`);
  process.exit(1);
});

/**
 * exportd's configuration keys, their defaults and meaning: one spec read by
 * the config loader (validation naming the bad key), `exportd --help` and
 * the README. Durations and sizes take units ("10s", "256MiB").
 */
import { readFileSync } from 'node:fs';
import { loadConfig, type ConfigSpec } from '../common/config.js';
import { MosaicError } from '../common/errors.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../common/logging.js';

/** ext4 commits its journal every 5 s: a machine crash never loses more acknowledged namespace changes than that. */
const SYNC_DELAY_MS_MAX = 5_000;

export const EXPORTD_CONFIG_SPEC: ConfigSpec = {
  listen: { type: 'address', default: '127.0.0.1:7000', description: 'RPC address: storaged heartbeats, clients and the mosaic CLI connect here' },
  http: { type: 'address', default: '127.0.0.1:7080', description: 'HTTP address of GET /health (JSON) and /metrics (Prometheus)' },
  secret: { type: 'string', default: '', description: 'cluster secret shared by every daemon and client (or secretFile)' },
  secretFile: { type: 'string', default: '', description: 'file whose first line is the cluster secret (keeps it out of ps and the config)' },
  dataDir: { type: 'string', default: './exportd-data', description: 'directory of the metadata database (namespace and cluster map)' },
  nodeDownAfterMs: { type: 'durationMs', default: '10s', description: 'a storage node silent this long is marked down (storaged sends a heartbeat every 2s)' },
  minFreeBytes: { type: 'bytes', default: '256MiB', description: 'a sid with less free space takes no new files' },
  repairBytesPerSecondMax: { type: 'bytes', default: '64MiB', description: 'repair and rebuild bandwidth: projection bytes read plus written per second (0 = unlimited); keeps client I/O going during a rebuild' },
  repairFilesMax: { type: 'integer', default: 4, min: 1, max: 256, description: 'files the repair worker repairs at once' },
  nodeLostAfterMs: { type: 'durationMs', default: 0, description: 'a member node down this long is removed and its data rebuilt elsewhere, as by "mosaic node remove" (0 = never automatically)' },
  scrubIntervalMs: { type: 'durationMs', default: '168h', description: 'time between two scrubs of every storage node (CRC check of every slot; corrupt ones are repaired); 0 = only on demand ("mosaic scrub")' },
  unreferencedGraceMs: { type: 'durationMs', default: '1h', description: 'scrub deletes a bins file on a storage node that no file references once untouched this long (a rebalance, rebuild or unsynced create may be writing a younger one)' },
  sync: { type: 'boolean', default: true, description: 'acknowledge metadata changes only once synced to disk (false: faster, a machine crash may lose acknowledged changes)' },
  syncDelayMs: { type: 'durationMs', default: '100ms', description: 'creates, removals, renames and links are acknowledged once written (safe from an exportd crash) and synced within this time, or at once by a client fsync of the file or its directory; 0 = sync each before acknowledging it' },
  logLevel: { type: 'enum', values: LOG_LEVELS, default: 'info', description: 'error, warn, info or debug' },
  logFormat: { type: 'enum', values: LOG_FORMATS, default: 'text', description: 'text (one readable line per event) or json' },
  logFile: { type: 'string', default: '', description: 'also append the log to this file' },
};

export interface ExportdConfig {
  listen: string;
  http: string;
  secret: string;
  secretFile: string;
  dataDir: string;
  nodeDownAfterMs: number;
  minFreeBytes: number;
  repairBytesPerSecondMax: number;
  repairFilesMax: number;
  nodeLostAfterMs: number;
  scrubIntervalMs: number;
  unreferencedGraceMs: number;
  sync: boolean;
  syncDelayMs: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  logFile: string;
}

/** Loads and validates; the secret comes from `secret` or the first line of `secretFile`. */
export function loadExportdConfig(file: string | undefined, overrides: Record<string, unknown>): ExportdConfig {
  const config = loadConfig<ExportdConfig>(EXPORTD_CONFIG_SPEC, file, overrides);
  if (config.secretFile !== '') {
    try {
      config.secret = readFileSync(config.secretFile, 'utf8').split('\n')[0]!.trim();
    } catch (err) {
      throw new MosaicError('ENOENT', `secretFile: cannot read ${config.secretFile}: ${(err as Error).message}`);
    }
  }
  if (config.secret === '') throw MosaicError.invalid(`${file ?? 'config'}: secret: required (set secret, secretFile, --secret or --secret-file)`);
  if (config.nodeDownAfterMs < 100) throw MosaicError.invalid(`${file ?? 'config'}: nodeDownAfterMs: ${config.nodeDownAfterMs} ms is below 100 ms`);
  if (config.syncDelayMs > SYNC_DELAY_MS_MAX) throw MosaicError.invalid(`${file ?? 'config'}: syncDelayMs: ${config.syncDelayMs} ms is above ${SYNC_DELAY_MS_MAX} ms`);
  return config;
}

/**
 * storaged's configuration: every key, its default and its meaning, in one
 * spec that loads the YAML file, the flags over it, and writes `--help`.
 */
import { readFileSync } from 'node:fs';
import { parseAddress, type ConfigSpec } from '../common/config.js';
import { MosaicError } from '../common/errors.js';
import type { Sid } from '../common/ids.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../common/logging.js';

export const STORAGED_CONFIG_SPEC: ConfigSpec = {
  listen: { type: 'address', default: '127.0.0.1:7100', description: 'HOST:PORT of the RPC endpoint' },
  advertise: { type: 'string', default: '', description: 'HOST:PORT clients should use to reach this node (default: listen)' },
  http: { type: 'address', default: '127.0.0.1:7180', description: 'HOST:PORT of the /health and /metrics endpoint' },
  secret: { type: 'string', default: '', description: 'cluster secret (prefer secretFile: a config file may be world-readable)' },
  secretFile: { type: 'string', default: '', description: 'file holding the cluster secret (first line)' },
  sids: {
    type: 'list',
    of: {
      sid: { type: 'integer', min: 1, max: 65535, description: 'storage id, unique in the cluster' },
      path: { type: 'string', description: 'directory of this sid (created and marked on first use)' },
    },
    description: 'storage directories served: a list of {sid, path}',
  },
  exportd: { type: 'string', default: '', description: 'HOST:PORT of exportd, for heartbeats (empty: none)' },
  heartbeatInterval: { type: 'durationMs', default: '2s', description: 'time between heartbeats to exportd' },
  logLevel: { type: 'enum', values: LOG_LEVELS, default: 'info', description: 'error, warn, info or debug' },
  logFormat: { type: 'enum', values: LOG_FORMATS, default: 'text', description: 'text or json' },
  logFile: { type: 'string', default: '', description: 'also append logs to this file' },
  openFilesMax: { type: 'integer', min: 16, max: 1_000_000, default: 1024, description: 'bins files held open at most (LRU)' },
  scrubBytesPerSecond: { type: 'bytes', default: '64MiB', description: 'scrub read rate per call (0: unthrottled)' },
  rpcInflightMax: { type: 'integer', min: 1, max: 65536, default: 1024, description: 'requests in flight per connection' },
  drainTimeout: { type: 'durationMs', default: '10s', description: 'on SIGTERM, how long in-flight requests may take to finish' },
};

export interface StoragedConfig {
  listen: string;
  advertise: string;
  http: string;
  secret: string;
  secretFile: string;
  sids: Array<{ sid: Sid; path: string }>;
  exportd: string;
  heartbeatInterval: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  logFile: string;
  openFilesMax: number;
  scrubBytesPerSecond: number;
  rpcInflightMax: number;
  drainTimeout: number;
}

/** Cross-key checks the spec cannot express; returns the secret to use. */
export function checkStoragedConfig(config: StoragedConfig): string {
  if (config.sids.length === 0) throw MosaicError.invalid('sids: at least one {sid, path} is required');
  const seenSids = new Set<Sid>();
  const seenPaths = new Set<string>();
  for (const { sid, path } of config.sids) {
    if (seenSids.has(sid)) throw MosaicError.invalid(`sids: sid ${sid} listed twice`);
    if (seenPaths.has(path)) throw MosaicError.invalid(`sids: path ${path} listed twice`);
    if (!path.startsWith('/')) throw MosaicError.invalid(`sids: path "${path}" of sid ${sid} must be absolute`);
    seenSids.add(sid);
    seenPaths.add(path);
  }
  for (const key of ['advertise', 'exportd'] as const) {
    if (config[key] !== '') {
      try {
        parseAddress(config[key]);
      } catch {
        throw MosaicError.invalid(`${key}: expected HOST:PORT, got "${config[key]}"`);
      }
    }
  }
  if (config.secret !== '' && config.secretFile !== '') throw MosaicError.invalid('secret and secretFile are both set: keep one');
  let secret = config.secret;
  if (config.secretFile !== '') {
    try {
      secret = (readFileSync(config.secretFile, 'utf8').split('\n')[0] ?? '').trim();
    } catch (err) {
      throw MosaicError.invalid(`secretFile: cannot read ${config.secretFile}: ${(err as Error).message}`);
    }
  }
  if (secret === '') throw MosaicError.invalid('no cluster secret: set secretFile (or secret)');
  return secret;
}

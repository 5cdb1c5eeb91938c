/**
 * Where a client (mountd, the mosaic CLI) finds exportd, the secret and the
 * export: flags first, then
 * the client config file (--config FILE, or the MOSAIC_CONFIG environment
 * variable) — the YAML `client.conf` scripts/start_cluster.sh writes:
 *   exportd: 127.0.0.1:7000
 *   secret: ...
 *   export: mosaic
 *   token: ...        (optional: for exports that need one)
 * Unknown keys are left alone; the keys used are checked and a bad one is
 * named (MosaicError EINVAL, or ENOENT for an unreadable file).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseAddress } from './config.js';
import { MosaicError } from './errors.js';

export interface ClientSettings {
  exportd: string;
  secret: string;
  export?: string;
  token?: string;
}

export interface ClientFlags {
  exportd?: string | undefined;
  secret?: string | undefined;
  config?: string | undefined;
  token?: string | undefined;
}

export function resolveClientSettings(flags: ClientFlags, env: NodeJS.ProcessEnv = process.env): ClientSettings {
  const file = flags.config ?? env.MOSAIC_CONFIG;
  let fromFile: Record<string, unknown> = {};
  if (file !== undefined && file !== '') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new MosaicError('ENOENT', `cannot read client config ${file}: ${(err as Error).message}`);
    }
    const parsed: unknown = parseYaml(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw MosaicError.invalid(`${file}: expected a mapping of keys to values`);
    fromFile = parsed as Record<string, unknown>;
  }
  const source = file ?? 'flags';
  const exportd = flags.exportd ?? fromFile.exportd;
  const secret = flags.secret ?? fromFile.secret;
  if (typeof exportd !== 'string') throw MosaicError.invalid(`${source}: exportd: say where exportd is with --exportd HOST:PORT, --config FILE or MOSAIC_CONFIG`);
  parseAddress(exportd);
  if (typeof secret !== 'string' || secret === '') throw MosaicError.invalid(`${source}: secret: give the cluster secret with --secret or in the client config`);
  const settings: ClientSettings = { exportd, secret };
  if (typeof fromFile.export === 'string') settings.export = fromFile.export;
  const token = flags.token ?? fromFile.token;
  if (token !== undefined) {
    if (typeof token !== 'string') throw MosaicError.invalid(`${source}: token: expected a string`);
    settings.token = token;
  }
  return settings;
}

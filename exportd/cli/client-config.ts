/**
 * Where `mosaic` finds exportd and the secret: flags first (--exportd,
 * --secret), then the client config file (--config FILE, or the
 * MOSAIC_CONFIG environment variable) — the YAML `client.conf` that
 * scripts/start_cluster.sh writes and mountd reads too:
 *   exportd: 127.0.0.1:7000
 *   secret: ...
 *   export: mosaic
 * Keys this tool does not use (mountd's) are left alone; the keys it uses
 * are checked and a bad one is named.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseAddress } from '../../common/config.js';
import { MosaicError } from '../../common/errors.js';

export interface ClientSettings {
  exportd: string;
  secret: string;
  /** The export named in the file, if any (mountd's default). */
  export?: string;
}

export interface ClientFlags {
  exportd?: string;
  secret?: string;
  config?: string;
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
  return settings;
}

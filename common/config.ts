/**
 * One configuration format for every daemon: a YAML file (`--config FILE`),
 * then command-line flags over it, then defaults under both. Each daemon
 * declares its keys once as a ConfigSpec; loading validates every key and
 * names the bad one in the error ("storaged.yml: listen: expected HOST:PORT,
 * got 7000"). Unknown keys are refused, so a typo never silently falls back
 * to a default.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { MosaicError } from './errors.js';
import { parseBytes, parseDurationMs } from './units.js';

export type FieldSpec =
  | { type: 'string'; default?: string; pattern?: RegExp; description: string }
  | { type: 'integer'; default?: number; min?: number; max?: number; description: string }
  | { type: 'bytes'; default?: number | string; description: string }
  | { type: 'durationMs'; default?: number | string; description: string }
  | { type: 'boolean'; default?: boolean; description: string }
  | { type: 'enum'; values: readonly string[]; default?: string; description: string }
  | { type: 'address'; default?: string; description: string }
  | { type: 'list'; of: ConfigSpec; default?: unknown[]; description: string };

export type ConfigSpec = Record<string, FieldSpec>;

/** A host:port pair, validated. */
export interface Address {
  host: string;
  port: number;
}

export function parseAddress(text: string): Address {
  const match = /^\[?([A-Za-z0-9.\-:]+?)\]?:(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw MosaicError.invalid(`expected HOST:PORT, got "${text}"`);
  }
  return { host: match[1]!, port };
}

export function formatAddress(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

function fail(source: string, key: string, message: string): never {
  throw MosaicError.invalid(`${source}: ${key}: ${message}`);
}

function parseField(source: string, key: string, field: FieldSpec, raw: unknown): unknown {
  switch (field.type) {
    case 'string':
      if (typeof raw !== 'string') fail(source, key, `expected a string, got ${JSON.stringify(raw)}`);
      if (field.pattern && !field.pattern.test(raw)) fail(source, key, `"${raw}" does not match ${field.pattern}`);
      return raw;
    case 'integer': {
      const value = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(source, key, `expected an integer, got ${JSON.stringify(raw)}`);
      if (field.min !== undefined && value < field.min) fail(source, key, `${value} is below the minimum ${field.min}`);
      if (field.max !== undefined && value > field.max) fail(source, key, `${value} is above the maximum ${field.max}`);
      return value;
    }
    case 'bytes':
    case 'durationMs':
      if (typeof raw !== 'string' && typeof raw !== 'number') fail(source, key, `expected a ${field.type === 'bytes' ? 'size' : 'duration'}, got ${JSON.stringify(raw)}`);
      try {
        return field.type === 'bytes' ? parseBytes(raw) : parseDurationMs(raw);
      } catch (err) {
        return fail(source, key, (err as Error).message.replace(/^EINVAL: /, ''));
      }
    case 'boolean':
      if (raw === 'true' || raw === 'false') return raw === 'true';
      if (typeof raw !== 'boolean') fail(source, key, `expected true or false, got ${JSON.stringify(raw)}`);
      return raw;
    case 'enum':
      if (typeof raw !== 'string' || !field.values.includes(raw)) fail(source, key, `expected one of ${field.values.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw;
    case 'address':
      if (typeof raw !== 'string') fail(source, key, `expected HOST:PORT, got ${JSON.stringify(raw)}`);
      try {
        parseAddress(raw);
      } catch {
        fail(source, key, `expected HOST:PORT, got "${raw}"`);
      }
      return raw;
    case 'list':
      if (!Array.isArray(raw)) fail(source, key, `expected a list, got ${JSON.stringify(raw)}`);
      return raw.map((item, index) => applySpec(source, field.of, item, `${key}[${index}].`));
  }
}

function applySpec(source: string, spec: ConfigSpec, raw: unknown, prefix: string): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail(source, prefix.replace(/\.$/, '') || '(top level)', 'expected a mapping of keys to values');
  }
  const input = raw as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!(key in spec)) fail(source, `${prefix}${key}`, `unknown key (known keys: ${Object.keys(spec).join(', ')})`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec)) {
    const value = input[key] ?? field.default;
    if (value === undefined) fail(source, `${prefix}${key}`, `required (${field.description})`);
    out[key] = parseField(source, `${prefix}${key}`, field, value);
  }
  return out;
}

/**
 * Reads `file` (if given), lays `overrides` (from flags; undefined values
 * ignored) over it, fills defaults and validates. The result's shape is the
 * caller's type T, which must match `spec`.
 */
export function loadConfig<T>(spec: ConfigSpec, file: string | undefined, overrides: Record<string, unknown> = {}): T {
  let fromFile: Record<string, unknown> = {};
  const source = file ?? 'config';
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new MosaicError('ENOENT', `cannot read config file ${file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text) ?? {};
    } catch (err) {
      throw MosaicError.invalid(`${file}: not valid YAML: ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail(source, '(top level)', 'expected a mapping of keys to values');
    fromFile = parsed as Record<string, unknown>;
  }
  const merged: Record<string, unknown> = { ...fromFile };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) merged[key] = value;
  return applySpec(source, spec, merged, '') as T;
}

/** "key  description (default: x)" lines, for `--help` epilogues and the README. */
export function describeConfig(spec: ConfigSpec): string {
  return Object.entries(spec)
    .map(([key, field]) => `  ${key.padEnd(22)} ${field.description}${field.default !== undefined ? ` (default: ${JSON.stringify(field.default)})` : ''}`)
    .join('\n');
}

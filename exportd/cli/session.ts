/**
 * One `mosaic` command's connection to exportd: resolves where exportd is
 * (flags, --config, MOSAIC_CONFIG), opens one RPC client, runs the command
 * and always closes the client. Commands return their exit code; errors
 * propagate to main, which prints one line.
 */
import type { Command } from 'commander';
import type { MethodSpec } from '../../common/rpc/method.js';
import { RpcClient } from '../../common/rpc/client.js';
import { resolveClientSettings, type ClientSettings } from '../../common/client-config.js';

/** Admin calls are small; fsck scans the whole namespace and gets its own deadline. */
export const CALL_TIMEOUT_MS = 15_000;

export interface Session {
  call<A, R>(method: MethodSpec<A, R>, args: A, timeoutMs?: number): Promise<R>;
  /** --json: print machine-readable results instead of tables. */
  json: boolean;
  settings: ClientSettings;
  print(text: string): void;
  printJson(value: unknown): void;
}

export type CommandBody = (session: Session, args: string[], options: Record<string, unknown>) => Promise<number | void>;

/** Wraps a command body as a commander action: positional args, then options, then the command. */
export function withSession(body: CommandBody): (...raw: unknown[]) => Promise<void> {
  return async (...raw: unknown[]) => {
    const command = raw[raw.length - 1] as Command;
    const options = command.optsWithGlobals() as Record<string, unknown>;
    const args = raw.slice(0, -2).filter((value): value is string => typeof value === 'string');
    const settings = resolveClientSettings({
      exportd: options.exportd as string | undefined,
      secret: options.secret as string | undefined,
      config: options.config as string | undefined,
    });
    const client = new RpcClient({ address: settings.exportd, secret: settings.secret, defaultTimeoutMs: CALL_TIMEOUT_MS });
    const session: Session = {
      call: async (method, args, timeoutMs) => (await client.call(method, args, timeoutMs === undefined ? {} : { timeoutMs })).result,
      json: options.json === true,
      settings,
      print: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
      printJson: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    };
    try {
      const code = await body(session, args, options);
      if (typeof code === 'number') process.exitCode = code;
    } finally {
      await client.close();
    }
  };
}

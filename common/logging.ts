/**
 * Logging for every process: winston, human-readable lines by default
 * ("2026-11-21T18:00:00.000Z info  storaged: listening on 127.0.0.1:7001"),
 * JSON lines with `format: json` for log shippers. Logs go to stderr so a
 * command's stdout stays its output (tables, JSON).
 */
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export interface LoggingOptions {
  level: LogLevel;
  format: LogFormat;
  /** Also append to this file (daemons started by the local cluster launcher). */
  file?: string | undefined;
}

export type Logger = winston.Logger;

export function createLogger(component: string, options: LoggingOptions): Logger {
  const text = winston.format.printf(({ timestamp, level, message, component: source, ...rest }) => {
    const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
    return `${String(timestamp)} ${level.padEnd(5)} ${String(source)}: ${String(message)}${extra}`;
  });
  const format = winston.format.combine(
    winston.format.timestamp(),
    options.format === 'json' ? winston.format.json() : text,
  );
  const transports: winston.transport[] = [
    new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] }),
  ];
  if (options.file) transports.push(new winston.transports.File({ filename: options.file }));
  return winston.createLogger({ level: options.level, format, defaultMeta: { component }, transports });
}

/** A logger that drops everything: for unit tests and library use. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });
}

/**
 * Ends the logger and waits (at most `timeoutMs`) until its transports have
 * written everything, then exits: a daemon's last lines ("stopped: files
 * synced and closed") must not be lost to process.exit.
 */
export function exitAfterLogs(logger: Logger, code: number, timeoutMs = 2_000): void {
  const exit = (): void => process.exit(code);
  setTimeout(exit, timeoutMs).unref();
  logger.on('finish', () => setImmediate(exit));
  logger.end();
}

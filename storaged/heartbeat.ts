/**
 * The storage node's side of the cluster map: every intervalMs, tell exportd
 * "I am `advertise` and serve these sids, with this much space". The first
 * heartbeat registers the node; later ones keep it up and refresh its space.
 *
 * Invariants: at most one heartbeat is in flight (the next is scheduled when
 * the previous settles, so a slow exportd never piles calls up); a failing
 * exportd is logged once per streak of failures, not once per interval, and
 * never stops the node from serving data; stop() waits for the call in
 * flight and closes the connection.
 */
import { MosaicError } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import { heartbeat, type HeartbeatResult } from '../common/protocol/exportd-admin.js';
import type { SidStat } from '../common/protocol/storaged.js';
import { RpcClient } from '../common/rpc/client.js';

export interface HeartbeatOptions {
  /** exportd's HOST:PORT. */
  exportd: string;
  secret: string;
  /** The HOST:PORT clients and exportd use to reach this node. */
  advertise: string;
  intervalMs: number;
  logger: Logger;
  stat: () => Promise<SidStat[]>;
}

export function startHeartbeat(options: HeartbeatOptions): { stop(): Promise<void> } {
  const { logger } = options;
  // A heartbeat older than one interval is worthless: the next one supersedes it.
  const client = new RpcClient({ address: options.exportd, secret: options.secret, logger, defaultTimeoutMs: Math.max(options.intervalMs, 1000) });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let last: HeartbeatResult | undefined;
  let failing: string | undefined;

  const beat = async () => {
    try {
      const result = (await client.call(heartbeat, { address: options.advertise, sids: await options.stat() })).result;
      if (failing !== undefined) logger.info(`heartbeat: exportd ${options.exportd} reachable again`);
      failing = undefined;
      if (last?.member !== result.member) {
        logger.info(result.member
          ? `heartbeat: member of the cluster at exportd ${options.exportd}`
          : `heartbeat: registered with exportd ${options.exportd}; an admin adds this node with "mosaic node add ${options.advertise}"`);
      }
      last = result;
    } catch (err) {
      const error = MosaicError.from(err);
      if (failing !== error.code) logger.warn(`heartbeat to exportd ${options.exportd} failed: ${error.message}`);
      failing = error.code;
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = beat().finally(schedule);
    }, options.intervalMs);
  };

  inFlight = beat().finally(schedule);

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight.catch(() => undefined);
      await client.close();
    },
  };
}

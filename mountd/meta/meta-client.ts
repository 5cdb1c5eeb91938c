/**
 * The mount's metadata client: one RPC connection to exportd, the mounted
 * export, the caller credentials and the open-file session.
 *
 * Credentials: a call carries the caller it is given (the FUSE request's,
 * see mountd/fuse/request-caller.ts) or else the mount's own: lookups,
 * getattr, readdir and the data path's opens and commits are made as the
 * mount, since their results are cached for every user and the kernel
 * (default_permissions) has checked the request's own access already.
 *
 * Session: opens are held by sessionId until released or until the session's
 * lease lapses; a timer renews it every lease / 3 so a quiet mount keeps its
 * open (possibly unlinked) files.
 */
import { randomBytes } from 'node:crypto';
import { mount as mountMethod, type MountResult } from '../../common/protocol/exportd-admin.js';
import { renewSession, type Caller } from '../../common/protocol/exportd-namespace.js';
import type { RpcClient } from '../../common/rpc/client.js';
import type { MethodSpec } from '../../common/rpc/method.js';
import type { Logger } from '../../common/logging.js';

/** Arguments of a namespace method without the fields every call carries. */
export type NsArgs<A> = Omit<A, 'exportId' | 'caller'>;

const LEASE_MS_ASSUMED = 60_000;

export class MetaClient {
  readonly sessionId = randomBytes(16).toString('hex');
  private renewTimer: NodeJS.Timeout | undefined;

  readonly rpc: RpcClient;
  readonly exported: MountResult;
  readonly caller: Caller;
  private readonly callTimeoutMs: number;
  private readonly logger: Logger;

  constructor(rpc: RpcClient, exported: MountResult, caller: Caller, callTimeoutMs: number, logger: Logger) {
    this.rpc = rpc;
    this.exported = exported;
    this.caller = caller;
    this.callTimeoutMs = callTimeoutMs;
    this.logger = logger;
  }

  /** Mounts export `name` (EACCES for a wrong token, ENOENT for no such export). */
  static async mount(rpc: RpcClient, name: string, token: string | undefined, callTimeoutMs: number): Promise<MountResult> {
    const args = token === undefined ? { export: name } : { export: name, token };
    return (await rpc.call(mountMethod, args, { timeoutMs: callTimeoutMs })).result;
  }

  get rootIno(): number {
    return this.exported.rootIno;
  }

  /** Calls namespace method `method` with the export and `caller` (default: the mount's) filled in. */
  async call<A extends { exportId: number; caller: Caller }, R>(method: MethodSpec<A, R>, args: NsArgs<A>, caller: Caller = this.caller): Promise<R> {
    const full = { ...args, exportId: this.exported.exportId, caller } as A;
    return (await this.rpc.call(method, full, { timeoutMs: this.callTimeoutMs })).result;
  }

  startSessionRenewal(): void {
    const renew = (): void => {
      this.call(renewSession, { sessionId: this.sessionId }).then(({ leaseMs }) => schedule(leaseMs), (err: unknown) => {
        this.logger.warn(`renewing session ${this.sessionId} failed: ${(err as Error).message}`);
        schedule(LEASE_MS_ASSUMED / 4);
      });
    };
    const schedule = (leaseMs: number): void => {
      this.renewTimer = setTimeout(renew, Math.max(100, leaseMs / 3));
      this.renewTimer.unref();
    };
    renew();
  }

  stop(): void {
    clearTimeout(this.renewTimer);
  }
}

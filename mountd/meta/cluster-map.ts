/**
 * The mount's copy of exportd's cluster map: which address serves each sid.
 * Fetched at mount time, again in the background every refreshMs, and at
 * once (deduplicated: one fetch in flight at a time, at most one per
 * refreshMinGapMs) when a sid is unknown or a call to a sid failed — a node
 * that came back on another port is found without waiting for the timer.
 * A fetch whose version equals the current one changes nothing.
 */
import { MosaicError } from '../../common/errors.js';
import type { Sid } from '../../common/ids.js';
import { clusterMap, type ClusterMapResult } from '../../common/protocol/exportd-admin.js';
import type { RpcClient } from '../../common/rpc/client.js';

export interface ClusterMapOptions {
  refreshMs: number;
  refreshMinGapMs: number;
  callTimeoutMs: number;
}

export class ClusterMapCache {
  private map: ClusterMapResult | undefined;
  private addresses = new Map<Sid, string>();
  private fetching: Promise<void> | undefined;
  private lastFetchMs = 0;
  private timer: NodeJS.Timeout | undefined;

  private readonly exportd: RpcClient;
  private readonly options: ClusterMapOptions;

  constructor(exportd: RpcClient, options: ClusterMapOptions) {
    this.exportd = exportd;
    this.options = options;
  }

  /** First fetch (errors reach the caller: a mount without a map cannot work), then the refresh timer. */
  async start(): Promise<void> {
    await this.refresh(true);
    this.timer = setInterval(() => void this.refresh(true).catch(() => undefined), this.options.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get version(): number {
    return this.map?.version ?? -1;
  }

  /** The address of `sid`, refetching the map once when it is unknown; ENODEV when exportd does not know it either. */
  async addressOf(sid: Sid): Promise<string> {
    const known = this.addresses.get(sid);
    if (known !== undefined) return known;
    await this.refresh(false);
    const address = this.addresses.get(sid);
    if (address === undefined) throw new MosaicError('ENODEV', `sid ${sid} is not in exportd's cluster map (version ${this.version})`);
    return address;
  }

  /** A call to `sid` failed: its address may have changed; refetch soon (rate-limited, in the background). */
  suspect(): void {
    void this.refresh(false).catch(() => undefined);
  }

  private refresh(force: boolean): Promise<void> {
    if (this.fetching) return this.fetching;
    if (!force && Date.now() - this.lastFetchMs < this.options.refreshMinGapMs) return Promise.resolve();
    this.lastFetchMs = Date.now();
    this.fetching = this.exportd.call(clusterMap, {}, { timeoutMs: this.options.callTimeoutMs }).then(({ result }) => {
      if (result.version === this.map?.version) return;
      this.map = result;
      this.addresses = new Map(result.sids.map((s) => [s.sid, s.address]));
    }).finally(() => { this.fetching = undefined; });
    return this.fetching;
  }
}

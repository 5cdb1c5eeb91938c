/**
 * What one open file tells exportd's repair queue (reportRepair): degraded
 * writes, and damage its reads found (stripe-io.ts onDamage). A hot damaged
 * file is read over and over, so reports are rate-limited: one call in
 * flight per file, and a reason already sent is not sent again for
 * intervalMs. Nothing is lost by dropping: exportd keeps one record per file
 * until a pass made it whole, merging reasons, and does not finish it while
 * the file is open, so the first report of an open stands for the rest.
 * A failed report is forgotten, so the next occurrence tries again.
 */
import type { ReportedRepairReason } from '../../common/protocol/exportd-namespace.js';

export interface RepairReporterOptions {
  send: (reason: ReportedRepairReason) => Promise<unknown>;
  /** A report exportd did not take (connection lost, file gone). */
  failed: (reason: ReportedRepairReason, err: unknown) => void;
  intervalMs?: number;
  nowMs?: () => number;
}

export class RepairReporter {
  private readonly options: Required<RepairReporterOptions>;
  /** When each reason was last sent. */
  private readonly sentAtMs = new Map<ReportedRepairReason, number>();
  private sending = false;

  constructor(options: RepairReporterOptions) {
    this.options = { intervalMs: 30_000, nowMs: Date.now, ...options };
  }

  report(reason: ReportedRepairReason): void {
    const nowMs = this.options.nowMs();
    const last = this.sentAtMs.get(reason);
    if (this.sending || (last !== undefined && nowMs - last < this.options.intervalMs)) return;
    this.sending = true;
    this.sentAtMs.set(reason, nowMs);
    this.options.send(reason)
      .catch((err: unknown) => {
        this.sentAtMs.delete(reason);
        this.options.failed(reason, err);
      })
      .finally(() => { this.sending = false; });
  }
}

/**
 * The counters a storage node exposes on /metrics, in one place so their
 * names stay stable (dashboards and alerts depend on them). Labelled by sid.
 */
import type { Counter, Gauge, MetricsRegistry } from '../common/metrics.js';

export interface StoreMetrics {
  slotsWritten: Counter;
  bytesWritten: Counter;
  writeFailures: Counter;
  slotsRead: Counter;
  bytesRead: Counter;
  corruptSlots: Counter;
  scrubbedSlots: Counter;
  capacityBytes: Gauge;
  freeBytes: Gauge;
  usedBytes: Gauge;
  files: Gauge;
  openFiles: Gauge;
}

export function createStoreMetrics(registry: MetricsRegistry): StoreMetrics {
  return {
    slotsWritten: registry.counter('storaged_slots_written_total', 'Slots written (acked or not yet synced).', ['sid']),
    bytesWritten: registry.counter('storaged_written_bytes_total', 'Payload bytes written to slots.', ['sid']),
    writeFailures: registry.counter('storaged_write_failures_total', 'Slot writes refused or failed, by error code.', ['sid', 'code']),
    slotsRead: registry.counter('storaged_slots_read_total', 'Slots read, by state (ok, absent, corrupt).', ['sid', 'state']),
    bytesRead: registry.counter('storaged_read_bytes_total', 'Payload bytes returned by reads.', ['sid']),
    corruptSlots: registry.counter('storaged_corrupt_slots_total', 'Slots found failing their CRC (by read or scrub).', ['sid']),
    scrubbedSlots: registry.counter('storaged_scrubbed_slots_total', 'Slots examined by scrub.', ['sid']),
    capacityBytes: registry.gauge('storaged_capacity_bytes', 'Size of the filesystem holding the sid.', ['sid']),
    freeBytes: registry.gauge('storaged_free_bytes', 'Bytes available to storaged on the sid.', ['sid']),
    usedBytes: registry.gauge('storaged_used_bytes', 'Bytes in use on the filesystem holding the sid.', ['sid']),
    files: registry.gauge('storaged_files', 'Bins files stored on the sid.', ['sid']),
    openFiles: registry.gauge('storaged_open_files', 'Bins files held open (bounded by limits.openFilesMax).'),
  };
}

/**
 * A small registry of counters and gauges, rendered in the Prometheus text
 * exposition format (version 0.0.4) for a daemon's `/metrics`.
 *
 * Invariants: a metric name is registered once (a second registration of the
 * same name is our bug and throws); names and label names follow Prometheus'
 * grammar (checked at registration); label values are escaped when rendered,
 * so any string is safe as a value. Counters only go up. Collectors (run
 * before each render) refresh gauges whose value is cheap to read on demand
 * (free space, open files) instead of tracking it on the hot path.
 */
import assert from 'node:assert/strict';

const NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type Labels = Record<string, string | number>;

abstract class Metric {
  abstract readonly type: 'counter' | 'gauge';
  /** Series keyed by their rendered label set ('' for none). */
  protected readonly series = new Map<string, number>();

  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    assert.match(name, NAME_PATTERN, `metric name ${name}`);
    for (const label of labelNames) assert.match(label, LABEL_PATTERN, `label name ${label} of ${name}`);
  }

  protected keyOf(labels: Labels | undefined): string {
    // On every increment: plain loops, no allocation beyond the key string.
    const given = labels ?? {};
    let key = '';
    let count = 0;
    for (const label of this.labelNames) {
      const value = given[label];
      assert.ok(value !== undefined, `label ${label} of ${this.name} missing`);
      key += `${count++ === 0 ? '' : ','}${label}="${escapeLabelValue(String(value))}"`;
    }
    assert.equal(Object.keys(given).length, count, `labels of ${this.name}: expected ${this.labelNames.join(', ')}`);
    return key;
  }

  /** The current value of one series (0 if never touched). */
  get(labels?: Labels): number {
    return this.series.get(this.keyOf(labels)) ?? 0;
  }

  /** Forgets every series (a gauge refilled by a collector). */
  reset(): void {
    this.series.clear();
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const [key, value] of this.series) lines.push(`${this.name}${key === '' ? '' : `{${key}}`} ${formatValue(value)}`);
    return lines.join('\n');
  }
}

export class Counter extends Metric {
  readonly type = 'counter';

  inc(labels?: Labels, by = 1): void {
    assert.ok(by >= 0, `counter ${this.name} incremented by ${by}`);
    const key = this.keyOf(labels);
    this.series.set(key, (this.series.get(key) ?? 0) + by);
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge';

  set(value: number, labels?: Labels): void {
    this.series.set(this.keyOf(labels), value);
  }

  inc(labels?: Labels, by = 1): void {
    const key = this.keyOf(labels);
    this.series.set(key, (this.series.get(key) ?? 0) + by);
  }

  dec(labels?: Labels, by = 1): void {
    this.inc(labels, -by);
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();
  private readonly collectors: Array<() => void | Promise<void>> = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  /** `collect` runs before every render (e.g. to set gauges from statfs). */
  onCollect(collect: () => void | Promise<void>): void {
    this.collectors.push(collect);
  }

  /** The whole registry in Prometheus text format, ending with a newline. */
  async render(): Promise<string> {
    for (const collect of this.collectors) await collect();
    return [...this.metrics.values()].map((metric) => metric.render()).join('\n') + '\n';
  }

  private add<M extends Metric>(metric: M): M {
    assert.ok(!this.metrics.has(metric.name), `metric ${metric.name} registered twice`);
    this.metrics.set(metric.name, metric);
    return metric;
  }
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

import test from 'ava';
import type { ReportedRepairReason } from '../../common/protocol/exportd-namespace.js';
import { RepairReporter } from '../../mountd/data/repair-reporter.js';

function reporter(fail = false) {
  const clock = { nowMs: 0 };
  const sent: ReportedRepairReason[] = [];
  const failures: ReportedRepairReason[] = [];
  let answer: () => void = () => undefined;
  const r = new RepairReporter({
    send: (reason) => {
      sent.push(reason);
      return new Promise<void>((resolve, reject) => { answer = fail ? () => reject(new Error('closed')) : resolve; });
    },
    failed: (reason) => failures.push(reason),
    intervalMs: 1000,
    nowMs: () => clock.nowMs,
  });
  const settle = async () => {
    answer();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { r, clock, sent, failures, settle };
}

test('one report in flight; a reason sent is not sent again within intervalMs', async (t) => {
  const { r, clock, sent, settle } = reporter();
  r.report('corrupt');
  r.report('corrupt');
  r.report('version-mismatch');
  t.deepEqual(sent, ['corrupt'], 'in flight: the rest dropped');
  await settle();
  for (let i = 0; i < 100; i++) r.report('corrupt');
  r.report('version-mismatch');
  t.deepEqual(sent, ['corrupt', 'version-mismatch']);
  await settle();
  clock.nowMs += 999;
  r.report('corrupt');
  t.is(sent.length, 2);
  clock.nowMs += 1;
  r.report('corrupt');
  t.deepEqual(sent, ['corrupt', 'version-mismatch', 'corrupt'], 'again once the interval passed');
});

test('a report exportd did not take is retried at the next occurrence', async (t) => {
  const { r, sent, failures, settle } = reporter(true);
  r.report('degraded-write');
  await settle();
  t.deepEqual(failures, ['degraded-write']);
  r.report('degraded-write');
  t.deepEqual(sent, ['degraded-write', 'degraded-write']);
});

/**
 * mountd's release queue: releases added within the delay share one call,
 * in order; flush() sends at once and waits for every earlier batch; a full
 * batch leaves without waiting; a failed batch is reported, later ones go on.
 */
import test from 'ava';
import { RELEASE_BATCH_MAX } from '../../common/protocol/exportd-namespace.js';
import { ReleaseQueue } from '../../mountd/meta/release-queue.js';

function recording(delayMs: number, fail?: (inos: number[]) => boolean): { queue: ReleaseQueue; sent: number[][]; failed: number[][] } {
  const sent: number[][] = [];
  const failed: number[][] = [];
  const queue = new ReleaseQueue({
    send: async (inos) => {
      await new Promise((resolve) => setImmediate(resolve));
      if (fail?.(inos)) throw new Error('exportd said no');
      sent.push(inos);
    },
    failed: (_err, inos) => failed.push(inos),
    delayMs,
  });
  return { queue, sent, failed };
}

test('releases added within the delay go in one call, in order', async (t) => {
  const { queue, sent } = recording(60_000);
  queue.add(5);
  queue.add(7);
  queue.add(5);
  t.deepEqual(sent, [], 'nothing before the delay or a flush');
  await queue.flush();
  t.deepEqual(sent, [[5, 7, 5]]);
  await queue.flush();
  t.is(sent.length, 1, 'an empty flush sends nothing');
});

test('the timer sends what is pending', async (t) => {
  const { queue, sent } = recording(5);
  queue.add(1);
  while (sent.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  t.deepEqual(sent, [[1]]);
});

test('a full batch leaves at once; flush waits for the batches before it', async (t) => {
  const { queue, sent } = recording(60_000);
  for (let ino = 1; ino <= RELEASE_BATCH_MAX + 1; ino++) queue.add(ino);
  await queue.flush();
  t.deepEqual(sent.map((inos) => inos.length), [RELEASE_BATCH_MAX, 1]);
  t.is(sent[1]![0], RELEASE_BATCH_MAX + 1);
});

test('a failed batch is reported and the next one still goes', async (t) => {
  const { queue, sent, failed } = recording(60_000, (inos) => inos.includes(13));
  queue.add(13);
  await queue.flush();
  queue.add(14);
  await queue.flush();
  t.deepEqual(failed, [[13]]);
  t.deepEqual(sent, [[14]]);
});

import test from 'ava';
import { Deadlines, type DeadlineEntry } from '../../common/rpc/deadlines.js';

interface Entry extends DeadlineEntry {
  name: string;
}

function entry(name: string): Entry {
  return { name, deadlineMs: 0, deadlinePrev: undefined, deadlineNext: undefined, deadlineList: undefined };
}

/** Deadlines whose expirations resolve `done` once `count` entries expired. */
function watch(count: number): { deadlines: Deadlines<Entry>; expired: string[]; done: Promise<void> } {
  const expired: string[] = [];
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const deadlines = new Deadlines<Entry>((e) => {
    expired.push(e.name);
    if (expired.length === count) resolve();
  });
  return { deadlines, expired, done };
}

test('entries of several timeouts all expire; removed ones never do', async (t) => {
  const { deadlines, expired, done } = watch(4);
  const entries = ['a30', 'b10', 'c30', 'd20', 'e10', 'f20'].map(entry);
  for (const e of entries) deadlines.add(e, Number(e.name.slice(1)));
  deadlines.remove(entries[1]!); // b10
  deadlines.remove(entries[5]!); // f20
  deadlines.remove(entries[5]!); // twice: no-op
  await done;
  // One late timer run may expire several lists at once, in any list order: compare as sets.
  t.deepEqual([...expired].sort(), ['a30', 'c30', 'd20', 'e10']);
  t.true(entries.every((e) => e.deadlineList === undefined));
});

test('an entry added with an earlier deadline than the armed timer still expires before it', async (t) => {
  const { deadlines, expired, done } = watch(1);
  const late = entry('late');
  deadlines.add(late, 60_000);
  deadlines.add(entry('soon'), 5);
  await done;
  t.deepEqual(expired, ['soon']);
  deadlines.remove(late);
  deadlines.stop();
});

test('a deadline reached while an earlier-armed entry was removed re-arms for the next head', async (t) => {
  const { deadlines, expired, done } = watch(1);
  const first = entry('first');
  deadlines.add(first, 5);
  deadlines.add(entry('second'), 5);
  deadlines.remove(first);
  await done;
  t.deepEqual(expired, ['second']);
});

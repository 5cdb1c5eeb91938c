import test from 'ava';
import type { Logger } from '../../common/logging.js';
import { PollLoop } from '../../exportd/poll-loop.js';

function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const wait = new Promise<void>((resolve) => { open = resolve; });
  return { wait, open };
}

test('rounds never overlap: a wake during a round runs one more right after it; a throwing round does not stop the loop; stop waits', async (t) => {
  let inRound = 0;
  let overlapped = false;
  let rounds = 0;
  const errors: string[] = [];
  const first = gate();
  const third = gate();
  const loop = new PollLoop({
    name: 'test', pollIntervalMs: 3_600_000, logger: { error: (line: string) => errors.push(line) } as unknown as Logger,
    round: async () => {
      rounds++;
      overlapped ||= inRound > 0;
      inRound++;
      try {
        if (rounds === 1) await first.wait;
        if (rounds === 2) throw new Error('round 2 fails');
        if (rounds === 3) third.open();
      } finally {
        inRound--;
      }
    },
  });
  loop.start();
  while (rounds === 0) await new Promise((resolve) => setImmediate(resolve));
  loop.wake();
  loop.wake();
  first.open();
  while (rounds < 2) await new Promise((resolve) => setImmediate(resolve));
  loop.wake();
  await third.wait;
  await loop.stop();
  t.false(overlapped);
  t.is(errors.length, 1);
  t.regex(errors[0]!, /^test: .*round 2 fails/);
  t.is(rounds, 3, 'the long poll interval never elapsed: every round came from start or wake');
  loop.wake();
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(rounds, 3, 'stopped: wake does nothing');
});

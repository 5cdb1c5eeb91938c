import test from 'ava';
import { MemoryBudget } from '../../mountd/data/memory-budget.js';

test('requests wait in order until released bytes make room, after asking reclaimers', async (t) => {
  const budget = new MemoryBudget(100);
  const asked: number[] = [];
  budget.addReclaimer((bytes) => asked.push(bytes));
  await budget.acquire(80);
  const order: string[] = [];
  const a = budget.acquire(50).then(() => order.push('a'));
  const b = budget.acquire(10).then(() => order.push('b'));
  t.false(budget.tryAcquire(10), 'tryAcquire never jumps the queue');
  t.deepEqual(asked, [30, 40]);
  budget.release(40);
  await a;
  await b;
  t.deepEqual(order, ['a', 'b']);
  t.is(budget.usedBytes, 100);
});

test('a reclaimer that frees at once satisfies the waiter', async (t) => {
  const budget = new MemoryBudget(10);
  await budget.acquire(10);
  const remove = budget.addReclaimer(() => budget.release(10));
  await budget.acquire(5);
  t.is(budget.usedBytes, 5);
  remove();
});

import test from 'ava';
import { RpcPool } from '../../common/rpc/pool.js';
import { MosaicError } from '../../common/errors.js';
import { formatAddress } from '../../common/config.js';
import { echo, SECRET, startServer } from './helpers.js';

test('one client per address, shared; close() closes them all', async (t) => {
  const a = await startServer(t);
  const b = await startServer(t);
  const pool = new RpcPool({ secret: SECRET });
  t.teardown(() => pool.close());
  const addressA = formatAddress(a.address);
  t.is(pool.get(addressA), pool.get(addressA));
  t.not(pool.get(addressA), pool.get(formatAddress(b.address)));
  t.is((await pool.get(addressA).call(echo, { text: 'a', n: 1 })).result.text, 'a');
  t.is((await pool.get(formatAddress(b.address)).call(echo, { text: 'b', n: 2 })).result.text, 'b');
  t.is(a.server.connectionCount, 1);
  const client = pool.get(addressA);
  await pool.close();
  t.is((await t.throwsAsync(client.call(echo, { text: 'late', n: 3 }), { instanceOf: MosaicError })).code, 'ECLOSED');
  t.is(t.throws(() => pool.get(addressA), { instanceOf: MosaicError })?.code, 'ECLOSED');
});

import test from 'ava';
import { request } from 'node:http';
import { MetricsRegistry } from '../../common/metrics.js';
import { StatusHttpServer, type Health } from '../../common/status-http.js';
import { silentLogger } from '../../common/logging.js';

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function start(t: import('ava').ExecutionContext, health: () => Health | Promise<Health>) {
  const metrics = new MetricsRegistry();
  metrics.counter('requests_total', 'Requests.').inc(undefined, 3);
  const { server, address } = await StatusHttpServer.start({ address: { host: '127.0.0.1', port: 0 }, health, metrics, logger: silentLogger() });
  t.teardown(() => server.close());
  return address.port;
}

test('/health answers JSON, 200 when ok and 503 otherwise', async (t) => {
  let status: Health['status'] = 'ok';
  const port = await start(t, () => ({ status, sids: 2 }));
  const ok = await get(port, '/health');
  t.is(ok.status, 200);
  t.is(ok.type, 'application/json');
  t.deepEqual(JSON.parse(ok.body), { status: 'ok', sids: 2 });
  status = 'degraded';
  t.is((await get(port, '/health')).status, 503);
});

test('/metrics answers Prometheus text', async (t) => {
  const port = await start(t, () => ({ status: 'ok' }));
  const reply = await get(port, '/metrics');
  t.is(reply.status, 200);
  t.true(reply.type.startsWith('text/plain; version=0.0.4'));
  t.true(reply.body.includes('requests_total 3\n'));
});

test('unknown paths are 404, other methods 405, a failing health 500 and the server lives', async (t) => {
  let fail = true;
  const port = await start(t, () => {
    if (fail) throw new Error('boom');
    return { status: 'ok' };
  });
  t.is((await get(port, '/nope')).status, 404);
  t.is((await get(port, '/metrics', 'POST')).status, 405);
  t.is((await get(port, '/health')).status, 500);
  fail = false;
  t.is((await get(port, '/health')).status, 200);
});

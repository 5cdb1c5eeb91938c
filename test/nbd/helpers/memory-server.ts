/** An in-process NbdServer over memory devices on 127.0.0.1:0, closed in teardown. */
import type { ExecutionContext } from 'ava';
import { silentLogger } from '../../../common/logging.js';
import { NbdServer } from '../../../mountd/nbd/server.js';
import { MemoryCatalog, MemoryDevice } from './memory-device.js';

export interface MemoryServer {
  server: NbdServer;
  catalog: MemoryCatalog;
  port: number;
  uri: (name: string) => string;
}

export async function startMemoryServer(t: ExecutionContext, devices: Record<string, MemoryDevice>, options: { readOnly?: boolean; inflightMax?: number; handshakeTimeoutMs?: number } = {}): Promise<MemoryServer> {
  const catalog = new MemoryCatalog();
  for (const [name, device] of Object.entries(devices)) catalog.devices.set(name, device);
  const server = new NbdServer({ catalog, readOnly: options.readOnly ?? false, logger: silentLogger(), inflightMax: options.inflightMax, handshakeTimeoutMs: options.handshakeTimeoutMs });
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => server.close());
  const port = 'port' in address ? address.port : 0;
  return { server, catalog, port, uri: (name) => `nbd://127.0.0.1:${port}/${encodeURIComponent(name)}` };
}

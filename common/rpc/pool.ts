/**
 * One RpcClient per peer address, created on first use and shared by every
 * caller in the process (a storage node is reached over one multiplexed
 * connection, not one per file).
 */
import { MosaicError } from '../errors.js';
import { RpcClient, type RpcClientOptions } from './client.js';

export class RpcPool {
  private readonly options: Omit<RpcClientOptions, 'address'>;
  private readonly clients = new Map<string, RpcClient>();
  private closed = false;

  constructor(options: Omit<RpcClientOptions, 'address'>) {
    this.options = options;
  }

  get(address: string): RpcClient {
    if (this.closed) throw new MosaicError('ECLOSED', 'RPC pool is closed');
    let client = this.clients.get(address);
    if (!client) {
      client = new RpcClient({ ...this.options, address });
      this.clients.set(address, client);
    }
    return client;
  }

  async close(): Promise<void> {
    this.closed = true;
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((client) => client.close()));
  }
}

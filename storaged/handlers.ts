/**
 * The storaged RPC methods (common/protocol/storaged.ts) on top of the slot
 * stores of the sids this node serves. The protocol decoders already checked
 * every field's format and bound; here the checks that span fields: the
 * payload count matches the items, the request's bytes stay under
 * writeBytesMax, every sid is served here (ENODEV otherwise), all before any
 * disk access.
 */
import { MosaicError } from '../common/errors.js';
import type { Sid } from '../common/ids.js';
import * as protocol from '../common/protocol/storaged.js';
import type { RpcServer } from '../common/rpc/server.js';
import type { SlotPatch } from './slot-patch.js';
import type { SlotStore, SlotWrite } from './slot-store.js';

export function registerHandlers(server: RpcServer, stores: ReadonlyMap<Sid, SlotStore>): void {
  const storeOf = (sid: Sid): SlotStore => {
    const store = stores.get(sid);
    if (!store) throw new MosaicError('ENODEV', `sid ${sid} is not served by this node (serving ${[...stores.keys()].join(', ')})`);
    return store;
  };

  server.handle(protocol.write, async ({ items, durable }, payloads) => {
    if (payloads.length !== items.length) throw MosaicError.invalid(`${items.length} items but ${payloads.length} payloads`);
    let totalBytes = 0;
    for (const payload of payloads) totalBytes += payload.length;
    if (totalBytes > protocol.STORAGED_LIMITS.writeBytesMax) {
      throw new MosaicError('E2BIG', `${totalBytes} payload bytes in one write (at most ${protocol.STORAGED_LIMITS.writeBytesMax})`);
    }
    const bySid = new Map<Sid, { writes: SlotWrite[]; indexes: number[] }>();
    items.forEach((item, index) => {
      storeOf(item.sid);
      let group = bySid.get(item.sid);
      if (!group) bySid.set(item.sid, (group = { writes: [], indexes: [] }));
      group.writes.push({ item, payload: payloads[index]! });
      group.indexes.push(index);
    });
    const outcomes = new Array<protocol.WriteOutcome>(items.length);
    // allSettled: the method borrows its payloads, so no sid's slot writes
    // may still be running when the handler settles, even if another failed.
    const settled = await Promise.allSettled([...bySid].map(async ([sid, group]) => {
      const results = await storeOf(sid).write(group.writes, durable);
      results.forEach((outcome, position) => (outcomes[group.indexes[position]!] = outcome));
    }));
    for (const result of settled) if (result.status === 'rejected') throw result.reason;
    return { result: { outcomes } };
  });

  server.handle(protocol.patch, async ({ items, durable }, payloads) => {
    if (payloads.length !== items.length) throw MosaicError.invalid(`${items.length} items but ${payloads.length} payloads`);
    let totalBytes = 0;
    for (const payload of payloads) totalBytes += payload.length;
    if (totalBytes > protocol.STORAGED_LIMITS.patchBytesMax) {
      throw new MosaicError('E2BIG', `${totalBytes} payload bytes in one patch (at most ${protocol.STORAGED_LIMITS.patchBytesMax})`);
    }
    const bySid = new Map<Sid, { patches: SlotPatch[]; indexes: number[] }>();
    items.forEach((item, index) => {
      storeOf(item.sid);
      let group = bySid.get(item.sid);
      if (!group) bySid.set(item.sid, (group = { patches: [], indexes: [] }));
      group.patches.push({ item, payload: payloads[index]! });
      group.indexes.push(index);
    });
    const outcomes = new Array<protocol.WriteOutcome>(items.length);
    // allSettled, as for write: the payloads are borrowed.
    const settled = await Promise.allSettled([...bySid].map(async ([sid, group]) => {
      const results = await storeOf(sid).patch(group.patches, durable);
      results.forEach((outcome, position) => (outcomes[group.indexes[position]!] = outcome));
    }));
    for (const result of settled) if (result.status === 'rejected') throw result.reason;
    return { result: { outcomes } };
  });

  server.handle(protocol.read, async ({ sid, fid, fromStripe, count, range }) => {
    const store = storeOf(sid);
    const read = await store.read(fid, fromStripe, count, range);
    return { result: { stripes: read.stripes }, payloads: read.payloads, onWritten: () => store.releaseRead(read) };
  });

  server.handle(protocol.truncate, async ({ sid, fid, stripeCount }) => {
    await storeOf(sid).truncate(fid, stripeCount);
    return { result: {} };
  });

  server.handle(protocol.punch, async ({ sid, fid, fromStripe, count }) => {
    await storeOf(sid).punch(fid, fromStripe, count);
    return { result: {} };
  });

  server.handle(protocol.remove, async ({ sid, fid, untouchedSinceMs }) => {
    const removed = await storeOf(sid).delete(fid, untouchedSinceMs);
    return { result: removed === 'kept' ? { existed: true, kept: true } : { existed: removed } };
  });

  server.handle(protocol.removeMany, async ({ sid, fids }) => ({ result: { existed: await storeOf(sid).deleteMany(fids) } }));

  server.handle(protocol.list, async ({ sid, after, limit }) => ({ result: await storeOf(sid).list(after, limit) }));

  server.handle(protocol.stat, async ({ sids }) => {
    const chosen = sids ? sids.map(storeOf) : [...stores.values()];
    return { result: { sids: await Promise.all(chosen.map((store) => store.stat())) } };
  });

  server.handle(protocol.scrub, async ({ sid, cursor, slotsMax }) => ({ result: await storeOf(sid).scrub(cursor, slotsMax) }));
}

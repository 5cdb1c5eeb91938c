/**
 * Registers every namespace.* method of common/protocol/exportd-namespace.ts
 * on exportd's RPC server. Arguments arrive decoded (the method's decoder
 * ran); a MosaicError thrown by the namespace reaches the client with its code.
 */
import { MosaicError } from '../../common/errors.js';
import * as proto from '../../common/protocol/exportd-namespace.js';
import type { RpcServer } from '../../common/rpc/server.js';
import type { Namespace } from './namespace.js';

export function registerNamespaceHandlers(server: RpcServer, namespace: Namespace): void {
  const reply = <R>(promise: Promise<R>): Promise<{ result: R }> => promise.then((result) => ({ result }));
  server
    .handle(proto.lookup, (args) => reply(namespace.lookup(args)))
    .handle(proto.getattr, (args) => reply(namespace.getattr(args)))
    .handle(proto.setattr, (args) => reply(namespace.setattr(args)))
    .handle(proto.mknod, (args) => reply(namespace.mknod(args)))
    .handle(proto.create, (args) => reply(namespace.create(args)))
    .handle(proto.mkdir, (args) => reply(namespace.mkdir(args)))
    .handle(proto.symlink, (args) => reply(namespace.symlink(args)))
    .handle(proto.readlink, (args) => reply(namespace.readlink(args)))
    .handle(proto.unlink, (args) => reply(namespace.unlink(args)))
    .handle(proto.rmdir, (args) => reply(namespace.rmdir(args)))
    .handle(proto.rename, (args) => reply(namespace.rename(args)))
    .handle(proto.link, (args) => reply(namespace.link(args)))
    .handle(proto.readdir, (args) => reply(namespace.readdir(args)))
    .handle(proto.statfs, (args) => reply(namespace.statfs(args.exportId)))
    .handle(proto.access, (args) => reply(namespace.access(args)))
    .handle(proto.setxattr, (args) => reply(namespace.setxattr(args)))
    .handle(proto.getxattr, (args) => reply(namespace.getxattr(args)))
    .handle(proto.listxattr, (args) => reply(namespace.listxattr(args)))
    .handle(proto.removexattr, (args) => reply(namespace.removexattr(args)))
    .handle(proto.open, (args) => reply(namespace.open(args)))
    .handle(proto.release, (args) => reply(namespace.release(args)))
    .handle(proto.releaseMany, (args) => reply(namespace.releaseMany(args)))
    .handle(proto.renewSession, (args) => reply(namespace.renewSession(args)))
    .handle(proto.commitWrite, (args) => reply(namespace.commitWrite(args)))
    .handle(proto.sync, (args) => reply(namespace.sync(args.exportId)))
    .handle(proto.reportRepair, async (args) => {
      if (!(await namespace.queueRepair({ ino: args.ino, reason: args.reason }, args.exportId))) {
        throw new MosaicError('ENOENT', `inode ${args.ino} is not a regular file of export ${args.exportId}`);
      }
      return { result: {} };
    });
}

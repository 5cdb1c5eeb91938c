/**
 * What the NBD server serves: a block device (fixed size, byte-addressed)
 * and a catalog of named exports. The server validates every request
 * against sizeBytes and the limits before calling a device, so a device
 * only ever sees in-range, non-empty requests of at most the server's
 * payload bound; a device reports failures by throwing (a MosaicError's
 * code picks the NBD error).
 *
 * Consistency the server relies on (it advertises NBD_FLAG_CAN_MULTI_CONN):
 * every connection to one export gets the same BlockDevice object, so a
 * read on any connection sees every write completed on any other, and
 * flush() makes every completed write durable, whichever connection did it.
 */

/** One run of the base:allocation map, starting where the previous one ended. */
export interface Extent {
  lengthBytes: number;
  /** Nothing is allocated on storage for these bytes. */
  hole: boolean;
  /** The bytes read as zeros. */
  zero: boolean;
}

export interface BlockDevice {
  readonly sizeBytes: number;
  /** Writes, trims and zeroing are refused (EPERM) before reaching the device. */
  readonly readOnly: boolean;
  /** The I/O size the device prefers (NBD_INFO_BLOCK_SIZE preferred): a stripe for Mosaic. */
  readonly preferredBlockBytes: number;
  /**
   * The lengthBytes bytes at offsetBytes (holes read as zeros), in a Buffer
   * of the device's that the server sends and then hands back through
   * releaseRead (so a device can reply from pooled buffers).
   */
  read(offsetBytes: number, lengthBytes: number): Promise<Buffer>;
  /** The server is done with a buffer read() returned: its reply was written (or the connection is gone). */
  releaseRead(data: Buffer): void;
  /**
   * Writes the pieces back to back from offsetBytes (a WRITE payload, in
   * buffers the server reuses once the promise settles: the device copies
   * them, never keeps or changes them). With `fua`, the bytes are durable
   * when the promise resolves.
   */
  write(offsetBytes: number, pieces: readonly Buffer[], fua: boolean): Promise<void>;
  /**
   * write() of a payload the device takes over, when it has this method:
   * `payload` is a buffer of the server's payload pool (the device's own
   * pool: NbdServerOptions.payloads), which the device keeps (no copy) or
   * gives back to that pool; the server never touches it again.
   */
  writeTaking?(offsetBytes: number, payload: Buffer, fua: boolean): Promise<void>;
  /** Every write completed before the call is durable when it resolves. */
  flush(): Promise<void>;
  /** The range may be deallocated; afterwards it reads as zeros (we promise zeros, NBD allows anything). */
  trim(offsetBytes: number, lengthBytes: number, fua: boolean): Promise<void>;
  /** The range reads as zeros; `mayTrim` (no NBD_CMD_FLAG_NO_HOLE) lets whole blocks be deallocated. */
  writeZeroes(offsetBytes: number, lengthBytes: number, mayTrim: boolean, fua: boolean): Promise<void>;
  /**
   * Allocation from offsetBytes: extents in order, covering at least one
   * byte and at most lengthBytes. Reporting data where there is a hole is
   * always allowed; a hole where there is data never is.
   */
  allocation(offsetBytes: number, lengthBytes: number): Promise<Extent[]>;
}

export interface ExportEntry {
  name: string;
  description?: string;
}

/** A device lent to one connection; release() once, when the connection ends. */
export interface OpenedExport {
  device: BlockDevice;
  description?: string;
  release(): Promise<void>;
}

export interface ExportCatalog {
  /** The exports NBD_OPT_LIST names. */
  list(): Promise<ExportEntry[]>;
  /**
   * The device behind `name` ("" is the default export, if the catalog has
   * one). Throws MosaicError ENOENT for an unknown name.
   */
  open(name: string): Promise<OpenedExport>;
}

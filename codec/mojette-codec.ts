/**
 * The Mojette erasure code as RozoFS uses it: n projections of the k-row
 * grid along directions (p_i, 1) (mojette-geometry.ts), any k of which
 * rebuild it by corner peeling (mojette-plan.ts). Not systematic: every
 * read decodes, from the k present projections of smallest |p|.
 *
 * Invariants:
 *   - arguments are checked here, the arithmetic runs in a backend
 *     (mojette-backend.ts): WebAssembly SIMD where the engine has it, JS
 *     typed-array loops otherwise; both give the same bytes;
 *   - the work runs synchronously on the calling thread inside each call
 *     (no await between start and end), so a backend's scratch is never
 *     shared by two calls. A call costs stripeBytes at the rates of the
 *     codec benchmark in event-loop time (4 x 64 KiB: about 0.1 ms);
 *   - reconstruction plans are cached per set of k projections used, at
 *     most C(n, k) of them (495 for layout2), each a few hundred bytes.
 */
import { MosaicError } from '../common/errors.js';
import { checkDecodeArgs, checkEncodeArgs, checkReconstructArgs } from './codec-args.js';
import type { ErasureCodec } from './codec.js';
import type { Layout } from './layout.js';
import type { MojetteBackend, MojetteBackendName } from './mojette-backend.js';
import { MojetteGeometry } from './mojette-geometry.js';
import { JsMojetteBackend } from './mojette-js.js';
import { chooseProjections, planFor, type ReconstructionPlan } from './mojette-plan.js';
import { WasmMojetteBackend, wasmSimdAvailable } from './mojette-wasm.js';

export const DEFAULT_MOJETTE_BACKEND: MojetteBackendName = wasmSimdAvailable ? 'wasm' : 'js';

export class MojetteCodec implements ErasureCodec {
  readonly layout: Layout;
  readonly k: number;
  readonly m: number;
  readonly n: number;
  readonly shardBytes: number;
  readonly stripeBytes: number;
  readonly projectionBytesMax: number;
  readonly geometry: MojetteGeometry;
  readonly backend: MojetteBackend;
  readonly #plans = new Map<number, ReconstructionPlan>();

  constructor(layout: Layout, shardBytes: number, backend: MojetteBackendName = DEFAULT_MOJETTE_BACKEND) {
    this.layout = { ...layout };
    this.k = layout.k;
    this.m = layout.m;
    this.n = layout.k + layout.m;
    this.shardBytes = shardBytes;
    this.stripeBytes = this.k * shardBytes;
    this.geometry = new MojetteGeometry(this.k, this.m, shardBytes);
    let max = 0;
    for (let i = 0; i < this.n; i++) max = Math.max(max, this.geometry.projectionBytes(i));
    this.projectionBytesMax = max;
    this.backend = backend === 'wasm' ? new WasmMojetteBackend(this.geometry, shardBytes) : new JsMojetteBackend(this.geometry, shardBytes);
  }

  projectionBytes(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.n) throw MosaicError.invalid(`projection index ${index} is not in 0..${this.n - 1}`);
    return this.geometry.projectionBytes(index);
  }

  async encode(stripe: Buffer, projections: readonly Buffer[]): Promise<void> {
    checkEncodeArgs(this, stripe, projections);
    this.backend.encode(stripe, projections);
  }

  async decode(projections: readonly (Buffer | undefined)[], stripe: Buffer): Promise<void> {
    const present = checkDecodeArgs(this, projections, stripe);
    this.backend.decode(this.#planFor(present), projections, stripe);
  }

  async reconstruct(projections: readonly (Buffer | undefined)[], missing: readonly number[], out: readonly Buffer[]): Promise<void> {
    const present = checkReconstructArgs(this, projections, missing, out);
    this.backend.reconstruct(this.#planFor(present), projections, missing, out);
  }

  #planFor(present: number): ReconstructionPlan {
    const chosen = chooseProjections(this.geometry, present);
    let plan = this.#plans.get(chosen);
    if (plan === undefined) {
      plan = planFor(this.geometry, chosen);
      this.#plans.set(chosen, plan);
    }
    return plan;
  }
}

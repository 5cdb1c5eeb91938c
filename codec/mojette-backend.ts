/**
 * Where the Mojette arithmetic runs: WebAssembly SIMD (mojette-wasm.ts,
 * the default where the engine has it) or typed-array loops in JS
 * (mojette-js.ts, the fallback). Both get checked arguments and a
 * reconstruction plan from MojetteCodec and produce the same bytes; every
 * call runs to completion synchronously, so a backend's scratch is never
 * shared by two calls.
 */
import type { ReconstructionPlan } from './mojette-plan.js';

export type MojetteBackendName = 'wasm' | 'js';

export interface MojetteBackend {
  readonly name: MojetteBackendName;
  /** Fills projections[i] (projectionBytes(i) long) for every i < n. */
  encode(stripe: Buffer, projections: readonly Buffer[]): void;
  /** Rebuilds the stripe from the k projections the plan names. */
  decode(plan: ReconstructionPlan, projections: readonly (Buffer | undefined)[], stripe: Buffer): void;
  /** Rebuilds the grid, then re-creates projection missing[j] into out[j]. */
  reconstruct(plan: ReconstructionPlan, projections: readonly (Buffer | undefined)[], missing: readonly number[], out: readonly Buffer[]): void;
}

/**
 * Loads CommonJS native addons from ESM (`@ronomon/reed-solomon` points its
 * `main` at a `.node` file, which `import` cannot load).
 */
import { createRequire } from 'node:module';

export const requireNative = createRequire(import.meta.url);

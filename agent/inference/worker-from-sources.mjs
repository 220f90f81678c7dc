// Starts the model's worker (worker-entry.ts) where the agent runs from its TypeScript sources (tsx, vitest): a
// worker thread on Node 20 does not get the parent's tsx loader, so it registers its own first. Built by
// `tsc -p tsconfig.build.json`, the agent starts dist/agent/inference/worker-entry.js directly and never loads this.
import { register } from 'tsx/esm/api';

register();
await import('./worker-entry.ts');

// Worker entry: Node 20 workers do not inherit tsx's loader hooks, so register them here, then load the
// TypeScript worker.
import { register } from '../../node_modules/tsx/dist/esm/api/index.mjs';

register();
await import('./worker.ts');

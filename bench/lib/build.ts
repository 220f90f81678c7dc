// Compiles the agent as it is deployed (tsc -p tsconfig.build.json, plain node, no TypeScript loader) into a
// temporary package root, so that memory is measured on the production process, apart from the repository's dist/.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../agent/paths.js';

/** Returns the package root holding dist/agent/main.js (and links to what the agent reads at run time). */
export function buildAgent(): string {
  const root = mkdtempSync(join(tmpdir(), 'bench-build-'));
  execFileSync(process.execPath, [join(PACKAGE_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(PACKAGE_ROOT, 'tsconfig.build.json'), '--outDir', join(root, 'dist')], {
    stdio: 'inherit',
  });
  copyFileSync(join(PACKAGE_ROOT, 'package.json'), join(root, 'package.json'));
  for (const d of ['node_modules', 'agent', 'config', 'models']) symlinkSync(join(PACKAGE_ROOT, d), join(root, d));
  return root;
}

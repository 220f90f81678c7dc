// Compiles the agent as it is deployed (tsc -p tsconfig.build.json, plain node, no TypeScript loader) into a
// temporary package root, so that memory is measured on the production process, apart from the repository's dist/.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { execForm, parseDockerfile, stages } from '../../test/deploy/dockerfile.js';

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

/** The environment the module's image sets for the agent (its runtime stage's ENV lines: MALLOC_ARENA_MAX). */
export function deployedEnv(): Record<string, string> {
  const text = readFileSync(join(PACKAGE_ROOT, 'deploy/iotedge/modules/bedside-agent/Dockerfile.amd64'), 'utf8');
  const runtime = stages(parseDockerfile(text)).at(-1)!;
  const env: Record<string, string> = {};
  for (const i of runtime.instructions.filter((x) => x.keyword === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
  }
  return env;
}

/** The node flags the IoT Edge module starts the agent with (its Dockerfile's ENTRYPOINT, between node and the script). */
export function deployedNodeFlags(): string[] {
  const text = readFileSync(join(PACKAGE_ROOT, 'deploy/iotedge/modules/bedside-agent/Dockerfile.amd64'), 'utf8');
  const ep = parseDockerfile(text).filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
  const args = ep ? execForm(ep.args) : null;
  if (!args || args[0] !== 'node' || args.at(-1) !== 'dist/agent/main.js') throw new Error(`unexpected ENTRYPOINT in Dockerfile.amd64: ${ep?.args}`);
  return args.slice(1, -1);
}

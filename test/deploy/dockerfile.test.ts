// Static lint of the module's Dockerfiles (no Docker engine here): the properties the deployment relies on.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { buildPaths, readModuleJson } from './iotedge.js';
import { execForm, parseDockerfile, stages, type Instruction } from './dockerfile.js';

const AGENT = 'bedside-agent';
const platforms = Object.keys(readModuleJson(AGENT).json.image.tag.platforms);
const BASE: Record<string, RegExp> = { amd64: /^node:20-[a-z]+-slim$/, arm64v8: /^arm64v8\/node:20-[a-z]+-slim$/ };

const read = (p: string) => readFileSync(buildPaths(AGENT, p).dockerfile, 'utf8');
const find = (ins: Instruction[], kw: string) => ins.filter((i) => i.keyword === kw);

describe.each(platforms)('Dockerfile.%s', (platform) => {
  const text = read(platform);
  const all = parseDockerfile(text);
  const st = stages(all);
  const build = st[0]!;
  const runtime = st.at(-1)!;

  it('is multi-stage: a named build stage with the toolchain, a runtime stage without it, both on the Node 20 base for this platform', () => {
    expect(st.length).toBeGreaterThanOrEqual(2);
    expect(build.name).toBeDefined();
    for (const s of st) expect(s.from, s.from).toMatch(BASE[platform]!);
    const buildRuns = find(build.instructions, 'RUN').map((i) => i.args).join('\n');
    expect(buildRuns).toMatch(/apt-get install[^\n]*\bg\+\+/);
    expect(buildRuns).toMatch(/\bnpm ci\b/);
    expect(buildRuns).toMatch(/npm run build/);
    expect(buildRuns).toMatch(/npm prune --omit=dev/);
    const runtimeRuns = find(runtime.instructions, 'RUN').map((i) => i.args).join('\n');
    expect(runtimeRuns).not.toMatch(/g\+\+|build-essential|\bmake\b|python3/);
  });

  it('builds the native modules in the image, with ONNXRUNTIME_NODE_INSTALL=skip, and checks they load', () => {
    const env = find(build.instructions, 'ENV').map((i) => i.args).join(' ');
    expect(env).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
    expect(env).toMatch(/npm_config_build_from_source=true/);
    const runs = find(build.instructions, 'RUN').map((i) => i.args).join('\n');
    for (const mod of ['better-sqlite3', '@serialport/bindings-cpp', 'onnxruntime-node']) expect(runs).toContain(`require('${mod}')`);
  });

  it('copies node_modules and dist from the build stage into the runtime stage, and only files that exist', () => {
    const copies = find(runtime.instructions, 'COPY');
    const fromBuild = copies.filter((c) => c.args.startsWith(`--from=${build.name}`)).map((c) => c.args);
    expect(fromBuild.some((a) => /\/app\/node_modules\s/.test(a))).toBe(true);
    expect(fromBuild.some((a) => /\/app\/dist\s/.test(a))).toBe(true);
    // Every COPY from the build context names something in the repository (the context is its root).
    for (const c of [...find(build.instructions, 'COPY'), ...copies]) {
      if (c.args.startsWith('--from=')) continue;
      const parts = c.args.replace(/--\S+\s+/g, '').split(/\s+/);
      for (const src of parts.slice(0, -1)) expect(existsSync(join(PACKAGE_ROOT, src)), `line ${c.line}: ${src}`).toBe(true);
    }
  });

  it('runs as a non-root user who is in the dialout group', () => {
    const users = find(runtime.instructions, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(':')[0]!;
    expect(user).not.toMatch(/^(root|0)$/);
    const runs = find(runtime.instructions, 'RUN').map((i) => i.args).join('\n');
    expect(runs).toMatch(new RegExp(`useradd[^\\n]*--groups dialout[^\\n]*\\b${user}\\b`));
    // The user is set before the process starts: no RUN after it needs root, and HEALTHCHECK/ENTRYPOINT run as it.
    expect(find(runtime.instructions, 'RUN').every((r) => r.line < users.at(-1)!.line)).toBe(true);
  });

  it('has a HEALTHCHECK that runs the shipped health check script against GET /healthz', () => {
    const hc = find(runtime.instructions, 'HEALTHCHECK');
    expect(hc).toHaveLength(1);
    const m = /^(.*?)\bCMD\s+(.*)$/.exec(hc[0]!.args);
    expect(m).not.toBeNull();
    expect(m![1]).toMatch(/--interval=\d+s/);
    expect(m![1]).toMatch(/--timeout=\d+s/);
    const cmd = execForm(m![2]!);
    expect(cmd?.[0]).toBe('node');
    const script = cmd![1]!;
    const copied = find(runtime.instructions, 'COPY').find((c) => c.args.endsWith(script.replace('/app/', './')) || c.args.endsWith(script));
    expect(copied, `a COPY that puts ${script} into the image`).toBeDefined();
    const src = copied!.args.split(/\s+/)[0]!;
    expect(readFileSync(join(PACKAGE_ROOT, src), 'utf8')).toContain('/healthz');
  });

  it('starts the compiled agent in exec form (so SIGTERM from the IoT Edge agent reaches node)', () => {
    const ep = find(runtime.instructions, 'ENTRYPOINT').at(-1) ?? find(runtime.instructions, 'CMD').at(-1);
    expect(execForm(ep!.args)).toEqual(['node', '--max-semi-space-size=4', 'dist/agent/main.js']);
    // `npm start` runs the agent with the same node flags as the module.
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
    expect(pkg.scripts.start).toContain(execForm(ep!.args)!.join(' '));
    // dist/agent/main.js is what `npm run build` (tsconfig.build.json) makes of agent/main.ts.
    const build = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    expect(build.include).toContain('agent');
    expect(existsSync(join(PACKAGE_ROOT, 'agent', 'main.ts'))).toBe(true);
  });

  it('holds no secrets and no ADD of remote files', () => {
    for (const i of all) {
      if (['ENV', 'ARG', 'LABEL'].includes(i.keyword)) {
        expect(i.args, `line ${i.line}`).not.toMatch(/(PASSWORD|SECRET|TOKEN|CONNECTION_STRING|SharedAccessKey|_KEY)\s*=/i);
      }
      expect(i.keyword === 'ADD' && /https?:\/\//.test(i.args), `line ${i.line}`).toBe(false);
    }
    expect(text).not.toMatch(/SharedAccessKey=|-----BEGIN [A-Z ]*PRIVATE KEY/);
  });

  it('has a Dockerfile-specific .dockerignore that keeps stores, captures and secrets out of the build context', () => {
    const ignore = readFileSync(`${buildPaths(AGENT, platform).dockerfile}.dockerignore`, 'utf8');
    for (const pattern of ['**/*.db', '**/*.jsonl', '**/node_modules', '**/.env']) expect(ignore.split('\n')).toContain(pattern);
    // Deny by default: the first rule ignores everything, later `!` rules let the needed files back in.
    const rules = ignore.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(rules[0]).toBe('*');
  });
});

it('the Dockerfiles for all platforms differ only in their base image and comments', () => {
  const norm = (p: string) =>
    parseDockerfile(read(p))
      .map((i) => `${i.keyword} ${i.args}`.replace(/^FROM \S+/, 'FROM <base>'))
      .join('\n');
  const [first, ...rest] = platforms;
  for (const p of rest) expect(norm(p), `${p} vs ${first}`).toBe(norm(first!));
  expect(relative(PACKAGE_ROOT, buildPaths(AGENT, first!).context)).toBe('');
});

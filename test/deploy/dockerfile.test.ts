// Static lint of the module's Dockerfiles (no Docker engine here): the properties the deployment relies on.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { buildPaths, readModuleJson } from './iotedge.js';
import { dockerignore, execForm, parseDockerfile, stages, type Instruction } from './dockerfile.js';
import { execFileSync } from 'node:child_process';

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
    expect(execForm(ep!.args)).toEqual(['node', '--max-semi-space-size=4', '--max-old-space-size=512', 'dist/agent/main.js']);
    // `npm start` runs the agent with the same node flags as the module.
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
    expect(pkg.scripts.start).toContain(execForm(ep!.args)!.join(' '));
    // And with the same malloc setting (glibc reads it at start, so it is the image's ENV, not the agent's).
    const env = find(runtime.instructions, 'ENV').map((i) => i.args);
    expect(env).toContain('MALLOC_ARENA_MAX=2');
    expect(pkg.scripts.start).toContain('MALLOC_ARENA_MAX=2 node ');
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

  it('is built for its platform (FROM --platform as in module.json) and checks the architecture it runs on', () => {
    const want = { amd64: ['linux/amd64', 'x64'], arm64v8: ['linux/arm64', 'arm64'] }[platform]!;
    for (const f of find(all, 'FROM')) expect(f.args, `line ${f.line}`).toMatch(new RegExp(`^--platform=${want[0]}\\s`));
    expect(find(build.instructions, 'RUN').map((i) => i.args).join('\n')).toContain(`process.arch !== '${want[1]}'`);
  });

  it('every file the build COPYs reaches the build context through its .dockerignore, and so does every source file tsc compiles', () => {
    const ignored = dockerignore(readFileSync(`${buildPaths(AGENT, platform).dockerfile}.dockerignore`, 'utf8'));
    const tracked = execFileSync('git', ['ls-files'], { cwd: PACKAGE_ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    const sources: string[] = [];
    for (const c of [...find(build.instructions, 'COPY'), ...find(runtime.instructions, 'COPY')]) {
      if (c.args.startsWith('--from=')) continue;
      const parts = c.args.replace(/--\S+\s+/g, '').split(/\s+/);
      for (const src of parts.slice(0, -1)) {
        const files = tracked.filter((f) => f === src || f.startsWith(`${src.replace(/\/$/, '')}/`));
        expect(files.filter((f) => !ignored(f)).length, `line ${c.line}: nothing of ${src} reaches the context`).toBeGreaterThan(0);
        if (build.instructions.includes(c)) sources.push(src.replace(/\/$/, ''));
      }
    }
    // What `npm run build` compiles: agent, drivers and what they import (models/features).
    const compiled = execFileSync(process.execPath, [join(PACKAGE_ROOT, 'node_modules/typescript/bin/tsc'), '--listFilesOnly', '-p', 'tsconfig.build.json'], { cwd: PACKAGE_ROOT, encoding: 'utf8' })
      .split('\n')
      .map((f) => relative(PACKAGE_ROOT, f.trim()))
      .filter((f) => f.endsWith('.ts') && !f.startsWith('..') && !f.startsWith('node_modules/'));
    expect(compiled.length).toBeGreaterThan(50);
    for (const f of compiled) {
      expect(ignored(f), `${f} is compiled but left out of the context`).toBe(false);
      expect(sources.some((s) => f === s || f.startsWith(`${s}/`)), `${f} is compiled but no build-stage COPY brings it`).toBe(true);
    }
  });

  it('has a Dockerfile-specific .dockerignore that keeps stores, captures and secrets out of the build context', () => {
    const ignore = readFileSync(`${buildPaths(AGENT, platform).dockerfile}.dockerignore`, 'utf8');
    for (const pattern of ['**/*.db', '**/*.jsonl', '**/node_modules', '**/.env']) expect(ignore.split('\n')).toContain(pattern);
    // Deny by default: the first rule ignores everything, later `!` rules let the needed files back in.
    const rules = ignore.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(rules[0]).toBe('*');
    // The same rules at the context root, for builders that read only that file (iotedgedev, through docker-py).
    const rootRules = readFileSync(join(PACKAGE_ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(rootRules).toEqual(rules);
    const left = dockerignore(ignore);
    for (const f of ['data/agent.db', 'node_modules/x/index.js', '.git/HEAD', 'test-artifacts/display.png', 'agent/ingest.test.ts', 'deploy/iotedge/.env']) expect(left(f), f).toBe(true);
  });
});

it('the Dockerfiles for all platforms differ only in their base image, platform, architecture check and comments', () => {
  const norm = (p: string) =>
    parseDockerfile(read(p))
      .map((i) =>
        `${i.keyword} ${i.args}`
          .replace(/^FROM (--platform=\S+ )?\S+/, 'FROM <base>')
          .replace(/'(x64|arm64)'/g, "'<arch>'")
          .replace(/not (x64|arm64)'/g, "not <arch>'"),
      )
      .join('\n');
  const [first, ...rest] = platforms;
  for (const p of rest) expect(norm(p), `${p} vs ${first}`).toBe(norm(first!));
  expect(relative(PACKAGE_ROOT, buildPaths(AGENT, first!).context)).toBe('');
});

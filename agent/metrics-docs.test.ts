// docs/metrics.md names every metric the agent emits, and nothing else (review rv154 F3). The names are read from the
// source: literal names given to Metrics (inc, counter, declare, gauge, the WATCHED lists, ingest's bySource), and
// the drivers' counters (ctx.count / hooks.count, exposed as driver_<counter>_total), by driver folder. Names built at
// run time from a closed set are expanded here from the union or table that bounds them (see FAMILIES).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

/** Source files of the running agent: no tests and no test rigs (fakes, device simulators used only by tests). */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !/\.test\.ts$|test-support|test-helpers|testing\.ts$|fake-|-rig\.ts$/.test(e.name)) out.push(p);
  }
  return out;
}

const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');
const all = (re: RegExp, text: string): string[] => [...text.matchAll(re)].map((m) => m[1]!);

/** The string literals of a type or table, from the line `start` matches to the first `;` (a union) or `};` (a table). */
function literals(file: string, start: RegExp, end = ';'): string[] {
  const text = read(file);
  const at = text.search(start);
  if (at < 0) throw new Error(`${file}: ${start} not found (the test must follow the code)`);
  return all(/'([^']+)'/g, text.slice(at, text.indexOf(end, at)));
}

const snake = (s: string): string => s.replaceAll('-', '_');

/** Counters whose name is built from a value of a closed set: folder → names (each with where the set is). */
const FAMILIES: Record<string, () => string[]> = {
  // session.ts badFrame(): `frames_bad_checksum`, else `frames_${reason}` (framer.ts bad-frame reasons).
  medibus: () => [
    ...literals('drivers/medibus/protocol/framer.ts', /(?<=type: 'bad-frame'; kind: FrameKind; )reason:/).map((r) => (r === 'checksum' ? 'frames_bad_checksum' : `frames_${snake(r)}`)),
    // index.ts: `breath_${ev.phase}` (protocol/realtime.ts).
    ...literals('drivers/medibus/protocol/realtime.ts', /(?<=type: 'phase'; )phase:/, '}').map((p) => `breath_${p}`),
    // session.ts write(bytes, counter): the counter of each kind of message written.
    ...all(/this\.write\([^;]*?,\s*'([a-z][a-z0-9_]*)'\)/g, read('drivers/medibus/session.ts')),
  ],
  intellivue: () => [
    // session.ts handleFrame(): `frames_bad_fcs`, else `frames_${reason}` (protocol/framer.ts BadFrameReason).
    ...literals('drivers/intellivue/protocol/framer.ts', /export type BadFrameReason =/).map((r) => (r === 'fcs' ? 'frames_bad_fcs' : `frames_${snake(r)}`)),
    // session.ts: `polls_sent_${kind}` (PollKind).
    ...literals('drivers/intellivue/session.ts', /type PollKind =/).map((k) => `polls_sent_${k}`),
  ],
  hl7: () => [
    // handler.ts: `parser_${kind}` (protocol/types.ts Hl7WarningKind) and `mapping_${kind}` (pcd01.ts MapWarning).
    ...literals('drivers/hl7/protocol/types.ts', /export type Hl7WarningKind =/).map((k) => `parser_${snake(k)}`),
    ...literals('drivers/hl7/pcd01.ts', /export interface MapWarning \{/, '\n  text').map((k) => `mapping_${snake(k)}`),
    // server.ts: `acks_${code}`, the acknowledgement codes the driver writes (ackplan.ts).
    ...['aa', 'ae', 'ar', 'ca', 'ce', 'cr'].map((c) => `acks_${c}`),
  ],
  modbus: () => [
    // faults.ts: `exception_${name ?? 'other'}` (the EXCEPTIONS table).
    ...all(/name: '([a-z_]+)'/g, read('drivers/modbus/faults.ts').slice(read('drivers/modbus/faults.ts').indexOf('const EXCEPTIONS'))).map((n) => `exception_${n}`),
    'exception_other',
  ],
};

/** Metric names given to Metrics in agent/ (and drivers/, which should have none). */
function agentMetrics(): Set<string> {
  const names = new Set<string>();
  for (const f of [...sources('agent'), ...sources('drivers')]) {
    const text = read(f);
    for (const n of all(/\.(?:inc|counter|declare|gauge)\(\s*'([a-z][a-z0-9_]*)'/g, text)) names.add(n);
    for (const n of all(/bySource\(\s*metrics,\s*'([a-z][a-z0-9_]*)'\)/g, text)) names.add(n);
  }
  // The WATCHED lists: [name, labels?] pairs.
  for (const n of all(/\[\s*'([a-z][a-z0-9_]*_total)'/g, read('agent/metrics.ts'))) names.add(n);
  return names;
}

/** The drivers' counters by folder (drivers/serial: the link and device code the serial drivers share). */
function driverCounters(): Map<string, Set<string>> {
  const byFolder = new Map<string, Set<string>>();
  for (const f of sources('drivers')) {
    const folder = relative('drivers', f).split('/')[0]!;
    if (!folder || folder.endsWith('.ts')) continue;
    const text = read(f);
    const set = byFolder.get(folder) ?? new Set<string>();
    // count('x'), count(cond ? 'x' : 'y'), and `counter: 'x'` (faults, notices, problems and log fields naming theirs).
    // A literal compared with (e.kind === 'alarm' ? …) is a condition, not a name.
    for (const arg of all(/\.count\(([^;]*?)\)[;,\n]/g, text)) for (const n of all(/'([a-z][a-z0-9_]*)'/g, arg.replace(/[!=]==?\s*'[^']*'/g, ''))) set.add(n);
    for (const n of all(/counter: '([a-z][a-z0-9_]*)'/g, text)) set.add(n);
    byFolder.set(folder, set);
  }
  for (const [folder, names] of Object.entries(FAMILIES)) for (const n of names()) byFolder.get(folder)!.add(n);
  return byFolder;
}

/** docs/metrics.md: rows whose first cell is a `bedside_…` name; driver counters in the section of their folder. */
function documented(): { agent: Set<string>; drivers: Map<string, Set<string>> } {
  const agent = new Set<string>();
  const drivers = new Map<string, Set<string>>();
  let folder: string | null = null;
  for (const line of read('docs/metrics.md').split('\n')) {
    // Driver sections: "### Driver `hl7-mllp` (drivers/hl7)".
    const h = /^#{2,4} .*\(drivers\/([a-z0-9-]+)\)/.exec(line);
    if (h) folder = h[1]!;
    else if (/^#{2,4} /.test(line)) folder = null;
    const row = /^\| `([a-z][a-z0-9_]*)`/.exec(line);
    if (!row) continue;
    if (row[1]!.startsWith('bedside_')) agent.add(row[1]!.slice('bedside_'.length));
    else if (folder) (drivers.get(folder) ?? drivers.set(folder, new Set()).get(folder)!).add(row[1]!);
  }
  return { agent, drivers };
}

describe('docs/metrics.md', () => {
  it('documents every metric the agent emits, and no other', () => {
    // The drivers' own counters (driver_<counter>_total{driver=…}, agent.ts) are documented by driver: next test.
    const code = agentMetrics();
    const docs = documented();
    expect([...code].filter((n) => !docs.agent.has(n)).sort(), 'in the code, missing from docs/metrics.md').toEqual([]);
    expect([...docs.agent].filter((n) => !code.has(n)).sort(), 'in docs/metrics.md, not in the code').toEqual([]);
  });

  it('documents every driver counter under its driver, and no other', () => {
    const code = driverCounters();
    const docs = documented().drivers;
    const missing: string[] = [];
    const extra: string[] = [];
    for (const [folder, names] of code) for (const n of names) if (!docs.get(folder)?.has(n)) missing.push(`${folder}: ${n}`);
    for (const [folder, names] of docs) for (const n of names) if (!code.get(folder)?.has(n)) extra.push(`${folder}: ${n}`);
    expect(missing.sort(), 'counted in the code, missing from docs/metrics.md').toEqual([]);
    expect(extra.sort(), 'in docs/metrics.md, not counted in the code').toEqual([]);
  });
});

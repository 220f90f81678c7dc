// Memory of the agent as deployed: `node <the module's node flags> dist/agent/main.js` (compiled, no TypeScript loader) with the default
// configuration's parts on — simulator driver with waveforms, alarms, the bedside display, the edge model, the
// twin — forwarding to the IoT Hub stand-in (its own process). Peak RSS (the kernel's VmHWM) at 32 and 128 beds
// over --minutes (10 in the full run), against the same agent with no driver at all (the baseline: what the
// process costs before any bed). Then a soak at 128 beds for --soak-minutes: RSS sampled every second, growth =
// mean RSS of the last quarter against the second quarter (the first quarter is warm-up), and the slope of a
// least-squares line over the second half. The soak also samples, every 10 s, what the RSS is made of (the JS heap in
// use from the agent's /metrics, anonymous and file-backed RSS from /proc, the store's files on disk) and prints
// the same growth figure for each, so that a growing RSS says where it grows.
//   npx tsx bench/memory.ts [--minutes 10] [--soak-minutes 60] [--beds 32,128]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STANDIN_CA_FILE } from '../test/support/agent-config.js';
import { freePort } from '../test/support/mllp-client.js';
import { buildAgent, deployedEnv, deployedNodeFlags } from './lib/build.js';
import { arg, emitFigures, round, type Figure } from './lib/figures.js';
import { startStandinProcess, type StandinProcess } from './lib/standin.js';

const minutes = Number(arg('minutes', '10'));
const soakMinutes = Number(arg('soak-minutes', '60'));
const bedCounts = arg('beds', '32,128').split(',').map(Number);
// The bedside display is part of the deployed agent (it keeps each bed's recent waveforms for its screens);
// --display off measures the agent without it, to see what the display costs.
const display = arg('display', 'on') !== 'off';

interface Run {
  peakMB: number;
  samplesMB: number[];
  received: number;
  /** Every 10 s: what the RSS is made of (MB). */
  parts: Parts[];
}

interface Parts {
  heapUsed: number;
  heapTotal: number;
  external: number;
  anon: number;
  file: number;
  storeFiles: number;
}

function procKB(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** The agent's own memory gauges (/metrics), MB; NaN while it does not answer yet. */
async function gaugesMB(port: number): Promise<{ heapUsed: number; heapTotal: number; external: number }> {
  let text = '';
  try {
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } catch {
    // not listening yet
  }
  const g = (name: string) => {
    const m = new RegExp(`^\\w*${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
    return m ? Number(m[1]) / 2 ** 20 : Number.NaN;
  };
  return { heapUsed: g('heap_used_bytes'), heapTotal: g('heap_total_bytes'), external: g('external_memory_bytes') };
}

function fileMB(path: string): number {
  try {
    return statSync(path).size / 2 ** 20;
  } catch {
    return 0;
  }
}

async function runAgent(root: string, hub: StandinProcess, beds: number, seconds: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-mem-'));
  const port = await freePort();
  const db = join(dir, 'agent.db');
  const configPath = join(dir, 'agent.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      gateway: { id: 'bench' },
      log: { level: 'warn', pretty: 'never' },
      store: { path: db },
      hub: { mode: 'device', connectionString: hub.connectionString, caFile: STANDIN_CA_FILE },
      display: { enabled: display, host: '127.0.0.1', port },
      drivers: beds > 0 ? [{ name: 'ward-sim', type: 'simulator', options: { beds } }] : [],
    }),
  );
  const before = (await hub.stats()).telemetryReceived;
  const child = spawn(process.execPath, [...deployedNodeFlags(), join(root, 'dist/agent/main.js'), '--config', configPath], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...deployedEnv() } });
  const samplesMB: number[] = [];
  const parts: Parts[] = [];
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let alive = true;
  void exited.then(() => (alive = false));
  const end = Date.now() + seconds * 1000;
  let peak = 0;
  while (Date.now() < end && alive) {
    await new Promise((r) => setTimeout(r, 1000));
    if (!alive) break;
    try {
      samplesMB.push(procKB(child.pid!, 'VmRSS') / 1024);
      peak = procKB(child.pid!, 'VmHWM') / 1024;
      if (samplesMB.length % 10 === 0) {
        const anon = procKB(child.pid!, 'RssAnon') / 1024;
        const file = procKB(child.pid!, 'RssFile') / 1024;
        parts.push({ ...(await gaugesMB(port)), anon, file, storeFiles: fileMB(db) + fileMB(`${db}-wal`) });
      }
    } catch {
      break; // exited between the check and the read
    }
  }
  if (!alive) throw new Error(`agent exited early (code ${await exited})`);
  child.kill('SIGTERM');
  await exited;
  rmSync(dir, { recursive: true, force: true });
  return { peakMB: peak, samplesMB, received: (await hub.stats()).telemetryReceived - before, parts };
}

function partsText(p: Parts | undefined): string {
  return p ? `${round(p.heapUsed)} MB (V8 heap ${round(p.heapTotal)} MB, external ${round(p.external)} MB), anonymous ${round(p.anon)} MB, file-backed ${round(p.file)} MB, store files ${round(p.storeFiles)} MB` : '-';
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

/** Least-squares slope of y over its index (one sample a second), in MB per hour. */
function slopePerHour(ys: number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = mean(ys);
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  });
  return (num / den) * 3600;
}

const root = buildAgent();
const hub = await startStandinProcess();
const figures: Figure[] = [];
try {
  const base = await runAgent(root, hub, 0, Math.min(30, minutes * 60));
  console.log(`no driver: peak ${round(base.peakMB)} MB`);
  for (const beds of bedCounts) {
    const r = await runAgent(root, hub, beds, minutes * 60);
    const top = Math.max(...r.samplesMB);
    console.log(
      `${beds} beds, ${minutes} min: peak ${round(r.peakMB)} MB (highest 1 s sample ${round(top)} MB at ${r.samplesMB.indexOf(top) + 1} s), ` +
        `last ${round(r.samplesMB.at(-1) ?? 0)} MB, ${r.received} messages reached the hub; RSS every 10 s: ${r.samplesMB.filter((_, i) => i % 10 === 9).map((x) => Math.round(x)).join(' ')}; ` +
        `at the end: heap used ${partsText(r.parts.at(-1))}`,
    );
    figures.push({
      bench: 'memory',
      measure: `${beds} beds, ${minutes} min${minutes < 10 ? ' (quick run; the full run takes 10 min)' : ''}: peak RSS`,
      value: round(r.peakMB),
      unit: 'MB',
      lowerIsBetter: true,
      baseline: { label: 'same agent, no driver', value: round(base.peakMB) },
      ...(beds === 128 && { target: { text: '< 200 MB at 128 beds', met: r.peakMB < 200 } }),
      note: `simulator with waveforms, alarms, ${display ? 'display' : 'no display (--display off)'}, edge model, twin; steady (last sample) ${round(r.samplesMB.at(-1) ?? 0)} MB; ${r.received} messages reached the hub`,
    });
  }
  if (soakMinutes > 0) {
    const soak = await runAgent(root, hub, 128, soakMinutes * 60);
    const q = Math.floor(soak.samplesMB.length / 4);
    const second = mean(soak.samplesMB.slice(q, 2 * q));
    const last = mean(soak.samplesMB.slice(3 * q));
    const growth = (last - second) / second;
    const slope = slopePerHour(soak.samplesMB.slice(2 * q));
    console.log(`soak 128 beds, ${soakMinutes} min: peak ${round(soak.peakMB)} MB; RSS 2nd quarter ${round(second)} MB, last quarter ${round(last)} MB; slope ${round(slope)} MB/h`);
    // Where the RSS grows: the same quarters for each part (heap in use is what the main thread's JS keeps; anonymous
    // minus V8's heap is native memory: SQLite's page cache, onnxruntime, buffers, and the model worker's own heap).
    const pq = Math.floor(soak.parts.length / 4);
    // Quarters by sample position, the same for every part; a gauge not read (no display: no /metrics) is left out of
    // its quarter, and a quarter with none is n/a, not 0 (which would read as a flat heap).
    const split = (['heapUsed', 'heapTotal', 'external', 'anon', 'file', 'storeFiles'] as const).map((k) => {
      const xs = soak.parts.map((p) => p[k]);
      const known = (ys: number[]) => ys.filter(Number.isFinite);
      const a = known(xs.slice(pq, 2 * pq));
      const b = known(xs.slice(3 * pq));
      const half = known(xs.slice(2 * pq));
      if (!a.length || !b.length || half.length < xs.slice(2 * pq).length) return `${k} n/a (not read in every sample)`;
      return `${k} ${round(mean(a))} → ${round(mean(b))} MB (slope ${round(slopePerHour(half) / 10)} MB/h)`;
    });
    console.log(`soak parts, 2nd → last quarter: ${split.join('; ')}`);
    console.log(
      `soak parts every minute (heap used / V8 heap / external / anon / file / store files, MB): ${soak.parts
        .filter((_, i) => i % 6 === 5)
        .map((p) => [p.heapUsed, p.heapTotal, p.external, p.anon, p.file, p.storeFiles].map((x) => Math.round(x)).join('/'))
        .join(' ')}`,
    );
    figures.push({
      bench: 'memory',
      measure: `soak, 128 beds, ${soakMinutes} min${soakMinutes < 60 ? ' (quick run: a short soak; the full run soaks 60 min)' : ''}: RSS growth, last vs 2nd quarter`,
      value: round(growth * 100, 2),
      unit: '%',
      lowerIsBetter: true,
      // A soak of a few minutes mostly sees buffers filling up (trends, model windows); judged in the full run only.
      target: { text: 'no growth (< 5 %) over ≥ 30 min', met: soakMinutes >= 30 ? growth < 0.05 : null },
      note: `mean RSS ${round(second)} → ${round(last)} MB; slope over the 2nd half ${round(slope)} MB/h; peak ${round(soak.peakMB)} MB`,
    });
  }
} finally {
  await hub.stop();
  rmSync(root, { recursive: true, force: true });
}
console.table(figures.map((f) => ({ measure: f.measure, value: `${f.value} ${f.unit}`, baseline: f.baseline?.value ?? '-' })));
emitFigures(figures);

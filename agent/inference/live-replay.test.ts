// Records with samples the monitor marked invalid, replayed through the whole live path: wfdb-replay → ingest
// (which stores and forwards them as 0) → the model's ring → annotation. The model must see them as NaN, as in
// training: the live annotation matches the offline assessment of the very same record.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../agent.js';
import { registry } from '../../drivers/registry.js';
import type { AlarmStateChange } from '../alarms/types.js';
import { PACKAGE_ROOT } from '../paths.js';
import { readRecord } from '../../models/records.js';
import { WFDB_INVALID_16 } from '../../models/features/wfdb.js';
import { captureLog } from '../../test/support/log.js';
import { tempDir } from '../../test/support/agent-process.js';
import { testConfig } from '../../test/support/agent-config.js';
import { COMMITTED_MODEL } from './approved.js';
import { EdgeModel } from './edge-model.js';

const RECORDS = join(PACKAGE_ROOT, 'models', 'fixtures', 'records');
const CORPUS = join(PACKAGE_ROOT, '..', 'shared', 'corpus', 'physionet-2015-false-alarms', 'windows-30s');
const corpusPresent = existsSync(CORPUS);
if (!corpusPresent) console.warn(`agent/inference/live-replay.test.ts: corpus cases skipped — corpus not found at ${CORPUS}`);

let agent: Agent | null = null;
let offline: EdgeModel;
beforeAll(async () => {
  offline = await EdgeModel.load({ modelPath: join(PACKAGE_ROOT, 'models', 'edge-model.onnx'), approved: [COMMITTED_MODEL] });
});
afterAll(async () => offline.close());
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

/** Replays the record through a real agent and returns its model annotation next to the offline assessment. */
async function liveAndOffline(dir: string, name: string) {
  const { log } = captureLog('info');
  const config = testConfig(tempDir(), { drivers: [{ name: `replay-${name}`, type: 'wfdb-replay', options: { record: join(dir, name), speed: 40, bed: 'ICU-1' } }] });
  agent = new Agent({ config, registry, log });
  const seen: AlarmStateChange[] = [];
  agent.alarms.subscribe((cs) => seen.push(...cs));
  await agent.start();
  const end = Date.now() + 15_000;
  while (!seen.some((c) => c.change === 'annotated') && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  const live = seen.find((c) => c.change === 'annotated')?.alarm.annotations.find((a) => a.kind === 'model')?.values;
  const rec = readRecord(dir, name);
  return { live, want: await offline.assess(rec.alarmType, rec.channels) };
}

describe('edge model, live: samples a monitor marked invalid', () => {
  it('reach the model as NaN (a103l with 3 s of PLETH invalid, 7 s before the alarm)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wfdb-invalid-'));
    copyFileSync(join(RECORDS, 'a103l.hea'), join(dir, 'a103l.hea'));
    const dat = readFileSync(join(RECORDS, 'a103l.dat'));
    for (let i = 20 * 250; i < 23 * 250; i++) dat.writeInt16LE(WFDB_INVALID_16, (i * 3 + 2) * 2); // signal 2 of 3: PLETH
    writeFileSync(join(dir, 'a103l.dat'), dat);
    const { live, want } = await liveAndOffline(dir, 'a103l');
    expect(live).toMatchObject({ verdict: want.verdict, windowS: 30 });
    // As 0 instead of NaN, these 3 s gave 0.092 against 0.121.
    expect(live!.probability as number).toBeCloseTo(want.probability, 3);
  });

  // a825l: both ECG leads invalid in their last 2.3 s — uncertain (the end is missing); as 0 it looked likely-false.
  // f697l: a true alarm with a few invalid ECG samples — p 0.483; as 0, 0.479.
  for (const [name, verdict] of [['a825l', 'uncertain'], ['f697l', 'likely-true']] as const) {
    it.skipIf(!corpusPresent)(`reach the model as NaN (corpus ${name})`, async () => {
      const { live, want } = await liveAndOffline(CORPUS, name);
      expect(want.verdict).toBe(verdict);
      expect(live).toMatchObject({ verdict });
      expect(live!.probability as number).toBeCloseTo(want.probability, 3);
    });
  }
});

// Review rv71 M1: the live path ordered leads II first then by name (V and MCL arrive as the generic "ECG"), training
// in header order, so on records whose header does not start with II the model read ecg1 / ecg2 swapped (a661l went
// from 0.013 likely-false to 0.084 likely-true). The features now put the leads in one canonical order.
describe('edge model, live: records whose header does not start with lead II', () => {
  it('give the offline verdict and probability (t106s relabelled [I, II, PLETH]; live order II, I)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wfdb-order-'));
    const lines = readFileSync(join(RECORDS, 't106s.hea'), 'utf8').split('\n');
    lines[1] = lines[1]!.replace(/ II$/, ' I');
    lines[2] = lines[2]!.replace(/ III$/, ' II');
    writeFileSync(join(dir, 't106s.hea'), lines.join('\n'));
    copyFileSync(join(RECORDS, 't106s.dat'), join(dir, 't106s.dat'));
    expect(readRecord(dir, 't106s').channels.map((c) => c.name)).toEqual(['I', 'II', 'PLETH']);
    const { live, want } = await liveAndOffline(dir, 't106s');
    expect(live).toMatchObject({ verdict: want.verdict });
    expect(live!.probability as number).toBeCloseTo(want.probability, 3);
  });

  // a661l [III, V, PLETH] false asystole, v629l [III, V, ABP, RESP] true VT, v842s [I, II, ABP, RESP] true VT.
  for (const name of ['a661l', 'v629l', 'v842s']) {
    it.skipIf(!corpusPresent)(`give the offline verdict and probability (corpus ${name})`, async () => {
      const { live, want } = await liveAndOffline(CORPUS, name);
      expect(live).toMatchObject({ verdict: want.verdict });
      expect(live!.probability as number).toBeCloseTo(want.probability, 3);
    });
  }
});

/**
 * A record headed [II, V, …] rewritten (in a temp folder) with two leads that share the generic ECG code:
 * `vm` [V, MCL, …] (its II named V, its V named MCL: two chest leads, no limb lead), `3l` [II, V, MCL, …] (MCL = V
 * negated). The other signals follow unchanged.
 */
function twoGenericLeads(dir: string, name: string, layout: 'vm' | '3l'): { dir: string; name: string } {
  const out = mkdtempSync(join(tmpdir(), `wfdb-${layout}-`));
  const lines = readFileSync(join(dir, `${name}.hea`), 'utf8').split('\n');
  const [, nsig, ...rest0] = lines[0]!.trim().split(/\s+/);
  const n = Number(nsig);
  const signals = lines.slice(1, 1 + n).map((l) => l.trim().split(/\s+/));
  const dat = readFileSync(join(dir, `${name}.dat`));
  const frames = dat.length / 2 / n;
  const col = (j: number, sign = 1) => Int16Array.from({ length: frames }, (_, i) => sign * dat.readInt16LE((i * n + j) * 2));
  // Field 6 is the checksum of the signal's samples: 0 (not checked) for a renamed or derived one.
  const renamed = (j: number, label: string) => [...signals[j]!.slice(0, 6), '0', signals[j]![7]!, label];
  const others = signals.slice(2).map((s, k) => ({ sig: s, data: col(k + 2) }));
  const sigs = layout === 'vm'
    ? [{ sig: renamed(0, 'V'), data: col(0) }, { sig: renamed(1, 'MCL'), data: col(1) }, ...others]
    : [{ sig: signals[0]!, data: col(0) }, { sig: signals[1]!, data: col(1) }, { sig: renamed(1, 'MCL'), data: col(1, -1) }, ...others];
  const newName = `${name}${layout}`;
  const body = Buffer.alloc(frames * sigs.length * 2);
  for (let i = 0; i < frames; i++) sigs.forEach((s, j) => body.writeInt16LE(s.data[i]!, (i * sigs.length + j) * 2));
  writeFileSync(join(out, `${newName}.dat`), body);
  const header = [[newName, String(sigs.length), ...rest0].join(' '), ...sigs.map((s) => [`${newName}.dat`, ...s.sig.slice(1)].join(' ')), ...lines.slice(1 + n)];
  writeFileSync(join(out, `${newName}.hea`), header.join('\n'));
  return { dir: out, name: newName };
}

// Review rv81 H1: V and MCL both arrive as MDC_ECG_ELEC_POTL ("ECG"). Sharing one ring, they were spliced into one
// lead of alternating blocks: a true VT (v597l as [V, MCL, PLETH]) went from 0.92 likely-true offline to 0.001
// likely-false live. Each lead now has its own ring, keyed by the device's own code for it.
describe('edge model, live: two leads of one device under the generic ECG code (V and MCL)', () => {
  const cases = [
    ...(['a103l', 'v100s'] as const).flatMap((name) => (['vm', '3l'] as const).map((layout) => ({ dir: RECORDS, name, layout, corpus: false }))),
    // v597l, v728s true VT; v843l a false VT that read likely-true live as [II, V, MCL, PLETH].
    ...(['v597l', 'v728s', 'v843l'] as const).flatMap((name) => (['vm', '3l'] as const).map((layout) => ({ dir: CORPUS, name, layout, corpus: true }))),
  ];
  for (const { dir, name, layout, corpus } of cases) {
    it.skipIf(corpus && !corpusPresent)(`give the offline verdict and probability (${corpus ? 'corpus ' : ''}${name} as ${layout === 'vm' ? '[V, MCL, …]' : '[II, V, MCL, …]'})`, async () => {
      const rec = twoGenericLeads(dir, name, layout);
      expect(readRecord(rec.dir, rec.name).channels.map((c) => c.name).slice(0, layout === 'vm' ? 2 : 3)).toEqual(layout === 'vm' ? ['V', 'MCL'] : ['II', 'V', 'MCL']);
      const { live, want } = await liveAndOffline(rec.dir, rec.name);
      expect(live).toMatchObject({ verdict: want.verdict, ecgLeads: 2 });
      expect(live!.probability as number).toBeCloseTo(want.probability, 3);
    });
  }
});

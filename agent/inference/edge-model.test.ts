import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecord } from '../../models/records.js';
import { EdgeModel, ModelLoadError, ModelNotApprovedError, sha256Hex } from './index.js';

const models = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models');
const modelPath = join(models, 'edge-model.onnx');
const sha = sha256Hex(readFileSync(modelPath));
const golden = JSON.parse(readFileSync(join(models, 'fixtures', 'golden.json'), 'utf8')) as {
  modelSha256: string;
  records: { record: string; probability: number; threshold: number; verdict: string; sklearnProbability: number | null }[];
};

describe('edge model runtime', () => {
  let created = 0;
  let model: EdgeModel;
  beforeAll(async () => {
    model = await EdgeModel.load({ modelPath, approved: [{ sha256: sha, label: 'test' }] }, (bytes) => {
      created += 1;
      return ort.InferenceSession.create(bytes);
    });
  });
  afterAll(async () => model.close());

  it('scores the fixture windows as the golden vectors say (and as scikit-learn did)', async () => {
    expect(golden.modelSha256).toBe(sha);
    for (const g of golden.records) {
      const rec = readRecord(join(models, 'fixtures', 'records'), g.record);
      const a = await model.assess(rec.alarmType, rec.channels);
      expect(a.probability).toBeCloseTo(g.probability, 6);
      if (g.sklearnProbability !== null) expect(a.probability).toBeCloseTo(g.sklearnProbability, 5);
      expect(a.threshold).toBeCloseTo(g.threshold, 6);
      expect(a.verdict).toBe(g.verdict);
      expect(a.modelSha256).toBe(sha);
      expect(a.modelVersion).toBe(model.version);
      expect(a.inferenceMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('creates the inference session once and reuses it', async () => {
    const rec = readRecord(join(models, 'fixtures', 'records'), golden.records[0]!.record);
    const runs = await Promise.all([1, 2, 3].map(() => model.assess(rec.alarmType, rec.channels)));
    expect(new Set(runs.map((r) => r.probability)).size).toBe(1);
    expect(created).toBe(1);
  });

  it('says uncertain, never likely-false, when there is no usable signal or too short a window', async () => {
    const flat = { name: 'II', sampleRateHz: 250, samples: new Float32Array(7500) };
    const a = await model.assess('Ventricular_Tachycardia', [flat]);
    expect(a.verdict).toBe('uncertain');
    expect(a.reason).toMatch(/no usable/);
    const short = await model.assess('Asystole', [{ name: 'II', sampleRateHz: 250, samples: new Float32Array(2500).map((_, i) => Math.sin(i / 10)) }]);
    expect(short.verdict).toBe('uncertain');
    expect(short.reason).toMatch(/shorter than 16 s/);
    // 10 s of signal padded with NaN to 17 s (samples not received by the alarm): still only 10 s of evidence.
    const padded = new Float32Array(4250).map((_, i) => (i < 2500 ? Math.sin(i / 10) : Number.NaN));
    const late = await model.assess('Asystole', [{ name: 'II', sampleRateHz: 250, samples: padded }]);
    expect(late.verdict).toBe('uncertain');
    expect(late.reason).toBe('window 10.0 s is shorter than 16 s');
    // The same 10 s with NaN in front (a channel lined up at the alarm): the array is 30 s, the evidence still 10 s.
    const front = new Float32Array(7500).map((_, i) => (i >= 5000 ? Math.sin(i / 10) : Number.NaN));
    const started = await model.assess('Asystole', [{ name: 'II', sampleRateHz: 250, samples: front }]);
    expect(started.verdict).toBe('uncertain');
    expect(started.reason).toBe('window 10.0 s is shorter than 16 s');
  });

  it('says uncertain when a channel it reads misses more than 2 s before the alarm, where the event is', async () => {
    const rec = readRecord(join(models, 'fixtures', 'records'), 't106s'); // a true alarm, likely-true when whole
    const cut = (s: number, which = (_name: string) => true) =>
      rec.channels.map((c) => {
        if (!which(c.name)) return c;
        const x = c.samples.slice();
        x.fill(Number.NaN, x.length - s * c.sampleRateHz);
        return { ...c, samples: x };
      });
    const four = await model.assess(rec.alarmType, cut(4));
    expect(four.verdict).toBe('uncertain');
    expect(four.reason).toBe("the last seconds before the alarm are missing (II 4.0 s, III 4.0 s, PLETH 4.0 s; more than 2 s): the alarm's event may be in them");
    // One channel cut short is enough: the others cannot stand in for it (true alarms were lost that way too).
    const pleth = await model.assess(rec.alarmType, cut(3, (n) => n === 'PLETH'));
    expect(pleth.verdict).toBe('uncertain');
    expect(pleth.reason).toMatch(/\(PLETH 3\.0 s; more than 2 s\)/);
    // Up to 2 s is judged (waveforms sent in batches of up to 2 s); a channel with no signal at all is absent, not cut.
    expect((await model.assess(rec.alarmType, cut(2))).verdict).toBe('likely-true');
    expect((await model.assess(rec.alarmType, cut(30, (n) => n === 'PLETH'))).verdict).toBe('likely-true');
  });

  it('says uncertain when no ECG lead carries 16 s of signal (every training window had two leads); counts the leads it judged on', async () => {
    const rec = readRecord(join(models, 'fixtures', 'records'), 'a103l'); // II, V, PLETH; likely-false with its ECG
    const pulseOnly = rec.channels.filter((c) => c.name === 'PLETH');
    const noEcg = await model.assess(rec.alarmType, pulseOnly); // was likely-false on PLETH alone
    expect(noEcg.verdict).toBe('uncertain');
    expect(noEcg.reason).toBe('no ECG in the window (no lead with 16 s of signal): not a window the model was trained on');
    expect(noEcg.ecgLeads).toBe(0);
    // ECG leads present but with 10 s of signal each: no lead the model can read a rhythm from.
    const tenS = rec.channels.map((c) => (c.name === 'PLETH' ? c : { ...c, samples: c.samples.map((v, i) => (i < 5000 ? Number.NaN : v)) }));
    const short = await model.assess(rec.alarmType, tenS);
    expect(short.verdict).toBe('uncertain');
    expect(short.reason).toMatch(/^no ECG in the window/);
    // One lead: the verdict stands (the caller must not hold on it: not validated), the count says one.
    const one = await model.assess(rec.alarmType, rec.channels.filter((c) => c.name !== 'V'));
    expect(one).toMatchObject({ verdict: 'likely-false', ecgLeads: 1 });
    expect((await model.assess(rec.alarmType, rec.channels)).ecgLeads).toBe(2);
  });
});

describe('a model output that is not a finite number (review rv101 L2)', () => {
  /** The committed model, its session's probability or threshold replaced by `value`. */
  async function returning(output: 'probability' | 'threshold', value: number): Promise<EdgeModel> {
    return EdgeModel.load({ modelPath, approved: [{ sha256: sha }] }, async (bytes) => {
      const s = await ort.InferenceSession.create(bytes);
      const run = s.run.bind(s);
      (s as { run: unknown }).run = async (feeds: ort.InferenceSession.FeedsType) => ({ ...(await run(feeds)), [output]: new ort.Tensor('float32', new Float32Array([value]), [1, 1]) });
      return s;
    });
  }

  it('is an assessment failure (ModelLoadError), never a verdict: NaN was called likely-false', async () => {
    const g = golden.records.find((r) => r.verdict === 'likely-true')!;
    const rec = readRecord(join(models, 'fixtures', 'records'), g.record);
    for (const [output, value] of [['probability', Number.NaN], ['probability', Infinity], ['threshold', Number.NaN], ['threshold', -Infinity]] as const) {
      const m = await returning(output, value);
      try {
        const err = await m.assess(rec.alarmType, rec.channels).then(
          (a) => a,
          (e: unknown) => e,
        );
        expect(err, `${output} ${value}`).toBeInstanceOf(ModelLoadError);
        expect((err as Error).message).toBe(`model returned a ${output} that is not a finite number (${value})`);
      } finally {
        await m.close();
      }
    }
  });
});

describe('model governance', () => {
  it('refuses a model whose SHA-256 is not approved, with a clear error', async () => {
    const err = await EdgeModel.load({ modelPath, approved: [{ sha256: '0'.repeat(64) }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelNotApprovedError);
    expect((err as Error).message).toContain(sha);
    expect((err as Error).message).toMatch(/not in the approved model list.*rules only/);
    expect(await EdgeModel.load({ modelPath, approved: [] }).catch((e: unknown) => e)).toBeInstanceOf(ModelNotApprovedError);
  });

  it('refuses a tampered file even if its card is intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-model-'));
    const bytes = readFileSync(modelPath);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    writeFileSync(join(dir, 'edge-model.onnx'), bytes);
    copyFileSync(join(models, 'edge-model.card.json'), join(dir, 'edge-model.card.json'));
    const err = await EdgeModel.load({ modelPath: join(dir, 'edge-model.onnx'), approved: [{ sha256: sha }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelNotApprovedError);
  });

  it('refuses an approved model whose card describes another file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-model-'));
    copyFileSync(modelPath, join(dir, 'm.onnx'));
    const card = JSON.parse(readFileSync(join(models, 'edge-model.card.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'm.card.json'), JSON.stringify({ ...card, modelSha256: 'f'.repeat(64) }));
    const err = await EdgeModel.load({ modelPath: join(dir, 'm.onnx'), approved: [{ sha256: sha }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toMatch(/describes model f{64}/);
  });

  it('reports the approved label as the version, not what an edited card says; the card\'s version only without a label', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-model-'));
    copyFileSync(modelPath, join(dir, 'm.onnx'));
    const card = JSON.parse(readFileSync(join(models, 'edge-model.card.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'm.card.json'), JSON.stringify({ ...card, modelVersion: 'edge-alarm-gbt-9 (clinically validated)' }));
    const labelled = await EdgeModel.load({ modelPath: join(dir, 'm.onnx'), approved: [{ sha256: sha, label: 'edge-alarm-gbt-4' }] });
    const unlabelled = await EdgeModel.load({ modelPath: join(dir, 'm.onnx'), approved: [{ sha256: sha }] });
    try {
      expect(labelled.version).toBe('edge-alarm-gbt-4');
      const rec = readRecord(join(models, 'fixtures', 'records'), golden.records[0]!.record);
      expect((await labelled.assess(rec.alarmType, rec.channels)).modelVersion).toBe('edge-alarm-gbt-4');
      expect(unlabelled.version).toBe('edge-alarm-gbt-9 (clinically validated)');
    } finally {
      await labelled.close();
      await unlabelled.close();
    }
  });
});

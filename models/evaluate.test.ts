import { mkdtempSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { evaluateFolder } from './evaluate.js';
import { formatTable, metrics, summarise } from './evaluation.js';

const here = dirname(fileURLToPath(import.meta.url));
const golden = JSON.parse(readFileSync(join(here, 'fixtures', 'golden.json'), 'utf8')) as {
  records: { record: string; alarmType: string; trueAlarm: boolean; verdict: string; probability: number }[];
};

describe('evaluation', () => {
  it('computes the challenge score, sensitivity and suppression', () => {
    const m = metrics({ TP: 90, FP: 10, TN: 40, FN: 2 });
    expect(m.score).toBeCloseTo((100 * 130) / (130 + 10 + 10), 10);
    expect(m.sensitivity).toBeCloseTo(90 / 92, 10);
    expect(m.suppression).toBeCloseTo(0.8, 10);
    expect(metrics({ TP: 0, FP: 0, TN: 0, FN: 0 })).toMatchObject({ score: null, sensitivity: null, suppression: null });
    const s = summarise([
      { alarmType: 'Asystole', trueAlarm: true, kept: false },
      { alarmType: 'Asystole', trueAlarm: false, kept: false },
      { alarmType: 'Tachycardia', trueAlarm: false, kept: true },
    ]);
    expect(s.Asystole).toMatchObject({ FN: 1, TN: 1, score: (100 * 1) / (1 + 5) });
    expect(s.overall).toMatchObject({ TP: 0, FP: 1, TN: 1, FN: 1 });
    expect(formatTable(s)).toMatch(/^alarm type .*score\n/);
  });

  it('runs the committed model over the fixture folder', async () => {
    const r = await evaluateFolder(join(here, 'fixtures', 'records'));
    expect(r.records).toBe(golden.records.length);
    const expected = { TP: 0, FP: 0, TN: 0, FN: 0 };
    for (const g of golden.records) {
      const kept = g.verdict !== 'likely-false';
      expected[g.trueAlarm ? (kept ? 'TP' : 'FN') : kept ? 'FP' : 'TN']++;
      const got = r.perRecord.find((p) => p.record === g.record);
      expect(got?.probability).toBeCloseTo(g.probability, 6);
    }
    expect(r.summary.overall).toMatchObject(expected);
    expect(Object.keys(r.summary)).toEqual(['Asystole', 'Bradycardia', 'Tachycardia', 'Ventricular_Tachycardia', 'Ventricular_Flutter_Fib', 'overall']);
  });
  it('the command says what is wrong with a folder it cannot use (exit 2), instead of a stack trace or "0 records"', () => {
    const tsx = pathToFileURL(join(here, '..', 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href;
    const run = (dir: string) => spawnSync(process.execPath, ['--import', tsx, join(here, 'evaluate.ts'), dir], { encoding: 'utf8' });
    const missing = run(join(here, 'no-such-folder'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/no-such-folder: no such folder/);
    const empty = run(mkdtempSync(join(tmpdir(), 'no-records-')));
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/no labelled WFDB records found/);
  }, 30_000);
});


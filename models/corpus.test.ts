// Checks against the shared corpus (../shared): skipped, with a message, on machines without it.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { datasetSha256, listRecords, readRecord } from './records.js';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = join(here, '..', '..', 'shared', 'corpus', 'physionet-2015-false-alarms', 'windows-30s');
const present = existsSync(corpus);
if (!present) console.warn(`models/corpus.test.ts: skipped — corpus not found at ${corpus}`);

describe.skipIf(!present)('shared PhysioNet 2015 corpus', () => {
  it('is the data the committed model was trained on (SHA-256 in the report)', () => {
    const report = JSON.parse(readFileSync(join(here, 'edge-model.report.json'), 'utf8')) as { dataSha256: string; records: number };
    const names = listRecords(corpus);
    expect(names).toHaveLength(report.records);
    expect(datasetSha256(corpus, names)).toBe(report.dataSha256);
  });

  it('holds the fixture records byte for byte', () => {
    for (const n of listRecords(join(here, 'fixtures', 'records'))) {
      for (const ext of ['.hea', '.dat']) expect(readFileSync(join(corpus, n + ext)).equals(readFileSync(join(here, 'fixtures', 'records', n + ext)))).toBe(true);
    }
  });

  it('reads every record with an alarm type and a label', () => {
    for (const n of listRecords(corpus)) {
      const r = readRecord(corpus, n);
      expect(r.trueAlarm, n).not.toBeNull();
      expect(r.channels.every((c) => c.samples.length === 7500), n).toBe(true);
    }
  });
});

// Writes models/fixtures/golden.json: features and model outputs of the fixture records, the golden
// vectors the tests hold the feature code and the committed model to.
//   npx tsx models/make-golden.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EdgeModel } from '../agent/inference/edge-model.js';
import { sha256Hex } from '../agent/inference/approval.js';
import { extractFeatures, FEATURE_NAMES, FEATURE_VERSION } from './features/index.js';
import { listRecords, readRecord } from './records.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = join(here, 'fixtures', 'records');
const modelPath = join(here, 'edge-model.onnx');
const report = JSON.parse(readFileSync(join(here, 'edge-model.report.json'), 'utf8')) as {
  goldenSklearn: { record: string; probability: number }[];
};
const model = await EdgeModel.load({ modelPath, approved: [{ sha256: sha256Hex(readFileSync(modelPath)) }] });
const records = [];
for (const name of listRecords(dir)) {
  const rec = readRecord(dir, name);
  const features = extractFeatures(rec.alarmType, rec.channels);
  const a = await model.assess(rec.alarmType, rec.channels);
  records.push({
    record: name,
    alarmType: rec.alarmType,
    trueAlarm: rec.trueAlarm,
    features: Array.from(features),
    probability: a.probability,
    threshold: a.threshold,
    verdict: a.verdict,
    sklearnProbability: report.goldenSklearn.find((g) => g.record === name)?.probability ?? null,
  });
}
await model.close();
const golden = { modelVersion: model.version, modelSha256: model.sha256, featureVersion: FEATURE_VERSION, featureNames: FEATURE_NAMES, records };
writeFileSync(join(here, 'fixtures', 'golden.json'), JSON.stringify(golden, null, 1) + '\n');
console.error(`golden vectors of ${records.length} records → models/fixtures/golden.json`);

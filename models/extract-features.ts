// Extracts the feature vector of every record in a WFDB folder into a CSV for training.
//   npx tsx models/extract-features.ts <records dir> <out.csv>
// Columns: record, alarm_type, label (1 true alarm / 0 false), then FEATURE_NAMES.
// Also writes <out.csv>.meta.json with the data SHA-256, feature version and record count.
import { writeFileSync } from 'node:fs';
import { extractFeatures, FEATURE_NAMES, FEATURE_VERSION } from './features/index.js';
import { datasetSha256, listRecords, readRecord } from './records.js';

const [dir, out] = process.argv.slice(2);
if (!dir || !out) {
  console.error('usage: npx tsx models/extract-features.ts <records dir> <out.csv>');
  process.exit(2);
}
const names = listRecords(dir);
const lines = [['record', 'alarm_type', 'label', ...FEATURE_NAMES].join(',')];
const t0 = performance.now();
for (const name of names) {
  const rec = readRecord(dir, name);
  if (rec.trueAlarm === null) throw new Error(`${name}: header has no True/False alarm label`);
  const f = extractFeatures(rec.alarmType, rec.channels);
  // Float32 values printed with enough digits to round-trip exactly.
  lines.push([name, rec.alarmType, rec.trueAlarm ? 1 : 0, ...Array.from(f, (v) => String(v))].join(','));
}
writeFileSync(out, lines.join('\n') + '\n');
const meta = { records: names.length, dataSha256: datasetSha256(dir, names), featureVersion: FEATURE_VERSION, features: FEATURE_NAMES.length };
writeFileSync(`${out}.meta.json`, JSON.stringify(meta, null, 2) + '\n');
console.error(`extracted ${names.length} records × ${FEATURE_NAMES.length} features in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${out}`);

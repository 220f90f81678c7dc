// Evaluation command: runs the committed ONNX model (through onnxruntime-node, on the same TypeScript
// features the agent computes live) over a folder of WFDB records laid out like windows-30s/ and prints
// per alarm type and overall TP, FP, TN, FN, true-alarm sensitivity, false-alarm suppression and the
// challenge score.
//   npx tsx models/evaluate.ts <records dir> [--model models/edge-model.onnx] [--json out.json]
// Note: run on the records the model was trained on, this measures fit, not generalisation; the
// cross-validated figures are in models/edge-model.report.json and models/README.md.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EdgeModel } from '../agent/inference/edge-model.js';
import { sha256Hex } from '../agent/inference/approval.js';
import { formatTable, summarise, type Outcome } from './evaluation.js';
import { listRecords, readRecord } from './records.js';

export const DEFAULT_MODEL = join(dirname(fileURLToPath(import.meta.url)), 'edge-model.onnx');

export interface EvaluationResult {
  modelVersion: string;
  modelSha256: string;
  records: number;
  unlabelled: string[];
  summary: ReturnType<typeof summarise>;
  perRecord: { record: string; alarmType: string; trueAlarm: boolean; probability: number; threshold: number; verdict: string }[];
}

export async function evaluateFolder(dir: string, modelPath = DEFAULT_MODEL): Promise<EvaluationResult> {
  // The evaluator approves exactly the file it was asked to evaluate; the agent uses its config list.
  const model = await EdgeModel.load({ modelPath, approved: [{ sha256: sha256Hex(readFileSync(modelPath)) }] });
  try {
    const outcomes: Outcome[] = [];
    const perRecord: EvaluationResult['perRecord'] = [];
    const unlabelled: string[] = [];
    for (const name of listRecords(dir)) {
      const rec = readRecord(dir, name);
      if (rec.trueAlarm === null) {
        unlabelled.push(name);
        continue;
      }
      const a = await model.assess(rec.alarmType, rec.channels);
      outcomes.push({ alarmType: rec.alarmType, trueAlarm: rec.trueAlarm, kept: a.verdict !== 'likely-false' });
      perRecord.push({ record: name, alarmType: rec.alarmType, trueAlarm: rec.trueAlarm, probability: a.probability, threshold: a.threshold, verdict: a.verdict });
    }
    return { modelVersion: model.version, modelSha256: model.sha256, records: outcomes.length, unlabelled, summary: summarise(outcomes), perRecord };
  } finally {
    await model.close();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const dir = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (!dir) {
    console.error('usage: npx tsx models/evaluate.ts <records dir> [--model file.onnx] [--json out.json]');
    process.exit(2);
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    console.error(`${dir}: no such folder (give a folder of WFDB records: <name>.hea + <name>.dat, like windows-30s/)`);
    process.exit(2);
  }
  const r = await evaluateFolder(dir, opt('--model') ?? DEFAULT_MODEL);
  if (r.records === 0) {
    console.error(`${dir}: no labelled WFDB records found (each needs <name>.hea with the alarm type and label in its comments)`);
    process.exit(2);
  }
  console.log(`model ${r.modelVersion} sha256 ${r.modelSha256}`);
  console.log(`${r.records} labelled records in ${dir}` + (r.unlabelled.length ? ` (${r.unlabelled.length} without a label skipped)` : ''));
  console.log(formatTable(r.summary));
  const out = opt('--json');
  if (out) writeFileSync(out, JSON.stringify(r, null, 1) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();

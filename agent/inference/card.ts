// The model card written by models/train.py beside the .onnx file (<name>.card.json).
import { ALARM_TYPES, type AlarmType } from '../../models/features/index.js';
import { ModelLoadError } from './approval.js';

export interface ModelCard {
  modelVersion: string;
  modelSha256: string;
  featureVersion: string;
  featureNames: string[];
  thresholds: Record<AlarmType, number>;
}

export function parseCard(text: string, where: string): ModelCard {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError(`${where}: not JSON`, { cause: err });
  }
  const o = v as Partial<Record<keyof ModelCard, unknown>>;
  const bad = (field: string): never => {
    throw new ModelLoadError(`${where}: field ${field} is missing or malformed`);
  };
  if (typeof o.modelVersion !== 'string') bad('modelVersion');
  if (typeof o.modelSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.modelSha256)) bad('modelSha256');
  if (typeof o.featureVersion !== 'string') bad('featureVersion');
  if (!Array.isArray(o.featureNames) || !o.featureNames.every((n) => typeof n === 'string')) bad('featureNames');
  const t = o.thresholds as Record<string, unknown> | undefined;
  if (typeof t !== 'object' || t === null || !ALARM_TYPES.every((a) => typeof t[a] === 'number')) bad('thresholds');
  return o as ModelCard;
}

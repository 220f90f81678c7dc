// Public surface of the edge-model runtime (see README.md).
export { EdgeModel, verifyModel, type Assessment, type EdgeModelOptions, type Verdict, type VerifiedModel } from './edge-model.js';
export { tryStartWorkerModel, WorkerModel, type WorkerModelOptions } from './worker-model.js';
export { ModelLoadError, ModelNotApprovedError, sha256Hex, type ApprovedModel } from './approval.js';
export type { ModelCard } from './card.js';
export { ALARM_TYPES, isAlarmType, type AlarmType, type Channel } from '../../models/features/index.js';

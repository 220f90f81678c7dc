// Node-side access to a folder of WFDB records laid out like the corpus's windows-30s/:
// <name>.hea + <name>.dat, header comments "#<alarm type>" and "#True alarm|#False alarm".
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { alarmFromComments, decodeFormat16, parseHeader } from './features/wfdb.js';
import { isAlarmType, type AlarmType, type Channel } from './features/types.js';

export interface AlarmRecord {
  name: string;
  alarmType: AlarmType;
  /** Expert label; null when the header carries none. */
  trueAlarm: boolean | null;
  channels: Channel[];
}

/** Record names (header files) in a folder, sorted so every run sees the same order. */
export function listRecords(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.hea'))
    .map((f) => f.slice(0, -4))
    .sort();
}

export function readRecord(dir: string, name: string): AlarmRecord {
  const hea = join(dir, `${name}.hea`);
  let header: ReturnType<typeof parseHeader>;
  let channels: ReturnType<typeof decodeFormat16>;
  try {
    header = parseHeader(readFileSync(hea, 'utf8'));
    channels = decodeFormat16(header, readFileSync(join(dir, header.signals[0]?.fileName ?? `${name}.dat`)));
  } catch (err) {
    // Which record of hundreds: the parser names the line, not the file (review rv195 L1).
    throw new Error(`${hea}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const { alarmType, trueAlarm } = alarmFromComments(header.comments);
  if (alarmType === null || !isAlarmType(alarmType)) throw new Error(`${name}.hea: no known alarm type in comments (${JSON.stringify(alarmType)})`);
  return { name, alarmType, trueAlarm, channels };
}

/** SHA-256 over the names and bytes of every .hea/.dat file of the records, in sorted order. */
export function datasetSha256(dir: string, names: string[]): string {
  const h = createHash('sha256');
  for (const n of names) {
    for (const ext of ['.hea', '.dat']) {
      h.update(`${n}${ext}\n`);
      h.update(readFileSync(join(dir, n + ext)));
    }
  }
  return h.digest('hex');
}

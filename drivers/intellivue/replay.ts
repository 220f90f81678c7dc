// Replay a capture (.jsonl) or a plain raw dump of an IntelliVue monitor's output (.raw/.bin) through
// the driver, listen-only, and print what it decodes — one JSON object per line on stdout, counters
// on stderr at the end. This is how a biomedical engineer's dump becomes readings we can look at.
//
//   npx tsx drivers/intellivue/replay.ts <file> [--id MONITOR-ID] [--utc-offset MINUTES] [--summary]
import { parseArgs } from 'node:util';
import { destination, pino } from 'pino';
import type { DriverEvent } from '../../agent/model/reading.js';
import type { DriverContext } from '../types.js';
import { IntellivueDriver } from './index.js';
import { buildPlan } from './options.js';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { id: { type: 'string', default: 'replay' }, 'utc-offset': { type: 'string' }, summary: { type: 'boolean', default: false } },
  });
  const file = positionals[0];
  if (!file) {
    console.error('usage: npx tsx drivers/intellivue/replay.ts <capture.jsonl | dump.raw> [--id ID] [--utc-offset MINUTES] [--summary]');
    process.exit(2);
  }
  const counters = new Map<string, number>();
  const byKind = new Map<string, number>();
  const ctx: DriverContext = {
    name: 'intellivue-replay',
    log: pino({ level: 'warn' }, destination(2)),
    emit: async (events: DriverEvent[]) => {
      for (const e of events) {
        byKind.set(e.kind, (byKind.get(e.kind) ?? 0) + 1);
        if (!values.summary) process.stdout.write(`${JSON.stringify(e)}\n`);
      }
    },
    count: (c, by = 1) => void counters.set(c, (counters.get(c) ?? 0) + by),
  };
  const offset = values['utc-offset'];
  const plan = buildPlan({ id: values.id ?? 'replay', replay: { file }, ...(offset !== undefined ? { monitorUtcOffsetMinutes: Number(offset) } : {}) });
  const driver = new IntellivueDriver(plan, ctx);
  await driver.start();
  await driver.replayDone;
  await new Promise((r) => setTimeout(r, 50));
  await driver.stop();
  console.error(JSON.stringify({ events: Object.fromEntries(byKind), counters: Object.fromEntries(counters) }, null, 2));
}

void main();

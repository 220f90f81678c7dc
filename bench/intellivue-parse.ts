// IntelliVue Data Export parsing throughput: the monitor side of a session (numerics, alarm monitor,
// waves as linked results) recorded from the project's simulator, then decoded again and again in
// three stages: deframing (FCS + transparency), + message parsing, + readings (numerics, scaled waves,
// alarm lists). Baseline in the same run: copying the same bytes (Buffer.concat) — the floor for any
// parser that touches every byte. Prints a table.
//   npx tsx bench/intellivue-parse.ts [seconds per stage, default 1]
import type { SerialLink } from '../drivers/serial/link.js';
import { DeviceClock } from '../drivers/intellivue/clock.js';
import { ObservationDecoder } from '../drivers/intellivue/observations.js';
import { SIM_ALARMS, IntellivueSimulator } from '../drivers/intellivue/simulator.js';
import {
  ATTR, IntellivueFramer, MOC, encodeAssociationRequest, encodeMdsCreateResult, encodeMessageFrame, encodePollRequest, parseMessage, parseTransportHeader,
} from '../drivers/intellivue/protocol/index.js';

const seconds = Number(process.argv[2] ?? 1) || 1;

// A simulator whose "port" is an array: feed it host frames, collect what it sends.
const sent: Buffer[] = [];
let deliver: (b: Buffer) => void = () => undefined;
const link: SerialLink = {
  describe: 'memory', isOpen: true, listenOnly: false,
  open: async () => undefined, close: async () => undefined,
  write: async (b) => void sent.push(Buffer.from(b)),
  onData: (l) => void (deliver = l), onClose: () => undefined,
};
const sim = new IntellivueSimulator(link, { mtu: 600, clockOffsetMs: 0 });
sim.setAlarms([SIM_ALARMS.hrHigh, SIM_ALARMS.leadsOff]);
const pd = Buffer.alloc(4);
pd.writeUInt32BE(256 * 8);
deliver(encodeMessageFrame(encodeAssociationRequest({ minPollPeriodTicks: 8000, maxMtuRx: 600, maxMtuTx: 600, extOptions: 0x88000000, systemType: 0x80000000, startupMode: 0x20000000 })));
await new Promise((r) => setTimeout(r, 50));
deliver(encodeMessageFrame(encodeMdsCreateResult(1, { objClass: 33, contextId: 0, handle: 0 }, 0)));
for (const [i, code, ext] of [[1, MOC.VMO_METRIC_NU, false], [2, MOC.VMO_AL_MON, false], [3, MOC.VMO_METRIC_SA_RT, true]] as const) {
  deliver(encodeMessageFrame(encodePollRequest({ invokeId: i, pollNumber: i, objType: { partition: 1, code }, attrGroup: 0, extended: ext, extAttributes: ext ? [{ id: ATTR.TIME_PD_POLL, value: pd }] : [] })));
}
await new Promise((r) => setTimeout(r, 30));
const stream = Buffer.concat(sent);
const frames = sent.length;

interface Row {
  stage: string;
  'MB/s': number;
  'frames/s': number;
  'readings/s': number;
}

function run(stage: string, fn: () => number): Row {
  for (let i = 0; i < 20; i++) fn(); // warm-up
  let n = 0;
  let readings = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    readings += fn();
    n++;
  }
  const s = (performance.now() - start) / 1000;
  return { stage, 'MB/s': Math.round((n * stream.length) / s / 1e4) / 100, 'frames/s': Math.round((n * frames) / s), 'readings/s': Math.round(readings / s) };
}

const rows: Row[] = [
  run('baseline: copy bytes', () => Buffer.concat([stream]).length * 0),
  run('deframe (FCS, transparency)', () => {
    new IntellivueFramer().push(stream);
    return 0;
  }),
  run('deframe + parse messages', () => {
    for (const ev of new IntellivueFramer().push(stream)) if (ev.type === 'frame') parseMessage(parseTransportHeader(ev.body));
    return 0;
  }),
  run('deframe + parse + readings', () => {
    const dec = new ObservationDecoder({ deviceId: 'bench', source: 'bench' }, new DeviceClock(0));
    let readings = 0;
    for (const ev of new IntellivueFramer().push(stream)) {
      if (ev.type !== 'frame') continue;
      const m = parseMessage(parseTransportHeader(ev.body));
      if (m.kind !== 'poll-result') continue;
      const d = dec.decode(m.reply, 0);
      readings += d.numerics.length + d.waves.reduce((a, w) => a + w.samples.length, 0);
    }
    return readings;
  }),
];
await sim.stop();
console.log(`stream: ${frames} frames, ${stream.length} bytes (numerics, alarm monitor, waves as linked results); readings = numerics + wave samples`);
console.table(rows);
console.log(
  'baseline: a byte copy, the floor for any parser that touches every byte, not a competing parser: a ratio to it is the share of copy speed the parser keeps, small by nature; compare it between runs on one machine, not as a verdict',
);
process.exit(0);

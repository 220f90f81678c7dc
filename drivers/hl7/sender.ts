// MLLP sender CLI: streams generated PCD-01 ward traffic or replays .hl7 files, and checks the ACKs.
// Exit code: 0 all accepted, 1 some NAK (AE/AR/CE/CR), 2 timeout or connection failure.
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { ackCodesFor } from './ackplan.js';
import { readHeader } from './protocol/access.js';
import { MllpFramer, frame } from './protocol/mllp.js';
import { parseFrame } from './protocol/parse.js';
import { initialBeds, pcd01Message, rng, step } from './ward.js';

const HELP = `Usage: npx tsx drivers/hl7/sender.ts --port <n> [options]

Sends HL7 v2 over MLLP and checks every ACK.

  --host <addr>        receiver address (default 127.0.0.1)
  --port <n>           receiver port (required)
  --beds <n>           generate PCD-01 ORU^R01 for n beds (default 4)
  --rounds <n>         rounds of one message per bed (default 1; 0 = until Ctrl-C)
  --interval <ms>      pause between rounds (default 1000)
  --no-waveform        leave out the pleth waveform OBX
  --replay <dir>       send every .hl7 file in <dir> instead (sorted by name)
  --timeout <ms>       ACK timeout per message (default 10000)
  --tls                connect with TLS (--ca, --cert, --key for mutual TLS)
  --ca/--cert/--key    PEM files
  --quiet              only the summary
  --help               this text

Exit code 0 when every message was accepted (AA/CA), 1 on any NAK, 2 on timeout or connection error.
`;

interface Conn {
  sendAndWait(payload: Buffer, expectedAcks: number, timeoutMs: number, controlId: string | null): Promise<string[]>;
  close(): void;
}

function connect(o: { host: string; port: number; tls: boolean; ca?: string; cert?: string; key?: string }): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const framer = new MllpFramer(16 * 1024 * 1024);
    const inbox: string[] = [];
    let wake: (() => void) | undefined;
    let failed: Error | undefined;
    const onReady = (): void => resolve(conn);
    const sock: net.Socket = o.tls
      ? tls.connect({
          host: o.host,
          port: o.port,
          ...(o.ca ? { ca: readFileSync(o.ca) } : {}),
          ...(o.cert ? { cert: readFileSync(o.cert) } : {}),
          ...(o.key ? { key: readFileSync(o.key) } : {}),
        }, onReady)
      : net.connect(o.port, o.host, onReady);
    sock.on('data', (d) => {
      // An ACK is taken at its FS (flush): a receiver that ends it with FS alone sends nothing after it.
      for (const e of [...framer.push(d), ...framer.flush()]) if (e.type === 'frame') inbox.push(e.payload.toString('utf8'));
      wake?.();
    });
    sock.on('error', (e) => {
      failed = e;
      wake?.();
      reject(e);
    });
    sock.on('close', () => {
      failed ??= new Error('connection closed by receiver');
      wake?.();
    });
    const conn: Conn = {
      async sendAndWait(payload, expected, timeoutMs, controlId) {
        // ACKs are matched to the message by MSA-2 (its control id): a receiver may answer a rejected message with
        // a different number of ACKs than an accepted one, and a late ACK must not be taken for the next message.
        inbox.length = 0;
        sock.write(frame(payload));
        const mine = (): string[] => (controlId === null ? inbox : inbox.filter((a) => a.startsWith('BHS') || ackSummary(a).id === controlId));
        const done = (): boolean => {
          const acks = mine();
          if (acks.length >= Math.max(expected, 1)) return true;
          // A negative acknowledgement ends the exchange: nothing else follows it.
          return acks.some((a) => !['AA', 'CA'].includes(ackSummary(a).code));
        };
        const deadline = Date.now() + (expected === 0 ? Math.min(timeoutMs, 300) : timeoutMs);
        while (!done()) {
          if (failed) throw failed;
          const left = deadline - Date.now();
          if (left <= 0) {
            if (expected === 0) return []; // none was due, and none came
            throw new Error(`no ACK within ${timeoutMs} ms`);
          }
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, Math.min(left, 200));
          });
        }
        return mine();
      },
      close: () => sock.end(),
    };
  });
}

/** MSH-10 of a single message (what its ACKs carry in MSA-2); null for batches and unreadable headers. */
function controlIdOf(payload: Buffer): string | null {
  try {
    const f = parseFrame(payload);
    return f.kind === 'batch' ? null : readHeader(f.message).controlId;
  } catch {
    return null;
  }
}

/** How many ACK frames the receiver owes for this payload if it accepts it (per HL7 ack rules). */
function expectedAcks(payload: Buffer): number {
  try {
    const f = parseFrame(payload);
    const msgs = f.kind === 'batch' ? f.batch.batches.flatMap((b) => b.messages) : [f.message];
    const n = msgs.reduce((sum, m) => {
      const h = readHeader(m);
      // An ACK (the corpus holds some) is not acknowledged.
      return sum + ackCodesFor(h, h.messageCode === 'ACK' ? 'unanswered' : 'accepted', 'AR').length;
    }, 0);
    return f.kind === 'batch' ? Math.min(n, 1) : n; // a batch is answered by one batch of ACKs
  } catch {
    return 1; // the receiver will NAK it
  }
}

function ackSummary(ack: string): { code: string; id: string; text: string } {
  const msa = ack.split('\r').find((s) => s.startsWith('MSA'));
  const f = (msa ?? '').split(ack[3] ?? '|');
  return { code: f[1] ?? '?', id: f[2] ?? '', text: f[3] ?? '' };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      beds: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '1' },
      interval: { type: 'string', default: '1000' },
      'no-waveform': { type: 'boolean', default: false },
      replay: { type: 'string' },
      timeout: { type: 'string', default: '10000' },
      tls: { type: 'boolean', default: false },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.port) {
    process.stderr.write('--port is required (see --help)\n');
    return 2;
  }
  const timeout = Number(values.timeout);
  const conn = await connect({
    host: values.host as string,
    port: Number(values.port),
    tls: values.tls as boolean,
    ...(values.ca ? { ca: values.ca } : {}),
    ...(values.cert ? { cert: values.cert } : {}),
    ...(values.key ? { key: values.key } : {}),
  });
  let sent = 0;
  let accepted = 0;
  let naks = 0;
  const log = (s: string): void => {
    if (!values.quiet) process.stdout.write(s + '\n');
  };
  const one = async (label: string, payload: Buffer): Promise<void> => {
    sent++;
    const acks = await conn.sendAndWait(payload, expectedAcks(payload), timeout, controlIdOf(payload));
    const codes = acks.map(ackSummary);
    const ok = codes.every((c) => c.code === 'AA' || c.code === 'CA') || (acks.length > 0 && acks[0]!.startsWith('BHS') && !/MSA\|A[ER]|MSA\|C[ER]/.test(acks[0]!));
    if (ok) accepted++;
    else naks++;
    log(`${label}: ${acks.length ? codes.map((c) => `${c.code}${c.text ? ` (${c.text})` : ''}`).join(', ') : 'no ACK expected'}`);
  };
  try {
    if (values.replay) {
      const dir = values.replay;
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.hl7')).sort()) await one(f, readFileSync(join(dir, f)));
    } else {
      const rand = rng(42);
      const beds = initialBeds(Number(values.beds), rand);
      const rounds = Number(values.rounds);
      for (let r = 0; rounds === 0 || r < rounds; r++) {
        for (const b of beds) {
          step(b, rand);
          const id = `SIM${Date.now().toString(36)}${b.bed}R${r}`;
          await one(`bed ${b.bed} ${id}`, Buffer.from(pcd01Message(b, id, Date.now(), { waveform: !values['no-waveform'] }), 'utf8'));
        }
        if (rounds === 0 || r < rounds - 1) await new Promise((res) => setTimeout(res, Number(values.interval)));
      }
    }
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.stdout.write(`sent ${sent}, accepted ${accepted}, rejected ${naks}\n`);
    conn.close();
    return 2;
  }
  conn.close();
  process.stdout.write(`sent ${sent}, accepted ${accepted}, rejected ${naks}\n`);
  return naks > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exitCode = 2;
  },
);

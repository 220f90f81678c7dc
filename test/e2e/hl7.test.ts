// HL7 v2 over MLLP end to end: a sender on a real TCP connection → the hl7-mllp driver → store → IoT Hub
// stand-in; ACK codes checked, a sender that disconnects mid-frame, and an agent killed between receive and
// commit (and after the commit, before the ACK): the sender's resend lands exactly once.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { initialBeds, pcd01Message, rng } from '../../drivers/hl7/ward.js';
import { startHubStandin, type HubStandin, type ReceivedMessage } from '../hub-standin/index.js';
import { captureLog } from '../support/log.js';
import { startAgentProcess, tempDir, writeConfig, type AgentProcess } from '../support/agent-process.js';
import { STANDIN_CA_FILE, testConfig } from '../support/agent-config.js';
import { MllpClient, freePort } from '../support/mllp-client.js';
import { messageSchemaErrors } from '../support/message-schema.js';

const KEY = Buffer.from('hl7-e2e-device-key-0123456789ab!').toString('base64');
const T0 = Date.UTC(2026, 10, 22, 8, 0, 0);

interface WireRecord {
  type: string;
  deviceId: string;
  bed?: string;
  refid: string | null;
  value: unknown;
  unit: string;
  deviceTime: string | null;
  context?: Record<string, unknown>;
}
const records = (ms: readonly ReceivedMessage[]) =>
  ms.flatMap((m) => (JSON.parse(m.body.toString('utf8')) as { records: WireRecord[] }).records);
/** Distinct messages by id (a resend of a message the hub already has is not a second copy). */
const firstCopies = (ms: readonly ReceivedMessage[]) => ms.filter((m, i) => ms.findIndex((x) => x.messageId === m.messageId) === i);

let hub: HubStandin | null = null;
let agent: Agent | null = null;
let procs: AgentProcess[] = [];
let clients: MllpClient[] = [];
afterEach(async () => {
  for (const c of clients) c.close();
  clients = [];
  for (const p of procs) p.child.kill('SIGKILL');
  procs = [];
  await agent?.stop();
  agent = null;
  await hub?.stop();
  hub = null;
});

describe('HL7 MLLP → agent → IoT Hub', () => {
  it('acknowledges after commit, forwards the PCD-01 readings, NAKs garbage, survives a sender cut mid-frame', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const port = await freePort();
    const { log } = captureLog();
    const config = testConfig(tempDir(), { drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } }] }, hub.connectionString('gw-dev'));
    agent = new Agent({ config, registry, log });
    await agent.start();

    // A sender that dies in the middle of a frame must not disturb the next one.
    const cut = await MllpClient.connect(port);
    clients.push(cut);
    cut.sendRaw(Buffer.concat([Buffer.from([0x0b]), Buffer.from('MSH|^~\\&|HALF|')]));
    cut.close();

    const c = await MllpClient.connect(port);
    clients.push(c);
    const [bed] = initialBeds(1, rng(7));
    // The generated PCD-01 asks for enhanced-mode acknowledgements (MSH-15 AL, MSH-16 NE): a commit accept, CA,
    // sent only once the readings are committed.
    const ack = await c.send(pcd01Message(bed!, 'MSG-0001', T0, { waveform: false }));
    expect(ack).toMatchObject({ code: 'CA', controlId: 'MSG-0001' });
    // Malformed: a hex escape with an odd number of digits. Refused with an ERR segment saying where (a stray
    // backslash alone is taken: rv126 M4).
    const bad = await c.send('MSH|^~\\&|X|Y|||20261122||ORU^R01|BAD-1|P|2.6\rOBX|1|ST|1^X^MDC|1.1.1.1|oops\\X4\\|\r');
    expect(bad).toMatchObject({ code: 'AE', controlId: 'BAD-1' });
    expect(bad.raw).toMatch(/\rERR\|[^\r]*OBX/);

    const msg = await hub.waitForMessage((m) => m.body.toString('utf8').includes('MDC_PULS_OXIM_SAT_O2'), 15_000);
    const body = JSON.parse(msg.body.toString('utf8')) as { records: WireRecord[] };
    expect(messageSchemaErrors(body)).toEqual([]);
    const spo2 = body.records.find((r) => r.refid === 'MDC_PULS_OXIM_SAT_O2')!;
    expect(spo2).toMatchObject({ type: 'numeric', bed: 'ICU/101/1', unit: '%', value: Math.round(bed!.spo2), source: 'icu-mllp' });
    expect(spo2.deviceTime).toBe(new Date(T0).toISOString());
    expect(spo2.context).toMatchObject({ containment: '1.2.1.1' });
    expect(agent.metrics.get('driver_messages_accepted_total', { driver: 'icu-mllp' })).toBe(1);
  });

  it('an agent killed between receive and commit, or after commit before the ACK: the resend lands exactly once', async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const port = await freePort();
    const dir = tempDir();
    const base = {
      gateway: { id: 'hl7-gw' },
      log: { level: 'info', pretty: 'never' },
      hub: { mode: 'device', connectionString: { env: 'TEST_HUB_CS' }, caFile: STANDIN_CA_FILE, batchDelayMs: 100, retry: { initialDelayMs: 100, maxDelayMs: 500 } },
      drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } }],
    };
    // A long group-commit window holds the message between receipt and commit, so the kill lands there.
    const slow = writeConfig(dir, { ...base, store: { path: join(dir, 'agent.db'), commitIntervalMs: 1000 } }, 'slow.json');
    const normal = writeConfig(dir, { ...base, store: { path: join(dir, 'agent.db') } }, 'normal.json');
    const env = { TEST_HUB_CS: hub.connectionString('gw-dev') };
    const [bed] = initialBeds(1, rng(11));
    const message = pcd01Message(bed!, 'KILL-0001', T0, { waveform: false });

    const first = startAgentProcess(['--config', slow], { env });
    procs.push(first);
    await first.waitForLog('MLLP listener started');
    const c1 = await MllpClient.connect(port);
    clients.push(c1);
    const noAck = c1.send(message, 5000).then(
      () => 'acked',
      (err: Error) => err.message,
    );
    await new Promise((r) => setTimeout(r, 200)); // received and parsed, waiting for the commit
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await noAck).toBe('connection closed before the ACK');

    // The sender resends to the restarted agent: accepted once.
    const second = startAgentProcess(['--config', normal], { env });
    procs.push(second);
    await second.waitForLog('MLLP listener started');
    const c2 = await MllpClient.connect(port);
    clients.push(c2);
    expect((await c2.send(message)).code).toBe('CA');
    await hub.waitFor((ms) => records(ms).some((r) => r.refid === 'MDC_PULS_OXIM_SAT_O2'), 15_000);
    second.child.kill('SIGKILL'); // as if it died after the commit, before or while sending the ACK
    await second.exited;

    // Another restart knows nothing in memory; the store remembers the message, so a resend is not stored again.
    const third = startAgentProcess(['--config', normal], { env });
    procs.push(third);
    await third.waitForLog('MLLP listener started');
    const c3 = await MllpClient.connect(port);
    clients.push(c3);
    expect((await c3.send(message)).code).toBe('CA');
    await third.waitForLog('resend of an already accepted batch: not stored again');
    await new Promise((r) => setTimeout(r, 500)); // anything stored would be forwarded within batchDelayMs
    third.child.kill('SIGTERM');
    await third.exited;

    const spo2 = records(firstCopies(hub.messages)).filter((r) => r.refid === 'MDC_PULS_OXIM_SAT_O2');
    expect(spo2).toHaveLength(1);
    expect(spo2[0]!.value).toBe(Math.round(bed!.spo2));
  });

  it("a ventilator's set rate (OBX-17 MSET) is forwarded and shown as a setting and raises no RR alarm; its measured rate does", async () => {
    hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
    const port = await freePort();
    const bed = 'ICU/7/1';
    const config = testConfig(
      tempDir(),
      {
        drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } }],
        // RR alarms at once, so that a set rate taken for a measurement would show within the test.
        alarms: { limits: { beds: { [bed]: { rr: { delayS: 0 } } } } },
        display: { enabled: true, port: 0 },
      },
      hub.connectionString('gw-dev'),
    );
    agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    const c = await MllpClient.connect(port);
    clients.push(c);
    const vent = (id: string, measured: number, set: number) =>
      'MSH|^~\\&|VENT^0011223344556677^EUI-64|ICU|||20261122080000+0000||ORU^R01^ORU_R01|' + id + '|P|2.6|||AL|NE\r' +
      `PV1||I|${bed.replaceAll('/', '^')}\r` +
      'OBR|1|||182777000^monitoring of patient^SCT|||20261122080000+0000\r' +
      `OBX|1|NM|151562^MDC_RESP_RATE^MDC|1.1.1.1|${measured}|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||20261122080000+0000|||AMEAS^auto-measurement^MDC\r` +
      `OBX|2|NM|151562^MDC_RESP_RATE^MDC|1.1.1.2|${set}|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||20261122080000+0000|||MSET^manual-setting^MDC\r`;
    const rrAlarms = () => agent!.alarms.engine.list().filter((a) => a.source === 'limit');

    // Measured 20 (normal), set 40 (above the RR limit of 30).
    expect(await c.send(vent('V-1', 20, 40))).toMatchObject({ code: 'CA', controlId: 'V-1' });
    const msg = await hub.waitForMessage((m) => m.body.toString('utf8').includes('"setting":true'), 15_000);
    const body = JSON.parse(msg.body.toString('utf8')) as { records: (WireRecord & { setting?: boolean })[] };
    expect(messageSchemaErrors(body)).toEqual([]);
    const rr = body.records.filter((r) => r.refid === 'MDC_RESP_RATE').map((r) => [r.value, r.setting]);
    expect(rr).toEqual([[20, undefined], [40, true]]);
    expect(rrAlarms()).toEqual([]);
    const { url } = agent.display!.address();
    const tile = (await (await fetch(`${url}/api/beds/${encodeURIComponent(bed)}`)).json()) as { vitals: { label: string; value: unknown; setting: boolean }[] };
    expect(tile.vitals.filter((v) => v.label.startsWith('RR')).map((v) => [v.label, v.value, v.setting])).toEqual([
      ['RR', 20, false],
      ['RR (set)', 40, true],
    ]);

    // The same rate measured: the alarm comes (the rule is live; only the setting was kept out).
    expect(await c.send(vent('V-2', 40, 40))).toMatchObject({ code: 'CA', controlId: 'V-2' });
    await hub.waitForMessage((m) => m.body.toString('utf8').includes('RR HIGH'), 15_000);
    expect(rrAlarms().map((a) => [a.condition.text, a.value])).toEqual([['RR HIGH 40 > 30 /min', 40]]);
  });
});

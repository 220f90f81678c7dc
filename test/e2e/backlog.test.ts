// A sender's backlog arriving after live data (an HL7 gateway catching up after an outage of its own): an SpO2
// measured 40 min ago, sent after the current one, over real MLLP. It is stored and forwarded as it came, with its
// device time, but the bedside display keeps the current value and no rule or NEWS2 alarm is raised from it
// (review rv35 §3: it replaced a live 97 as "age 0" and raised a NEWS2 alarm).
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { formatDtm } from '../../drivers/hl7/protocol/dtm.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { MllpClient, freePort } from '../support/mllp-client.js';

let agent: Agent | null = null;
let client: MllpClient | null = null;
afterEach(async () => {
  client?.close();
  client = null;
  await agent?.stop();
  agent = null;
});

function spo2Message(controlId: string, value: number, measuredAt: number): string {
  const t = formatDtm(measuredAt);
  return [
    `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||${formatDtm(Date.now())}||ORU^R01^ORU_R01|${controlId}|P|2.6|||AL|NE||UNICODE UTF-8`,
    'PID|||PAT1',
    'PV1||I|ICU^1^1',
    `OBR|1|||182777000^monitoring of patient^SCT|||${t}`,
    `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|${value}|262688^MDC_DIM_PERCENT^MDC|||||F|||${t}`,
  ].join('\r') + '\r';
}

describe('a backlog arriving after live data', () => {
  it('is stored with its device time, but is not shown or alarmed as the current value; the count and log say so', async () => {
    const port = await freePort();
    const captured = captureLog('info');
    const config = testConfig(tempDir(), { display: { enabled: true, port: 0 }, drivers: [{ name: 'central', type: 'hl7-mllp', options: { host: '127.0.0.1', port } }] });
    agent = new Agent({ config, registry, log: captured.log, transport: null });
    await agent.start();
    client = await MllpClient.connect(port);
    const now = Date.now();
    expect(await client.send(spo2Message('LIVE-1', 97, now))).toMatchObject({ code: 'CA' });
    for (let i = 0; i < 3; i++) expect(await client.send(spo2Message(`OLD-${i}`, 78, now - (40 - i) * 60_000))).toMatchObject({ code: 'CA' });

    const spo2 = agent.display!.ward.vitals('ICU/1/1', Date.now()).find((v) => v.label.includes('SpO'));
    expect(spo2).toMatchObject({ value: 97 });
    expect(agent.alarms.engine.list({ bed: 'ICU/1/1' })).toEqual([]);
    expect(agent.outbox.pending('telemetry').records).toBe(4); // nothing lost: all four kept, to be forwarded
    expect(agent.metrics.snapshot()['ingest_out_of_order_total{source="central"}']).toBe(3);
    expect(captured.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('(a backlog)'))).toEqual([
      expect.objectContaining({ level: 40, source: 'central', behindMinutes: 40 }),
    ]);

    // Live data again: shown, and judged by the rules.
    expect(await client.send(spo2Message('LIVE-2', 85, Date.now()))).toMatchObject({ code: 'CA' });
    expect(agent.display!.ward.vitals('ICU/1/1', Date.now()).find((v) => v.label.includes('SpO'))).toMatchObject({ value: 85 });
  });
});

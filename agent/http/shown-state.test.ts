// Review rv162 F2 through the real server: the page says whether it showed an alarm's condition present
// (`conditionPresent`); acknowledging or pausing one shown latched whose condition returned since is refused (409).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { TOKENS, call, reading, startDisplayAgent, type DisplayAgent } from '../../test/browser/display-fixtures.js';

/** SpO2 70 (DESAT, high, latching) then 90 (latched); with `returns`, 70 again for the last 10 s (active again). */
async function latchedDesat(d: DisplayAgent, bed: string, returns: boolean): Promise<string> {
  const now = Date.now();
  const at = (ago: number) => now - ago * 1000;
  const spo2 = (v: number, ago: number) => reading(MDC.PULS_OXIM_SAT_O2, v, { bed, at: at(ago) });
  await d.agent.ingest.accept('test-source', Array.from({ length: 10 }, (_, i) => spo2(70, 40 - i)));
  await d.agent.ingest.accept('test-source', Array.from({ length: 10 }, (_, i) => spo2(90, 29 - i)));
  const a = d.agent.alarms.engine.list({ bed }).find((x) => x.key.includes('spo2-desat'));
  if (!a || a.state !== 'latched') throw new Error(`no latched DESAT on ${bed}: ${a?.state}`);
  if (returns) await d.agent.ingest.accept('test-source', Array.from({ length: 11 }, (_, i) => spo2(70, 10 - i)));
  return a.id;
}

describe('display HTTP API: the condition shown (review rv162 F2)', () => {
  let d: DisplayAgent;
  beforeAll(async () => {
    d = await startDisplayAgent();
  });
  afterAll(() => d.close());
  const token = TOKENS.clinician;

  it('refuses to acknowledge an alarm shown latched whose condition returned since; it stays active', async () => {
    const id = await latchedDesat(d, 'bed-r1', true);
    expect(d.agent.alarms.engine.get(id)!).toMatchObject({ state: 'active', conditionPresent: true });
    expect((await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'high', conditionPresent: 'no' } })).status).toBe(400);
    const r = await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'high', conditionPresent: false } });
    expect(r.status).toBe(409);
    expect(r.json()).toEqual({ error: `alarm ${id}'s condition returned since it was shown: look at it again` });
    expect(d.agent.alarms.engine.get(id)!.state).toBe('active');
    // Shown as it is now (present): acknowledged.
    const ok = await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'high', conditionPresent: true } });
    expect(ok.status).toBe(200);
    expect(d.agent.alarms.engine.get(id)!.state).toBe('acknowledged');
  });

  it('without the field (an API client, an older page) acknowledges as before', async () => {
    const id = await latchedDesat(d, 'bed-r2', true);
    expect((await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'high' } })).status).toBe(200);
    expect(d.agent.alarms.engine.get(id)!.state).toBe('acknowledged');
  });

  it('clears an alarm shown latched that is still latched', async () => {
    const id = await latchedDesat(d, 'bed-r3', false);
    expect((await call(d.url, 'POST', `/api/alarms/${id}/ack`, { token, body: { priority: 'high', conditionPresent: false } })).status).toBe(200);
    expect(d.agent.alarms.engine.get(id)!.state).toBe('resolved');
  });

  it("refuses one alarm's audio pause, and leaves it out of a bed's, when shown latched and returned since", async () => {
    const id = await latchedDesat(d, 'bed-r4', true);
    expect((await call(d.url, 'POST', `/api/alarms/${id}/audio-pause`, { token, body: { priority: 'high', conditionPresent: 1 } })).status).toBe(400);
    const one = await call(d.url, 'POST', `/api/alarms/${id}/audio-pause`, { token, body: { priority: 'high', conditionPresent: false } });
    expect(one.status).toBe(409);
    expect(one.json()).toEqual({ error: `alarm ${id}'s condition returned since it was shown: look at it again` });
    const pauseBed = (alarms: unknown) => call(d.url, 'POST', '/api/beds/bed-r4/audio-pause', { token, body: { alarms } });
    expect((await pauseBed([{ id, priority: 'high', conditionPresent: 'yes' }])).status).toBe(400);
    const bed = await pauseBed([{ id, priority: 'high', conditionPresent: false }]);
    expect(bed.status).toBe(409);
    expect(bed.json()).toEqual({ error: 'the alarms of bed bed-r4 changed since they were shown: look at them again' });
    expect(d.agent.alarms.engine.get(id)!.state).toBe('active');
    expect((await pauseBed([{ id, priority: 'high', conditionPresent: true }])).status).toBe(200);
    expect(d.agent.alarms.engine.get(id)!.state).toBe('audio-paused');
  });
});

// What the display's feed tells about itself (review rv75 M1, L1, L2): readings it leaves out over its bounds are
// counted, logged and shown; a NEWS2 observation reaches every screen; a bed view of a long (HL7) bed id gets its
// waveforms. Real agent, real sockets.
import { afterEach, describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import type { AlarmEvent } from '../model/reading.js';
import { PASSWORDS, call, ecg, login, openStream, reading, startDisplayAgent, type DisplayAgent } from '../../test/browser/display-fixtures.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('display feed', () => {
  let d: DisplayAgent | undefined;
  afterEach(async () => {
    await d?.close();
    d = undefined;
  });

  it('counts, logs once and shows readings of beds beyond display.maxBeds and parameters beyond a bed\'s bound', async () => {
    d = await startDisplayAgent({ maxBeds: 2 });
    const s = await openStream(d.url);
    await s.waitFor((e) => e.event === 'ward');
    const now = Date.now();
    await d.agent.ingest.accept('test-source', ['bed-1', 'bed-2', 'bed-3'].map((bed) => reading(MDC.ECG_HEART_RATE, 80, { bed, at: now })));
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 81, { bed: 'bed-3', at: now + 1 })]);
    const alarm: AlarmEvent = {
      kind: 'alarm', deviceId: 'mon-bed-3', bed: 'bed-3', source: 'test-source', alarmId: 'x', condition: null, text: 'ARRHYTHMIA', priority: 'high',
      category: 'physiological', phase: 'start', deviceTime: null, receivedAt: now,
    };
    await d.agent.ingest.accept('test-source', [alarm]);
    // 70 more measured parameters on bed-1: 64 are shown (HR is one of them), 7 left out (one of them twice).
    const raw = (i: number) => ({ system: 'test', code: `p${i}`, text: `param ${i}` });
    await d.agent.ingest.accept('test-source', Array.from({ length: 70 }, (_, i) => ({ ...reading(MDC.RESP_RATE, i, { bed: 'bed-1', at: now }), mdc: null, raw: raw(i) })));
    await d.agent.ingest.accept('test-source', [{ ...reading(MDC.RESP_RATE, 1, { bed: 'bed-1', at: now + 1 }), mdc: null, raw: raw(69) }]);

    const metrics = (await call(d.url, 'GET', '/metrics')).text;
    // The alarm event is not a reading left out: the alarm engine shows it.
    expect(metrics).toContain('bedside_display_dropped_bed_events_total{kind="numeric"} 2');
    expect(metrics).toContain('bedside_display_dropped_metric_events_total{bed="bed-1",kind="measurement"} 8');
    const bedLines = d.captured.lines.filter((l) => l.bed === 'bed-3' && /maxBeds/.test(String(l.msg)));
    expect(bedLines).toHaveLength(1);
    expect(bedLines[0]).toMatchObject({ level: 40, maxBeds: 2 });
    const metricLines = d.captured.lines.filter((l) => l.bed === 'bed-1' && l.parameter !== undefined);
    expect(metricLines.map((l) => l.parameter)).toEqual(['param 63', 'param 64', 'param 65', 'param 66', 'param 67', 'param 68', 'param 69']);
    expect(metricLines[0]).toMatchObject({ level: 40, limit: 64 });

    // The page is told which beds it is not shown, in the snapshot and live.
    const ward = (await call(d.url, 'GET', '/api/ward')).json();
    expect(ward.droppedBeds).toEqual({ count: 1, beds: ['bed-3'], maxBeds: 2 });
    const live = await s.waitFor((e) => e.event === 'dropped');
    expect(live.data).toMatchObject({ droppedBeds: { count: 1, beds: ['bed-3'], maxBeds: 2 } });
    s.close();
  });

  it('sends the tile of a bed whose NEWS2 observation was recorded to every screen, and a new stream gets the new score', async () => {
    d = await startDisplayAgent();
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80), reading(MDC.PULS_OXIM_SAT_O2, 97), reading(MDC.RESP_RATE, 16)]);
    await sleep(400);
    const s = await openStream(d.url);
    await s.waitFor((e) => e.event === 'ward');
    // A snapshot built just now (cached for the next 250 ms).
    await call(d.url, 'GET', '/api/ward');
    const token = await login(d.url, 'nurse.jones', PASSWORDS.clinician);
    const r = await call(d.url, 'POST', '/api/beds/bed-1/observations', { token, body: { consciousness: 'V', oxygen: 'oxygen' } });
    expect(r.status).toBe(200);
    const news2Of = (data: unknown) => (data as { beds: { bed: string; news2: { consciousness: string } | null }[] }).beds.find((b) => b.bed === 'bed-1')?.news2?.consciousness;
    const tile = await s.waitFor((e) => e.event === 'vitals' && news2Of(e.data) === 'V', 2000);
    expect(tile).toBeDefined();
    expect(news2Of((await call(d.url, 'GET', '/api/ward')).json())).toBe('V');
    s.close();
  });

  it('streams the waveforms of a bed whose id is longer than 64 characters (HL7 point of care/room/bed)', async () => {
    d = await startDisplayAgent();
    const bed = 'PAEDIATRIC-INTENSIVE-CARE-NORTH/ROOM%2FSUITE-0012/BED-A-WINDOW-SIDE';
    expect(bed.length).toBeGreaterThan(64);
    const s = await openStream(d.url, `/api/stream?bed=${encodeURIComponent(bed)}`);
    await s.waitFor((e) => e.event === 'ward');
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80, { bed }), ecg(Array.from({ length: 250 }, (_, i) => Math.sin(i / 10)), { bed })]);
    const wave = await s.waitFor((e) => e.event === 'wave', 2000);
    expect((wave.data as { bed: string }).bed).toBe(bed);
    s.close();
  });
});

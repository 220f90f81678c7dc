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
    // Not per bed (review rv78 L1): a bed id is a device's string of any length, and a patient's location; the
    // warning names the bed.
    expect(metrics).toContain('bedside_display_dropped_metric_events_total{kind="measurement"} 8');
    expect(metrics.split('\n').filter((l) => l.startsWith('bedside_display_dropped_') && l.includes('bed='))).toEqual([]);
    const bedLines = d.captured.lines.filter((l) => l.bed === 'bed-3' && /maxBeds/.test(String(l.msg)));
    expect(bedLines).toHaveLength(1);
    expect(bedLines[0]).toMatchObject({ level: 40, maxBeds: 2 });
    const metricLines = d.captured.lines.filter((l) => l.bed === 'bed-1' && l.parameter !== undefined);
    expect(metricLines.map((l) => l.parameter)).toEqual(['param 63', 'param 64', 'param 65', 'param 66', 'param 67', 'param 68', 'param 69']);
    expect(metricLines[0]).toMatchObject({ level: 40, limit: 64 });
    expect(String(metricLines[0]!.msg)).toContain('of bed bed-1 ');

    // The page is told which beds it is not shown, in the snapshot and live.
    const ward = (await call(d.url, 'GET', '/api/ward')).json();
    expect(ward.droppedBeds).toEqual({ count: 1, beds: ['bed-3'], maxBeds: 2 });
    const live = await s.waitFor((e) => e.event === 'dropped');
    expect(live.data).toMatchObject({ droppedBeds: { count: 1, beds: ['bed-3'], maxBeds: 2 } });
    s.close();
  });

  it('marks the tile of every bed whose readings are left out, not only the beds the page is given by name (review rv78 M1)', async () => {
    d = await startDisplayAgent({ maxBeds: 1 });
    const now = Date.now();
    const alarm = (bed: string): AlarmEvent => ({
      kind: 'alarm', deviceId: `mon-${bed}`, bed, source: 'test-source', alarmId: `${bed}-x`, condition: null, text: 'VTACH', priority: 'high',
      category: 'physiological', phase: 'start', deviceTime: null, receivedAt: now,
    });
    // bed-late has its alarm (and so its tile) before its readings are left out.
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80, { bed: 'bed-00', at: now }), alarm('bed-late')]);
    const beds = Array.from({ length: 21 }, (_, i) => `bed-${String(i + 1).padStart(2, '0')}`);
    for (const bed of beds) await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80, { bed, at: now })]);
    const s = await openStream(d.url);
    const snapshot = await s.waitFor((e) => e.event === 'ward');
    type Tile = { bed: string; readingsDropped: boolean; alarms: unknown[] };
    const tiles = (data: unknown) => (data as { beds: Tile[] }).beds;
    expect((snapshot.data as { droppedBeds: { beds: string[] } }).droppedBeds.beds).not.toContain('bed-21');
    expect(tiles(snapshot.data).find((t) => t.bed === 'bed-00')).toMatchObject({ readingsDropped: false });
    expect(tiles(snapshot.data).find((t) => t.bed === 'bed-late')).toMatchObject({ readingsDropped: false });
    // The 21st bed left out raises an alarm: its tile, marked, reaches the open screen.
    await d.agent.ingest.accept('test-source', [alarm('bed-21')]);
    const live = await s.waitFor((e) => e.event === 'vitals' && tiles(e.data).some((t) => t.bed === 'bed-21'), 2000);
    expect(tiles(live.data).find((t) => t.bed === 'bed-21')).toMatchObject({ readingsDropped: true, alarms: [expect.objectContaining({ text: 'VTACH' })] });
    // A bed already shown (for its alarm) whose readings are then left out: its tile is sent again, marked.
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 90, { bed: 'bed-late', at: now })]);
    const late = await s.waitFor((e) => e.event === 'vitals' && tiles(e.data).some((t) => t.bed === 'bed-late'), 2000);
    expect(tiles(late.data).find((t) => t.bed === 'bed-late')).toMatchObject({ readingsDropped: true });
    // Every tile but the kept bed's is marked (beds left out have tiles for their NEWS2 inputs or alarms).
    const ward = (await call(d.url, 'GET', '/api/ward')).json();
    expect(tiles(ward).filter((t) => !t.readingsDropped).map((t) => t.bed)).toEqual(['bed-00']);
    expect(tiles(ward).map((t) => t.bed)).toEqual(expect.arrayContaining(['bed-05', 'bed-21', 'bed-late']));
    expect((await call(d.url, 'GET', '/api/beds/bed-21')).json()).toMatchObject({ readingsDropped: true });
    s.close();
  });

  it('marks a shown bed it does not keep once it stops naming the beds it leaves out (1000)', async () => {
    d = await startDisplayAgent({ maxBeds: 1 });
    const now = Date.now();
    const alarm: AlarmEvent = {
      kind: 'alarm', deviceId: 'mon-pre', bed: 'pre', source: 'test-source', alarmId: 'pre-x', condition: null, text: 'VTACH', priority: 'high',
      category: 'physiological', phase: 'start', deviceTime: null, receivedAt: now,
    };
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80, { bed: 'kept', at: now }), alarm]);
    const s = await openStream(d.url);
    type Tile = { bed: string; readingsDropped: boolean };
    const tile = (data: unknown) => (data as { beds: Tile[] }).beds.find((t) => t.bed === 'pre');
    expect(tile((await s.waitFor((e) => e.event === 'ward')).data)).toMatchObject({ readingsDropped: false });
    await d.agent.ingest.accept('test-source', Array.from({ length: 1000 }, (_, i) => reading(MDC.ECG_HEART_RATE, 80, { bed: `out-${i}`, at: now })));
    // Sent with the tiles of the beds that made it stop naming them (not only at its next alarm change).
    const live = await s.waitFor((e) => e.event === 'vitals' && (e.data as { beds: Tile[] }).beds.some((t) => t.bed === 'out-999'), 3000);
    expect(tile(live.data)).toMatchObject({ readingsDropped: true });
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

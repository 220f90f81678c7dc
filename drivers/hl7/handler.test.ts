// MessageHandler without sockets: frames in, ACK payloads out, events emitted (or not).
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AlarmEvent, DriverEvent } from '../../agent/model/reading.js';
import type { DriverContext } from '../types.js';
import { MessageHandler } from './handler.js';
import { parseMessage, str } from './protocol/index.js';

const msg = (id: string, o: { processing?: string; ack?: string; version?: string; obx?: string } = {}): string =>
  `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|${o.processing ?? 'P'}|${o.version ?? '2.6'}|||${o.ack ?? ''}||UNICODE UTF-8\r` +
  `PID|||P-${id}\rOBR|1|||x|||20240101115959+0000\r` +
  `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r` +
  (o.obx ?? '');

function setup(acceptProcessingIds: string[] = ['P'], extra: { alarmRepeatMs?: number } = {}) {
  const emitted: DriverEvent[][] = [];
  const counts = new Map<string, number>();
  const logs: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  /** `refuse`: the store refuses every emit, as with a full disk. */
  const store = { refuse: false };
  const ctx: DriverContext = {
    name: 'h',
    log: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
    emit: async (ev) => {
      if (store.refuse) throw new Error('SQLITE_FULL: database or disk is full');
      emitted.push(ev);
    },
    count: (c, by = 1) => void counts.set(c, (counts.get(c) ?? 0) + by),
  };
  const handler = new MessageHandler(ctx, {
    application: 'GW',
    facility: '',
    storeFailureAck: 'AR',
    acceptProcessingIds,
    defaultUtcOffsetMinutes: 0,
    duplicateWindow: { maxEntries: 100, ttlMs: 60_000 },
    ...extra,
  });
  return { handler, emitted, counts, logs, store };
}

/** A PCD-04 alarm message: the given OBR (fields from OBR-1 on) and OBX rows (fields from OBX-1 on). */
const r40 = (id: string, o: { pv1?: string; obr?: string[]; obx: string[][] }): string =>
  `MSH|^~\\&|CENTRAL^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R40^ORU_R40|${id}|P|2.6|||AL|NE||UNICODE UTF-8\r` +
  `PID|||PAT-${id}\rPV1||I|${o.pv1 ?? 'ICU^1^1'}\r` +
  `OBR|${(o.obr ?? ['1', '', 'A1^GW', '196616^MDC_EVT_ALARM^MDC', '', '', '20240101115959+0000']).join('|')}\r` +
  o.obx.map((f) => `OBX|${f.join('|')}\r`).join('');
/** Alarm OBX rows: event (OBX-5 text, OBX-8 flags, OBX-11 status) at `at`.1 and its phase facet at `at`.3. */
const alarmRows = (at: string, code: string, text: string, flags: string, status = 'F', phase = 'start'): string[][] => [
  ['1', 'ST', code, `${at}.1`, text, '', '', flags, '', '', status],
  ['2', 'ST', '68481^MDC_ATTR_EVENT_PHASE^MDC', `${at}.3`, phase, '', '', '', '', '', status],
];
/** MSA-1, MSA-2 and ERR-2.1/2.2/2.3 and ERR-3.1 of an ACK. */
const summary = (ack: string) => {
  const m = parseMessage(ack);
  const msa = m.segments[1]!;
  const err = m.segments[2];
  return {
    code: str(msa, 1),
    controlId: str(msa, 2),
    ...(err ? { err: [str(err, 2, 1), str(err, 2, 2), str(err, 2, 3), str(err, 3, 1)] } : {}),
  };
};

describe('MessageHandler', () => {
  it('refuses debugging / training data (MSH-11 D, T): AR (CR in enhanced mode), error 202, nothing emitted', async () => {
    const { handler, emitted, counts } = setup();
    const t = await handler.handle(Buffer.from(msg('T1', { processing: 'T' })), 'p');
    expect(t.map(summary)).toEqual([{ code: 'AR', controlId: 'T1', err: ['MSH', '1', '11', '202'] }]);
    const d = await handler.handle(Buffer.from(msg('D1', { processing: 'D', ack: 'AL|NE' })), 'p');
    expect(d.map(summary)).toEqual([{ code: 'CR', controlId: 'D1', err: ['MSH', '1', '11', '202'] }]);
    expect(emitted).toHaveLength(0);
    expect(counts.get('messages_unsupported')).toBe(2);
    // Production data is still taken.
    expect((await handler.handle(Buffer.from(msg('P1')), 'p')).map(summary)).toEqual([{ code: 'AA', controlId: 'P1' }]);
    expect(emitted).toHaveLength(1);
  });

  it('takes D as well when acceptProcessingIds says so (a vendor test system), still refusing T', async () => {
    const { handler, emitted } = setup(['P', 'D']);
    expect((await handler.handle(Buffer.from(msg('D2', { processing: 'D' })), 'p')).map(summary)).toEqual([{ code: 'AA', controlId: 'D2' }]);
    expect((await handler.handle(Buffer.from(msg('T2', { processing: 'T' })), 'p')).map(summary)[0]!.code).toBe('AR');
    expect(emitted).toHaveLength(1);
  });

  it('an AL/NE sender whose message cannot be read gets exactly one CE, no AE', async () => {
    const { handler, emitted } = setup();
    // Fails in the parser (bad escape): no header at all.
    const badEscape = await handler.handle(Buffer.from(msg('E1', { ack: 'AL|NE', obx: 'OBX|2|ST|1^X^MDC|1.1.1.2|a\\Xzz\\b|||||F\r' })), 'p');
    expect(badEscape.map((a) => summary(a).code)).toEqual(['CE']);
    expect(summary(badEscape[0]!).controlId).toBe('E1');
    // Parses, but the header is incomplete (MSH-12 missing).
    const noVersion = await handler.handle(Buffer.from(msg('E2', { ack: 'AL|NE', version: '' })), 'p');
    expect(noVersion.map(summary)).toEqual([{ code: 'CE', controlId: 'E2', err: ['MSH', '1', '12', '101'] }]);
    // NE/AL: the application ACK only.
    const neAl = await handler.handle(Buffer.from(msg('E3', { ack: 'NE|AL', obx: 'OBX|2|ST|1^X^MDC|1.1.1.2|a\\Xzz\\b|||||F\r' })), 'p');
    expect(neAl.map((a) => summary(a).code)).toEqual(['AE']);
    // Original mode is unchanged.
    const orig = await handler.handle(Buffer.from(msg('E4', { obx: 'OBX|2|ST|1^X^MDC|1.1.1.2|a\\Xzz\\b|||||F\r' })), 'p');
    expect(orig.map((a) => summary(a).code)).toEqual(['AE']);
    expect(emitted).toHaveLength(0);
  });

  it('ERR-2.2 is the occurrence of the segment id in the message (2nd OBX → 2), not its place in the frame', async () => {
    const { handler } = setup();
    const [ack] = await handler.handle(Buffer.from(msg('S1', { obx: 'OBX|2|ST|1^X^MDC|1.1.1.2|a\\Xzz\\b|||||F\r' })), 'p');
    expect(summary(ack!).err).toEqual(['OBX', '2', '5', '102']);
    // The human-readable text still says where in the frame (segment 5).
    expect(ack).toMatch(/segment 5 \(OBX\)/);
    // Within a batch, counting starts again at each message.
    const batch = `BHS|^~\\&|MON\r${msg('S2')}${msg('S3', { obx: 'OBX|2|ST|1^X^MDC|1.1.1.2|a\\Xzz\\b|||||F\r' })}BTS|2\r`;
    const [reply] = await handler.handle(Buffer.from(batch), 'p');
    expect(reply).toMatch(/\rERR\|[^|]*\|OBX\^2\^5\^/);
  });

  it('one bad message in a batch gets its own AE; the others are stored and ACKed AA, in one batch reply', async () => {
    const { handler, emitted, counts } = setup();
    const bad = 'OBX|2|ST|1^X^MDC|1.1.1.2|a\\Xzz\\b|||||F\r';
    const batch = `BHS|^~\\&|MON||||||||BATCH-77\r${msg('B1')}${msg('B2', { obx: bad })}${msg('B3')}BTS|3\r`;
    const replies = await handler.handle(Buffer.from(batch), 'p');
    expect(replies).toHaveLength(1);
    // The reply batch is addressed to the sender and names the batch it answers (BHS-12 = the received BHS-11).
    const bhs = replies[0]!.split('\r')[0]!.split('|');
    expect(bhs[4]).toBe('MON');
    expect(bhs[6]).toMatch(/^\d{14}/);
    expect(bhs[10]).toMatch(/^[0-9a-f]{20}$/);
    expect(bhs[11]).toBe('BATCH-77');
    const acks = replies[0]!.split(/(?=MSH\|)/).slice(1).map((a) => a.replace(/BTS\|.*$/s, ''));
    expect(acks.map(summary)).toEqual([
      { code: 'AA', controlId: 'B1' },
      { code: 'AE', controlId: 'B2', err: ['OBX', '2', '5', '102'] },
      { code: 'AA', controlId: 'B3' },
    ]);
    expect(emitted.map((e) => (e[0] as { patientId?: string }).patientId)).toEqual(['P-B1', 'P-B3']);
    expect(counts.get('messages_malformed')).toBe(1);
    // A broken envelope (BTS count wrong) still refuses the whole frame.
    const [whole] = await handler.handle(Buffer.from(`BHS|^~\\&|MON\r${msg('B4')}BTS|2\r`), 'p');
    expect(summary(whole!).code).toBe('AE');
    expect(emitted).toHaveLength(2);
  });

  it('a batch whose first message has an unreadable MSH answers it with its own AE; the others are stored and AA', async () => {
    const { handler, emitted, counts } = setup();
    const badMsh = msg('B1').replace('MSH|^~\\&|', 'MSH|^~\\|'); // MSH-2 of 3 characters
    const batch = `BHS|^~\\&|MON||||||||BATCH-78\r${badMsh}${msg('B2')}${msg('B3')}BTS|3\r`;
    const replies = await handler.handle(Buffer.from(batch), 'p');
    expect(replies).toHaveLength(1);
    expect(replies[0]!.startsWith('BHS|')).toBe(true);
    const acks = replies[0]!.split(/(?=MSH\|)/).slice(1).map((a) => a.replace(/BTS\|.*$/s, ''));
    expect(acks.map(summary)).toEqual([
      { code: 'AE', controlId: '', err: ['MSH', '1', '2', '102'] },
      { code: 'AA', controlId: 'B2' },
      { code: 'AA', controlId: 'B3' },
    ]);
    expect(emitted.map((e) => (e[0] as { patientId?: string }).patientId)).toEqual(['P-B2', 'P-B3']);
    expect(counts.get('messages_malformed')).toBe(1);
  });

  it('MSA-2 echoes MSH-10 exactly as sent, spaces included (accepted and refused alike)', async () => {
    const { handler, emitted, counts } = setup();
    const [aa] = await handler.handle(Buffer.from(msg(' 1233532926265-02 ')), 'p');
    expect(aa!.split('\r')[1]).toBe('MSA|AA| 1233532926265-02 |');
    const [ae] = await handler.handle(Buffer.from(msg(' E5', { version: '' })), 'p');
    expect(summary(ae!)).toMatchObject({ code: 'AE', controlId: ' E5' });
    // A resend that differs only by padding around MSH-10 is still a duplicate (key and content hash use the trimmed id).
    const [first] = await handler.handle(Buffer.from(msg('ID1')), 'p');
    expect(summary(first!)).toEqual({ code: 'AA', controlId: 'ID1' });
    // Padded in MSH-10 only (msg() also puts the id in PID-3).
    const [again] = await handler.handle(Buffer.from(msg('ID1').replace('|ID1|', '| ID1|')), 'p');
    expect(summary(again!)).toEqual({ code: 'AA', controlId: ' ID1' });
    expect(emitted).toHaveLength(2);
    expect(counts.get('duplicates')).toBe(1);
    expect(counts.get('control_id_reused')).toBeUndefined();
    // Only spaces is no control id at all.
    const [blank] = await handler.handle(Buffer.from(msg('   ')), 'p');
    expect(summary(blank!)).toMatchObject({ code: 'AE', err: ['MSH', '1', '10', '101'] });
  });

  it('PCD-04: a second alarm event row under one OBR is not raised, but counted and logged (once a minute per sender)', async () => {
    const { handler, emitted, counts, logs } = setup();
    const rows = [...alarmRows('1.2.1.1', '196652^MDC_EVT_LO^MDC', 'SpO2 low', 'L~PH~SP'), alarmRows('1.1.1.1', '196648^MDC_EVT_HI^MDC', 'HR high', 'H~PH~SP')[0]!];
    for (const id of ['A1', 'A2']) {
      const [ack] = await handler.handle(Buffer.from(r40(id, { obx: rows })), 'p');
      expect(summary(ack!).code).toBe('CA');
    }
    expect(emitted.flat().map((e) => (e as AlarmEvent).text)).toEqual(['SpO2 low', 'SpO2 low']);
    expect(counts.get('alarm_events_ignored')).toBe(2);
    const said = logs.filter((l) => l.counter === 'alarm_events_ignored');
    expect(said).toHaveLength(1);
    expect(said[0]!.msg).toMatch(/OBX 1 \(MDC_EVT_HI\) not raised/);
  });

  it('PCD-04: an alarm row with OBX-11 W (posted in error) or D (deleted) raises nothing; counted and logged', async () => {
    const { handler, emitted, counts, logs } = setup();
    for (const [id, status] of [['W1', 'W'], ['D1', 'D']] as const) {
      const [ack] = await handler.handle(Buffer.from(r40(id, { obx: alarmRows('1.2.1.1', '196652^MDC_EVT_LO^MDC', 'SpO2 low', 'L~PH~SP', status) })), 'p');
      expect(summary(ack!).code).toBe('CA');
    }
    expect(emitted.flat()).toEqual([]);
    expect(counts.get('alarm_events_retracted')).toBe(2);
    expect(logs.filter((l) => l.counter === 'alarm_events_retracted').map((l) => l.msg)).toEqual([
      'PCD-04 alarm OBX 1 (MDC_EVT_LO) has OBX-11 W (posted in error): not raised',
    ]);
    // The same alarm with status F is raised as before.
    await handler.handle(Buffer.from(r40('F1', { obx: alarmRows('1.2.1.1', '196652^MDC_EVT_LO^MDC', 'SpO2 low', 'L~PH~SP') })), 'p');
    expect(emitted.flat()).toMatchObject([{ kind: 'alarm', text: 'SpO2 low', priority: 'high', phase: 'start' }]);
  });

  it('alarmRepeatS (review rv185 M3): the sender\'s declared repeat goes on its alarms\' start and continue, not on an end; unset, on none', async () => {
    const rows = (id: string, phase: string) => r40(id, { obx: alarmRows('1.2.1.1', '196652^MDC_EVT_LO^MDC', 'SpO2 low', 'L~PH~SP', 'F', phase) });
    const declared = setup(['P'], { alarmRepeatMs: 30_000 });
    for (const [id, phase] of [['R1', 'start'], ['R2', 'continue'], ['R3', 'end']] as const) await declared.handler.handle(Buffer.from(rows(id, phase)), 'p');
    expect((declared.emitted.flat() as AlarmEvent[]).map((e) => [e.phase, e.repeatMs])).toEqual([['start', 30_000], ['continue', 30_000], ['end', undefined]]);
    const unset = setup();
    await unset.handler.handle(Buffer.from(rows('U1', 'start')), 'p');
    expect((unset.emitted.flat() as AlarmEvent[]).map((e) => [e.phase, 'repeatMs' in e])).toEqual([['start', false]]);
  });

  it('PCD-04 without OBR-3 / OBR-2: the alarm id holds the bed, so two beds never share one; said once per sender', async () => {
    const { handler, emitted, counts, logs } = setup();
    const noId = ['1', '', '', '196616^MDC_EVT_ALARM^MDC', '', '', '20240101115959+0000'];
    const rows = alarmRows('1.2.1.1', '196652^MDC_EVT_LO^MDC', 'SpO2 low', 'L~PH~SP');
    await handler.handle(Buffer.from(r40('N1', { pv1: 'ICU^1^1', obr: noId, obx: rows })), 'p');
    await handler.handle(Buffer.from(r40('N2', { pv1: 'ICU^2^1', obr: noId, obx: rows })), 'p');
    const [bed1, bed2] = emitted.flat() as AlarmEvent[];
    expect([bed1!.bed, bed2!.bed]).toEqual(['ICU/1/1', 'ICU/2/1']);
    expect(bed1!.deviceId).toBe(bed2!.deviceId); // the central station (MSH-3): the device alone tells nothing apart
    expect(bed1!.alarmId).not.toBe(bed2!.alarmId);
    // No patient id in it: alarm ids are forwarded as they are, patient ids may be pseudonymized.
    expect(bed1!.alarmId).not.toContain('PAT-N1');
    // The same bed again (an update of the same alarm): the same id.
    await handler.handle(Buffer.from(r40('N3', { pv1: 'ICU^1^1', obr: noId, obx: rows })), 'p');
    expect((emitted.flat()[2] as AlarmEvent).alarmId).toBe(bed1!.alarmId);
    expect(counts.get('alarm_id_fallback')).toBe(3);
    expect(logs.filter((l) => l.counter === 'alarm_id_fallback')).toHaveLength(1);
  });

  it('a message that cannot be parsed, or is too large, is answered addressed to its sender: MSH-5/6, MSH-9.2, MSH-11 and MSH-12 read from its MSH line', async () => {
    const { handler } = setup();
    const v25 = (id: string, obx = '') =>
      `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD^1.2.3^ISO|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P^T|2.5^DEU|||||\r` +
      `PID|||P-${id}\rOBR|1|||x|||20240101115959+0000\rOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r${obx}`;
    /** MSH-5, MSH-6, MSH-9, MSH-11, MSH-12 of an ACK. */
    const addressed = (ack: string) => {
      const f = ack.split('\r')[0]!.split('|');
      return [f[4], f[5], f[8], f[10], f[11]];
    };
    const expected = ['MON^0011223344556677^EUI-64', 'WARD^1.2.3^ISO', 'ACK^R01^ACK', 'P', '2.5'];
    // Accepted: the reference.
    const [aa] = await handler.handle(Buffer.from(v25('A1')), 'p');
    expect(addressed(aa!)).toEqual(expected);
    // A bad escape: the frame does not parse, only its MSH line can be read.
    const [ae] = await handler.handle(Buffer.from(v25('A2', 'OBX|2|ST|1^X^MDC|1.1.1.2|a\\Xzz\\b|||||F\r')), 'p');
    expect(summary(ae!).code).toBe('AE');
    expect(addressed(ae!)).toEqual(expected);
    // Too large: answered from its first bytes.
    const [big] = handler.oversize(Buffer.from(v25('A3').slice(0, 140)), 2048, 'p');
    expect(summary(big!).code).toBe('AE');
    expect(addressed(big!)).toEqual(expected);
    // An escape in MSH-3 goes back as the sender wrote it (decoded, then escaped again).
    const [esc] = await handler.handle(Buffer.from(v25('A4', 'OBX|2|ST|1^X^MDC|1.1.1.2|a\\Xzz\\b|||||F\r').replace('MON^', 'M\\T\\N^')), 'p');
    expect(addressed(esc!)[0]).toBe('M\\T\\N^0011223344556677^EUI-64');
    // Nothing readable: our defaults, as before.
    const [none] = await handler.handle(Buffer.from('garbage'), 'p');
    expect(addressed(none!)).toEqual(['', '', 'ACK^^ACK', 'P', '2.6']);
  });

  it('an MSH-18 refusal names segment MSH, sequence 1, field 18 in ERR-1 and ERR-2', async () => {
    const { handler } = setup();
    // ack '|': MSH-15/16 empty and the charset in MSH-18 (without it, msg() puts it in MSH-17).
    // ISO IR87 (JIS X 0208 behind ISO 2022 escapes) over an ESC sequence: not read as ASCII, refused (103).
    const jis = (m: string) => m.replace('UNICODE UTF-8', 'ISO IR87').replace('\rOBR', '||\x1b$B4A;z\x1b(B\rOBR');
    const [ack] = await handler.handle(Buffer.from(jis(msg('CS1', { ack: '|' }))), 'p');
    expect(summary(ack!)).toEqual({ code: 'AE', controlId: 'CS1', err: ['MSH', '1', '18', '103'] });
    const err = ack!.split('\r').find((l) => l.startsWith('ERR|'))!.split('|');
    expect(err[1]!.split('^').slice(0, 3)).toEqual(['MSH', '1', '18']);
    // Declared ASCII with a byte beyond it, and UTF-8 that is not: the same place.
    const [ascii] = await handler.handle(Buffer.from(msg('CS2', { ack: '|' }).replace('UNICODE UTF-8', 'ASCII').replace('|97|', '|9\xe97|'), 'latin1'), 'p');
    expect(summary(ascii!).err).toEqual(['MSH', '1', '18', '102']);
    const [utf8] = await handler.handle(Buffer.from(msg('CS3', { ack: '|' }).replace('|97|', '|9\xe97|'), 'latin1'), 'p');
    expect(summary(utf8!).err).toEqual(['MSH', '1', '18', '102']);
    // In a batch frame the MSH is not the frame's first segment: still sequence 1 of its message.
    const [batch] = await handler.handle(Buffer.from(`BHS|^~\\&|MON\r${jis(msg('CS4', { ack: '|' }))}BTS|1\r`), 'p');
    expect(batch!.split('\r').find((l) => l.startsWith('ERR|'))!.split('|')[2]!.split('^').slice(0, 3)).toEqual(['MSH', '1', '18']);
  });

  it('an oversize message is answered from its first bytes: AE (CE in enhanced mode) with its control id; no MSH → no ACK, counted', () => {
    const { handler, counts } = setup();
    const head = (ack: string) => Buffer.from(msg('BIG-1', { ack }).slice(0, 120));
    expect(handler.oversize(head(''), 2048, 'p').map(summary)).toEqual([{ code: 'AE', controlId: 'BIG-1', err: ['', '', '', '207'] }]);
    expect(handler.oversize(head('AL|NE'), 2048, 'p').map((a) => `${summary(a).code}:${summary(a).controlId}`)).toEqual(['CE:BIG-1']);
    const [ae] = handler.oversize(head(''), 2048, 'p');
    expect(ae).toMatch(/larger than 2048 bytes/);
    expect(handler.oversize(Buffer.from('xxxxxxxx'), 2048, 'p')).toEqual([]);
    expect(counts.get('frames_oversize_unanswered')).toBe(1);
  });
});

describe('per-message log lines of one sender', () => {
  it('parser and mapping warnings, duplicates and reused ids are counted per message but said once per sender and kind', async () => {
    const { handler, counts, logs } = setup();
    // Each message: CRLF terminators (parser) and an alarm with no priority (mapping); each sent twice (duplicate).
    const alarm = (id: string, sender = 'CENTRAL') =>
      r40(id, { obx: alarmRows('1.1.1.1', '196652^MDC_EVT_LO^MDC', 'SpO2 low', 'SP') }).replace('CENTRAL^', `${sender}^`).replaceAll('\r', '\r\n');
    for (let i = 0; i < 5; i++) {
      await handler.handle(Buffer.from(alarm(`M${i}`)), 'p:1');
      await handler.handle(Buffer.from(alarm(`M${i}`)), 'p:2');
    }
    // The same control id with other content (a sender whose ids restarted), twice.
    await handler.handle(Buffer.from(alarm('M0').replace('SpO2 low', 'SpO2 low!')), 'p:1');
    await handler.handle(Buffer.from(alarm('M1').replace('SpO2 low', 'SpO2 low!')), 'p:1');
    expect(counts.get('parser_crlf_terminators')).toBe(12);
    expect(counts.get('mapping_alarm_no_priority')).toBe(12);
    expect(counts.get('duplicates')).toBe(5);
    expect(counts.get('control_id_reused')).toBe(2);
    const lines = (re: RegExp) => logs.filter((l) => re.test(l.msg));
    expect(lines(/^HL7 parser: /)).toHaveLength(1);
    expect(lines(/^PCD mapping: .*no priority given/)).toHaveLength(1);
    expect(lines(/^HL7 duplicate/)).toHaveLength(1);
    expect(lines(/control id reused/)).toHaveLength(1);
    expect(lines(/^PCD mapping: /)[0]).toMatchObject({ sender: 'CENTRAL^0011223344556677^EUI-64|WARD', warning: 'alarm-no-priority', counter: 'mapping_alarm_no_priority' });
    // Another sender's first one is said.
    await handler.handle(Buffer.from(alarm('N0', 'OTHER')), 'p:3');
    expect(lines(/^PCD mapping: /)).toHaveLength(2);
    expect(lines(/^HL7 parser: /)).toHaveLength(2);
  });
});

describe('a store that refuses every message (full disk)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs the first refusal naming sender, peer and control id, then one summary a minute with the count and senders, then the recovery', async () => {
    const { handler, counts, logs, store } = setup();
    const t0 = Date.parse('2024-01-01T12:00:00Z');
    vi.setSystemTime(t0);
    store.refuse = true;
    const from = (id: string, app: string) => Buffer.from(msg(id).replace('MON^', `${app}^`));
    for (let i = 0; i < 10; i++) {
      const [ack] = await handler.handle(from(`F${i}`, i % 2 ? 'MON' : 'VENT'), `10.0.0.${(i % 2) + 1}:4000`);
      expect(summary(ack!)).toMatchObject({ code: 'AR', controlId: `F${i}`, err: ['', '', '', '207'] });
    }
    const refused = () => logs.filter((l) => /^HL7 events (not|still not) committed/.test(l.msg));
    expect(counts.get('emit_failures')).toBe(10);
    expect(refused()).toHaveLength(1);
    expect(refused()[0]).toMatchObject({ level: 50, peer: '10.0.0.1:4000', sender: 'VENT^0011223344556677^EUI-64|WARD', controlId: 'F0', counter: 'emit_failures' });

    // A minute on, the next refusal brings the summary of the ten since the first line.
    vi.setSystemTime(t0 + 61_000);
    await handler.handle(from('F10', 'MON'), '10.0.0.2:4000');
    await handler.handle(from('F11', 'MON'), '10.0.0.2:4000');
    expect(counts.get('emit_failures')).toBe(12);
    expect(refused()).toHaveLength(2);
    expect(refused()[1]).toMatchObject({
      level: 50,
      msg: expect.stringMatching(/^HL7 events still not committed: 10 messages refused since the last line, 11 since 2024-01-01T12:00:00.000Z/),
      failures: 10,
      inARow: 11,
      peer: '10.0.0.2:4000',
      sender: 'MON^0011223344556677^EUI-64|WARD',
      controlId: 'F10',
      senders: ['MON^0011223344556677^EUI-64|WARD from 10.0.0.2', 'VENT^0011223344556677^EUI-64|WARD from 10.0.0.1'],
    });

    // The store takes data again: said once, with how many were refused; the next refusal is logged at once.
    store.refuse = false;
    await handler.handle(from('G1', 'MON'), '10.0.0.2:4000');
    // ...naming the senders refused since the last line (F11's), who would otherwise never be named (review rv43 §7).
    expect(logs.filter((l) => /committed again/.test(l.msg))).toMatchObject([
      { level: 30, failures: 12, msg: 'HL7 events are committed again after 12 messages refused', senders: ['MON^0011223344556677^EUI-64|WARD from 10.0.0.2'] },
    ]);
    store.refuse = true;
    await handler.handle(from('G2', 'MON'), '10.0.0.2:4000');
    expect(refused()).toHaveLength(3);
    expect(refused()[2]).toMatchObject({ controlId: 'G2', msg: expect.stringMatching(/^HL7 events not committed/) });
  });
});

describe('messages whose cost would block the agent', () => {
  it('OBX-4 of 800 levels (a 13 KB message that held the event loop 18 s): AE, error 102 at OBX-4, counted, logged with context', async () => {
    const { handler, emitted, counts, logs } = setup();
    const deep = Array.from({ length: 800 }, () => '1').join('.');
    const rows = Array.from({ length: 8 }, (_, i) => `OBX|${i + 2}|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|${deep}|97|262688^MDC_DIM_PERCENT^MDC|||||F\r`).join('');
    const [ack] = await handler.handle(Buffer.from(msg('DEEP1', { obx: rows })), '10.0.0.9:4000');
    expect(summary(ack!)).toEqual({ code: 'AE', controlId: 'DEEP1', err: ['OBX', '2', '4', '102'] });
    expect(emitted).toHaveLength(0);
    expect(counts.get('messages_malformed')).toBe(1);
    expect(logs.find((l) => /HL7 message rejected/.test(l.msg))).toMatchObject({ peer: '10.0.0.9:4000', controlId: 'DEEP1', hl7Error: 102, at: 'segment 5 (OBX) OBX-4' });
  });

  it('an MA row of 20000 channels x 20000 time samples (a 40 KB message that killed the agent): AE, error 102 at OBX-5, counted, logged', async () => {
    const { handler, emitted, counts, logs } = setup();
    const value = '1' + '^'.repeat(19_999) + '~'.repeat(19_999);
    const row = `OBX|2|MA|131330^MDC_ECG_ELEC_POTL_I^MDC|1.1.1.2|${value}|266418^MDC_DIM_MILLI_VOLT^MDC|||||F|||20240101120000+0000\r`;
    const [ack] = await handler.handle(Buffer.from(msg('MA1', { ack: 'AL|NE', obx: row })), 'p');
    expect(summary(ack!)).toEqual({ code: 'CE', controlId: 'MA1', err: ['OBX', '2', '5', '102'] });
    expect(emitted).toHaveLength(0);
    expect(counts.get('messages_malformed')).toBe(1);
    expect(logs.find((l) => /HL7 message rejected/.test(l.msg))).toMatchObject({ controlId: 'MA1', hl7Error: 102, reason: expect.stringMatching(/20000 channels/) });
  });
});

describe('PCD-04 OBR without an alarm', () => {
  it('is counted (alarm_events_unreadable) and logged once a minute per sender; the message is taken, as other content left out is', async () => {
    const { handler, emitted, counts, logs } = setup();
    const mds = ['1', '', '69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC', '1.0.0.0', '', '', '', '', '', '', 'X'];
    for (const id of ['U1', 'U2']) {
      const [ack] = await handler.handle(Buffer.from(r40(id, { obx: [mds] })), 'p');
      expect(summary(ack!).code).toBe('CA');
    }
    expect(emitted.flat()).toEqual([]);
    expect(counts.get('alarm_events_unreadable')).toBe(2);
    expect(logs.filter((l) => l.counter === 'alarm_events_unreadable')).toMatchObject([
      { level: 40, controlId: 'U1', msg: expect.stringMatching(/no alarm event row/) },
    ]);
    // An event row without text (taken for a header row before) raises its alarm.
    await handler.handle(Buffer.from(r40('U3', { obx: [['1', '', '196652^MDC_EVT_LO^MDC', '', '', '', '', 'PH~SP', '', '', 'F']] })), 'p');
    expect(emitted.flat()).toMatchObject([{ kind: 'alarm', priority: 'high' }]);
  });
});

describe('counters, ACK bytes and empty batches', () => {
  it('messages_received counts messages (a batch of 3 is 3), frames_received frames', async () => {
    const { handler, counts } = setup();
    await handler.handle(Buffer.from(`BHS|^~\\&|MON||||||||B1\r${msg('A')}${msg('B')}${msg('C')}BTS|3\r`), 'p');
    await handler.handle(Buffer.from(msg('D')), 'p');
    await handler.handle(Buffer.from('garbage'), 'p');
    expect(counts.get('messages_received')).toBe(5);
    expect(counts.get('frames_received')).toBe(3);
    expect(counts.get('messages_accepted')).toBe(4);
  });

  it('ACKs stay ASCII: echoed non-ASCII characters are \\Xhh\\ escapes of the bytes the sender sent, in its charset', async () => {
    const { handler } = setup();
    const latin1 = Buffer.from(
      'MSH|^~\\&|MON|STATION_S\xdcD|||20240101120000+0000||ORU^R01^ORU_R01|N\xb01|P|2.6|||||8859/1\rPID|||P1\rOBR|1|||x|||20240101120000+0000\r' +
        'OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r',
      'latin1',
    );
    const [a] = await handler.handle(latin1, 'p');
    expect(a).toMatch(/^[\x00-\x7f]*$/);
    expect(a!.split('\r')[0]!.split('|')[5]).toBe('STATION_S\\XDC\\D');
    expect(a!.split('\r')[1]).toBe('MSA|AA|N\\XB0\\1|');
    // Read back as the sender reads it (escapes decoded in its charset): the id it sent.
    expect(str(parseMessage(a!).segments[1]!, 2)).toBe('N\xb01');
    // A UTF-8 sender gets the UTF-8 bytes; a message that cannot be read is answered from its raw bytes.
    const [u] = await handler.handle(Buffer.from(msg('N°2'), 'utf8'), 'p');
    expect(u!.split('\r')[1]).toBe('MSA|AA|N\\XC2B0\\2|');
    const [bad] = await handler.handle(Buffer.from('MSH|^~\\&|MON|WARD|||20240101120000+0000||ORU^R01|N\xb03|P\rOBX|1|ST|1^X|1|a\\Xzz\\b\r', 'latin1'), 'p');
    expect(bad).toMatch(/^[\x00-\x7f]*$/);
    expect(bad!.split('\r')[1]).toMatch(/^MSA\|AE\|N\\XB0\\3\|/);
  });

  it('an empty batch (BHS, BTS|0) is answered with an empty ACK batch naming it (BHS-12), counted and logged', async () => {
    const { handler, counts, logs } = setup();
    const [reply] = await handler.handle(Buffer.from('BHS|^~\\&|MON|WARD|||20240101120000+0000||||B-EMPTY\rBTS|0\r'), '10.0.0.7:4000');
    const segs = reply!.split('\r').filter(Boolean);
    expect(segs.map((s) => s.slice(0, 3))).toEqual(['BHS', 'BTS']);
    expect(segs[0]!.split('|')[11]).toBe('B-EMPTY');
    expect(segs[1]).toBe('BTS|0');
    expect(counts.get('batches_empty')).toBe(1);
    expect(counts.get('messages_received') ?? 0).toBe(0);
    expect(logs.filter((l) => l.counter === 'batches_empty')).toMatchObject([{ peer: '10.0.0.7:4000', batchControlId: 'B-EMPTY' }]);
  });
});

describe('charsets per message, byte order marks and leading blank lines (rv108)', () => {
  /** A message with one ST row whose OBX-5 is `text`, declaring `charset` in MSH-18 and written in `enc` (by default in it). */
  const cs = (id: string, charset: string, text: string, enc: BufferEncoding = charset === 'UNICODE UTF-8' ? 'utf8' : 'latin1'): Buffer =>
    Buffer.from(
      `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6||||||${charset}\r` +
        `PID|||P-${id}\rOBR|1|||x|||20240101115959+0000\rOBX|1|ST|999^X^99LOCAL|1.1.1.1|${text}||||||F\r`,
      enc,
    );
  const batchOf = (...msgs: Buffer[]) => Buffer.concat([Buffer.from('BHS|^~\\&|MON||||||||BATCH-CS\r'), ...msgs, Buffer.from(`BTS|${msgs.length}\r`)]);
  const acksOf = (reply: string) => reply.split(/(?=MSH\|)/).slice(1).map((a) => a.replace(/BTS\|.*$/s, ''));
  const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
  const values = (emitted: DriverEvent[][]) => emitted.flat().map((e) => (e as { value?: unknown }).value);

  it('each message of a batch is read in its own MSH-18 (8859/1, then UTF-8): no mojibake', async () => {
    const { handler, emitted } = setup();
    const [reply] = await handler.handle(batchOf(cs('B1', '8859/1', 'caf\xe9'), cs('B2', 'UNICODE UTF-8', 'café')), 'p');
    expect(acksOf(reply!).map(summary)).toEqual([
      { code: 'AA', controlId: 'B1' },
      { code: 'AA', controlId: 'B2' },
    ]);
    expect(values(emitted)).toEqual(['café', 'café']);
  });

  it('a batch message whose bytes are not valid in its MSH-18 gets its own AE naming MSH-18; the others are taken', async () => {
    const { handler, emitted, counts } = setup();
    const replies = await handler.handle(batchOf(cs('B3', 'UNICODE UTF-8', 'café'), cs('B4', 'UNICODE UTF-8', 'caf\xe9', 'latin1'), cs('B5', '8859/1', 'caf\xe9')), 'p');
    expect(replies).toHaveLength(1);
    expect(replies[0]!.startsWith('BHS|')).toBe(true);
    const acks = acksOf(replies[0]!);
    expect(acks.map(summary)).toEqual([
      { code: 'AA', controlId: 'B3' },
      { code: 'AE', controlId: 'B4', err: ['MSH', '1', '18', '102'] },
      { code: 'AA', controlId: 'B5' },
    ]);
    expect(acks[1]).toMatch(/MSH-18 says UTF-8 but the bytes are not valid UTF-8/);
    expect(values(emitted)).toEqual(['café', 'café']);
    expect(counts.get('messages_malformed')).toBe(1);
  });

  it('a message led by CR LF that cannot be read is answered with its MSH-10; so is an oversize one', async () => {
    const { handler, counts } = setup();
    const [ae] = await handler.handle(Buffer.concat([Buffer.from('\r\n'), cs('L2', '', 'x\\Xzz\\')]), 'p');
    expect(summary(ae!)).toMatchObject({ code: 'AE', controlId: 'L2' });
    const [big] = handler.oversize(Buffer.concat([Buffer.from('\r\n'), cs('BIG', '', 'x').subarray(0, 120)]), 2048, 'p');
    expect(summary(big!)).toMatchObject({ code: 'AE', controlId: 'BIG' });
    expect(counts.get('frames_oversize_unanswered')).toBeUndefined();
  });

  it('a UTF-8 byte order mark is skipped, counted and said (parser_bom); MSH-18 behind it is read', async () => {
    const { handler, emitted, counts, logs } = setup();
    const [aa] = await handler.handle(Buffer.concat([BOM, cs('BOM2', 'UNICODE UTF-8', 'café')]), 'p');
    expect(summary(aa!)).toEqual({ code: 'AA', controlId: 'BOM2' });
    expect(values(emitted)).toEqual(['café']);
    expect(counts.get('parser_bom')).toBe(1);
    expect(counts.get('parser_charset_assumed')).toBeUndefined();
    expect(logs.filter((l) => l.warning === 'bom').map((l) => l.msg)).toEqual([expect.stringMatching(/^HL7 parser: UTF-8 byte order mark/)]);
  });

  it('a byte order mark before a message whose MSH-18 is not UTF-8 is refused naming MSH-18, addressed by its MSH', async () => {
    const { handler, emitted } = setup();
    const [ae] = await handler.handle(Buffer.concat([BOM, cs('BOM1', '8859/1', 'caf\xe9')]), 'p');
    expect(summary(ae!)).toEqual({ code: 'AE', controlId: 'BOM1', err: ['MSH', '1', '18', '102'] });
    expect(ae).toMatch(/MSH-18 says 8859\/1 but the message starts with a UTF-8 byte order mark/);
    expect(addressedTo(ae!)).toBe('MON^0011223344556677^EUI-64');
    expect(emitted).toHaveLength(0);
  });

  it('rv110 M1: a batch message with an empty MSH-18 is read in the MSH-18 of the message before it (8859/2): no mojibake', async () => {
    const { handler, emitted, counts, logs } = setup();
    const pl = '\xb3\xf3d\xbc'; // "łódź" in 8859/2
    const [reply] = await handler.handle(batchOf(cs('A1', '8859/2', pl), cs('A2', '', pl)), 'p');
    expect(acksOf(reply!).map(summary)).toEqual([
      { code: 'AA', controlId: 'A1' },
      { code: 'AA', controlId: 'A2' },
    ]);
    expect(values(emitted)).toEqual(['łódź', 'łódź']);
    expect(counts.get('parser_charset_assumed')).toBe(1);
    expect(logs.filter((l) => l.warning === 'charset-assumed').map((l) => l.controlId)).toEqual(['A2']);
  });

  it('rv110 M1: an empty MSH-18 with non-ASCII bytes before any declaring message gets its own AE naming MSH-18', async () => {
    const { handler, emitted, counts } = setup();
    const [reply] = await handler.handle(batchOf(cs('A3', '', 'caf\xe9'), cs('A4', '8859/1', 'caf\xe9')), 'p');
    const acks = acksOf(reply!);
    expect(acks.map(summary)).toEqual([
      { code: 'AE', controlId: 'A3', err: ['MSH', '1', '18', '102'] },
      { code: 'AA', controlId: 'A4' },
    ]);
    expect(acks[0]).toMatch(/MSH-18 is empty \(ASCII\) but byte 0xe9 is not ASCII/);
    expect(values(emitted)).toEqual(['café']);
    expect(counts.get('messages_malformed')).toBe(1);
  });

  it('rv110 L1: a byte order mark before a batch governs its first message only; an all-ASCII one saying ASCII is taken', async () => {
    const { handler, emitted } = setup();
    const [reply] = await handler.handle(Buffer.concat([BOM, batchOf(cs('B1', 'ASCII', 'x'), cs('B2', 'UNICODE UTF-8', 'y'), cs('B3', '8859/1', 'caf\xe9'))]), 'p');
    expect(acksOf(reply!).map(summary)).toEqual([
      { code: 'AA', controlId: 'B1' },
      { code: 'AA', controlId: 'B2' },
      { code: 'AA', controlId: 'B3' },
    ]);
    expect(values(emitted)).toEqual(['x', 'y', 'café']);
  });

  it('rv110 L2: a byte order mark before a later MSH of a batch (concatenated files) is skipped and counted; each message answered', async () => {
    const { handler, emitted, counts } = setup();
    const [reply] = await handler.handle(batchOf(cs('C1', 'UNICODE UTF-8', 'x'), Buffer.concat([BOM, cs('C2', 'UNICODE UTF-8', 'y')])), 'p');
    expect(acksOf(reply!).map(summary)).toEqual([
      { code: 'AA', controlId: 'C1' },
      { code: 'AA', controlId: 'C2' },
    ]);
    expect(values(emitted)).toEqual(['x', 'y']);
    expect(counts.get('messages_received')).toBe(2);
    expect(counts.get('parser_bom')).toBe(1);
  });
});

/** MSH-5 of an ACK: whom it is addressed to. */
const addressedTo = (ack: string) => ack.split('\r')[0]!.split('|')[4];

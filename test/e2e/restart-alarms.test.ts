// Alarms open when the agent stops (a restart, an update, a crash) are not tracked by the next run: its engine
// starts empty. The next run says so with one latched alarm that lists them, until someone acknowledges it.
// Readings go in through the real ingest (store commit → alarm engine → journal in the same SQLite file).
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { deviceAlarm, numeric } from '../../agent/alarms/fixtures.js';
import { GATEWAY_BED, type AlarmStateChange } from '../../agent/alarms/types.js';
import { MDC } from '../../agent/model/mdc.js';
import { Outbox } from '../../agent/store/outbox.js';
import { pseudonymizer } from '../../agent/privacy.js';
import { registry } from '../../drivers/registry.js';
import Database from 'better-sqlite3';
import { captureLog } from '../support/log.js';
import { startAgentProcess, tempDir, writeConfig, type AgentProcess } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { freePort, MllpClient } from '../support/mllp-client.js';
import { messageSchemaErrors } from '../support/message-schema.js';

let agent: Agent | null = null;
let proc: AgentProcess | null = null;
const appendUnwatched = Outbox.prototype.append;
afterEach(async () => {
  Outbox.prototype.append = appendUnwatched;
  proc?.child.kill('SIGKILL');
  proc = null;
  await agent?.stop();
  agent = null;
});

const NURSE = { user: 'nurse', role: 'clinician' as const, from: 'test' };
/** Limit alarms at once, so that a reading raises one without waiting; NEWS2 off, so that only they are raised. */
const config = (dir: string) =>
  testConfig(dir, {
    store: { path: join(dir, 'agent.db') },
    alarms: {
      limits: { beds: { 'bed-1': { hr: { delayS: 0 }, spo2: { delayS: 0 }, 'spo2-desat': { delayS: 0 } }, 'bed-2': { hr: { delayS: 0 } } } },
      news2: { beds: { 'bed-1': { enabled: false }, 'bed-2': { enabled: false } } },
    },
  });

async function startAgent(dir: string, log = captureLog()): Promise<Agent> {
  agent = new Agent({ config: config(dir), registry, log: log.log });
  await agent.start();
  return agent;
}

/** A run leaves HR HIGH open on bed-1; the next one starts while the store refuses loss notes (SQLITE_BUSY). */
async function restartRefusingTheListNote(dir: string): Promise<Agent> {
  const first = await startAgent(dir);
  await first.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1')]);
  await first.stop();
  const noteLoss = Outbox.prototype.noteLoss;
  Outbox.prototype.noteLoss = () => {
    throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
  };
  try {
    return await startAgent(dir);
  } finally {
    Outbox.prototype.noteLoss = noteLoss;
  }
}

/** Starts an agent, keeping the alarm-change records it journals (as the cloud gets them), from its start on. */
async function startJournalling(dir: string): Promise<{ a: Agent; journal: Record<string, unknown>[] }> {
  const journal: Record<string, unknown>[] = [];
  const append = Outbox.prototype.append;
  Outbox.prototype.append = function (this: Outbox, ...args: Parameters<Outbox['append']>) {
    for (const r of args[0]) if (r.stream === 'alarms') journal.push(JSON.parse(r.body) as Record<string, unknown>);
    return append.apply(this, args);
  };
  return { a: await startAgent(dir), journal }; // afterEach puts append back
}

const restartAlarm = (a: Agent) => a.alarms.engine.list().find((x) => x.condition.raw?.code === 'alarms-open-at-restart');
/** Readings stamped now, so that the engine's clock and theirs agree. */
const now = (mdc: typeof MDC.ECG_HEART_RATE, value: number, bed: string) => ({ ...numeric(mdc, value, 0, { bed }), receivedAt: Date.now() });
/** The monitor's own V-TACH (high) on bed-1, reported now. */
const vtach = (phase: 'start' | 'continue' | 'end') => ({ ...deviceAlarm('vt-1', phase, 0, { text: 'V-TACH', priority: 'high', deviceId: 'mon-7', bed: 'bed-1' }), receivedAt: Date.now() });
const vtachAlarm = (a: Agent) => a.alarms.engine.list({ bed: 'bed-1' }).find((x) => x.key === 'device:mon-7:vt-1');

describe('alarms open at a restart', () => {
  it('are listed by one latched alarm at their highest priority, acknowledged ones as such; resolved ones are not', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    // bed-1: HR high (left open); SpO2 low, acknowledged; bed-2: HR high, then back to normal (resolved).
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1'), now(MDC.PULS_OXIM_SAT_O2, 85, 'bed-1'), now(MDC.ECG_HEART_RATE, 140, 'bed-2')]);
    const open = a.alarms.engine.list({ bed: 'bed-1' });
    expect(open.map((x) => x.condition.text).sort()).toEqual(['HR HIGH 150 > 120 /min', 'SpO2 LOW 85 < 90 %']);
    expect(a.alarms.acknowledge(open.find((x) => x.condition.text.startsWith('SpO2'))!.id, NURSE).ok).toBe(true);
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 80, 'bed-2')]);
    expect(a.alarms.engine.list({ bed: 'bed-2' })).toEqual([]);
    expect(restartAlarm(a)).toBeUndefined();
    await a.stop();

    const log = captureLog();
    a = await startAgent(dir, log);
    const r = restartAlarm(a);
    expect(r).toMatchObject({ state: 'latched', priority: 'medium', category: 'technical', bed: '*' });
    // The SpO2 LOW acknowledged, its condition present, is listed too (review rv99 M3), after the unanswered one.
    expect(r!.condition.text).toMatch(
      /^2 alarms were open when the agent stopped and are no longer tracked — check the bedside: HR HIGH 150 > 120 \/min \(bed-1, medium, active since 20\d\d-[^)]*\); SpO2 LOW 85 < 90 % \(bed-1, medium, acknowledged before the restart; condition still present then; open since 20\d\d-/,
    );
    expect(r!.condition.text).not.toContain('bed-2');
    expect(log.find(/alarms open before the restart are no longer tracked/)).toMatchObject({ alarms: 2 });
    // The old alarms themselves are not in this run's engine.
    expect(a.alarms.engine.list({ bed: 'bed-1' })).toEqual([]);
  });

  it('a device alarm acknowledged before the restart is listed, and a repeat from its device comes back acknowledged (rv99 M3)', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    await a.ingest.accept('test', [vtach('start')]);
    expect(a.alarms.acknowledge(vtachAlarm(a)!.id, NURSE).ok).toBe(true);
    await a.stop();

    const log = captureLog();
    a = await startAgent(dir, log);
    // The sender does not repeat it (PCD-04 start/end only): the bed is not shown clear without a word.
    expect(restartAlarm(a)).toMatchObject({ state: 'latched', priority: 'medium' });
    expect(restartAlarm(a)!.condition.text).toMatch(/V-TACH \(bed-1, high, acknowledged before the restart; condition still present then; open since /);
    expect(log.find(/acknowledgements from before the restart kept/)).toMatchObject({ restored: [{ alarm: 'device:mon-7:vt-1' }] });
    // The sender repeats it: the same episode, answered already; it does not escalate.
    const changes: AlarmStateChange[] = [];
    a.alarms.subscribe((cs) => changes.push(...cs));
    await a.ingest.accept('test', [vtach('continue')]);
    const back = vtachAlarm(a)!;
    expect(back).toMatchObject({ state: 'acknowledged', priority: 'high' });
    expect(changes.filter((c) => c.alarmId === back.id).map((c) => [c.change, c.why])).toEqual([
      ['raised', 'device reported continue (high)'],
      ['acknowledged', expect.stringMatching(/^acknowledged before the restart \(at 20\d\d-/)],
    ]);
    expect(a.alarms.engine.tick(Date.now() + 61_000).filter((c) => c.alarmId === back.id && c.change === 'escalated')).toEqual([]);
    await a.stop();

    // Acknowledged again in that run, present: the next restart keeps it the same way.
    a = await startAgent(dir);
    expect(restartAlarm(a)!.condition.text).toMatch(/^1 alarm was open .*V-TACH \(bed-1, high, acknowledged before the restart;/);
    await a.ingest.accept('test', [vtach('continue')]);
    expect(vtachAlarm(a)).toMatchObject({ state: 'acknowledged' });
  });

  it('are not carried over when every driver is simulated (the demo: its patients are generated anew), and are when one is not', async () => {
    for (const [drivers, listed] of [
      [[{ name: 'sim', type: 'simulator', options: { beds: 1 } }], false],
      [[{ name: 'sim', type: 'simulator', options: { beds: 1 } }, { name: 'mllp', type: 'hl7-mllp', options: { port: 0 } }], true],
    ] as const) {
      const dir = tempDir();
      const cfg = () => testConfig(dir, { store: { path: join(dir, 'agent.db') }, drivers, alarms: { limits: { beds: { 'bed-1': { hr: { delayS: 0 } } } }, news2: { beds: { 'bed-1': { enabled: false } } } } });
      agent = new Agent({ config: cfg(), registry, log: captureLog().log });
      await agent.start();
      await agent.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1'), vtach('start')]);
      expect(agent.alarms.engine.list({ bed: 'bed-1' })).toHaveLength(2);
      expect(agent.alarms.acknowledge(vtachAlarm(agent)!.id, NURSE).ok).toBe(true);
      await agent.stop();
      const log = captureLog();
      agent = new Agent({ config: cfg(), registry, log: log.log });
      await agent.start();
      expect(restartAlarm(agent) !== undefined, JSON.stringify(drivers.map((d) => d.type))).toBe(listed);
      if (!listed) expect(log.find(/not carried over: every driver is simulated/)).toMatchObject({ alarms: 2 });
      // Nor is an acknowledgement: a repeat of the (made-up) alarm is a new one.
      await agent.ingest.accept('test', [vtach('continue')]);
      expect(vtachAlarm(agent)!.state).toBe(listed ? 'acknowledged' : 'active');
      await agent.stop();
      agent = null;
    }
  });

  it('a list not acknowledged goes on through the next restart, with what that run left open; acknowledged, it is gone', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1')]);
    await a.stop();
    a = await startAgent(dir);
    expect(restartAlarm(a)!.condition.text).toContain('HR HIGH 150');
    // This run leaves an SpO2 DESAT (high) open, and nobody acknowledges the list.
    await a.ingest.accept('test', [now(MDC.PULS_OXIM_SAT_O2, 70, 'bed-1')]);
    await a.stop();

    a = await startAgent(dir);
    const r = restartAlarm(a)!;
    expect(r.priority).toBe('high');
    // The new run's list first (highest priority first), then the earlier one's.
    expect(r.condition.text).toMatch(/^2 alarms were open .*: SpO2 DESAT LOW 70 < 80 % \(bed-1, high, .*; SpO2 LOW 70 < 90 % \(bed-1, medium, .*\. Before an earlier restart: 1 alarm was open .*HR HIGH 150/);
    // Only one such alarm.
    expect(a.alarms.engine.list().filter((x) => x.condition.raw?.code === 'alarms-open-at-restart')).toHaveLength(1);
    expect(a.alarms.acknowledge(r.id, NURSE).ok).toBe(true);
    expect(restartAlarm(a)).toBeUndefined();
    await a.stop();

    // Acknowledged, with nothing open since: the next start is quiet.
    a = await startAgent(dir);
    expect(restartAlarm(a)).toBeUndefined();
  });

  it('an unreadable note still counts, as an alarm it cannot name', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1')]);
    const id = a.alarms.engine.list({ bed: 'bed-1' })[0]!.id;
    await a.stop();
    const db = new Database(join(dir, 'agent.db'));
    expect(db.prepare("UPDATE meta SET value = 'not json' WHERE key = ?").run(`open-alarm:${id}`).changes).toBe(1);
    db.close();
    a = await startAgent(dir);
    expect(restartAlarm(a)).toMatchObject({ state: 'latched', priority: 'high' });
    expect(restartAlarm(a)!.condition.text).toContain('an alarm whose note is unreadable');
  });

  it('after kill -9: the alarms the killed agent had open are listed by the next start', async () => {
    const dir = tempDir();
    const path = join(dir, 'agent.db');
    // A monitor's own "Low SpO2" (high), sent by a central station as an HL7 PCD-04: raised and noted. (Not the
    // simulator's: alarms of made-up patients get no note at all, review rv119 H1.)
    const port = await freePort();
    const file = writeConfig(dir, {
      gateway: { id: 'test-gw' },
      log: { level: 'info', pretty: 'never' },
      store: { path, synchronous: 'full' },
      drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } }],
    });
    proc = startAgentProcess(['--config', file]);
    const noted = () => {
      const db = new Database(path, { readonly: true, fileMustExist: true });
      try {
        return db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key LIKE 'open-alarm:%'").all().map((r) => r.value);
      } catch {
        return []; // not created yet
      } finally {
        db.close();
      }
    };
    await proc.waitForLog('driver started', 20_000);
    const at = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14) + '+0000';
    const client = await MllpClient.connect(port);
    try {
      const pcd04 = [
        `MSH|^~\\&|GW^00A037EB2175780F^EUI-64|MINDRAY|EDGE||${at}||ORU^R40^ORU_R40|A1|P|2.6|||AL|NE||UNICODE UTF-8`,
        'PID|||P1^^^H^MR||Doe^John',
        'PV1||I|ICU^1^1',
        `OBR|1|77^GW|77^GW|196616^MDC_EVT_ALARM^MDC|||${at}`,
        `OBX|1|ST|196670^MDC_EVT_LO^MDC|1.3.1.150456.1|Low SpO2|||L~PH~SP|||F|||${at}||||00A037EB2175780F^X^EUI-64`,
        `OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456.2|78|262688^MDC_DIM_PERCENT^MDC|90-96||||F|||${at}`,
        'OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.3.1.150456.3|start||||||F',
        'OBX|4|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.3.1.150456.4|active||||||F',
      ].join('\r');
      expect((await client.send(pcd04)).code).toBe('CA');
    } finally {
      client.close();
    }
    for (let i = 0; i < 300 && !noted().some((n) => n.includes('Low SpO2')); i++) await new Promise((r) => setTimeout(r, 100));
    expect(noted().some((n) => n.includes('Low SpO2'))).toBe(true);
    proc.child.kill('SIGKILL');
    await proc.exited;
    proc = null;

    const a = await startAgent(dir);
    expect(restartAlarm(a)).toMatchObject({ state: 'latched', category: 'technical', priority: 'high' });
    expect(restartAlarm(a)!.condition.text).toMatch(/Low SpO2 \(ICU\/1\/1, high, active since /);
  });

  it('while the store refuses the journal: an alarm raised is still noted, one acknowledged has its note marked so; the changes lost at stop are alarmed', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-2')]); // journalled and noted
    // The store refuses alarm journal records from now on (a full disk); small writes still go in.
    const append = a.outbox.append.bind(a.outbox);
    a.outbox.append = (records, at) => {
      if (records.some((r) => r.stream === 'alarms')) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      append(records, at);
    };
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 160, 'bed-1')]);
    expect(a.alarms.acknowledge(a.alarms.engine.list({ bed: 'bed-2' })[0]!.id, NURSE).ok).toBe(true);
    expect(a.alarms.journalState().held).toBeGreaterThan(0);
    await a.stop();

    a = await startAgent(dir);
    const text = restartAlarm(a)!.condition.text;
    expect(text).toMatch(/^2 alarms were open .*HR HIGH 160 > 120 \/min \(bed-1, medium, active since [^)]*\); HR HIGH 150 > 120 \/min \(bed-2, medium, acknowledged before the restart;/);
    // The held changes themselves never reached the store: that is a loss of its own, raised again.
    const lost = a.alarms.engine.list().find((x) => x.condition.raw?.code === 'alarm-journal-lost');
    expect(lost).toMatchObject({ state: 'latched', priority: 'high' });
    expect(lost!.condition.text).toMatch(/^Alarm journal: \d+ alarm changes? held in memory \(the store refused them\) were lost when the agent stopped/);
  });

  it('the notes stay until the list is noted in the store: a store that refuses the note lists them again next time', async () => {
    const dir = tempDir();
    // The next run cannot note the list (the store refuses it), and is stopped before it can try again.
    let a = await restartRefusingTheListNote(dir);
    expect(restartAlarm(a)!.condition.text).toContain('HR HIGH 150');
    await a.stop();
    a = await startAgent(dir);
    expect(restartAlarm(a)!.condition.text).toMatch(/^1 alarm was open .*HR HIGH 150/);
    // This time the list is noted: the notes go, and the next start has only the list itself, not a second copy.
    expect(a.outbox.openAlarmNotes().size).toBe(0);
    await a.stop();
    a = await startAgent(dir);
    expect(restartAlarm(a)!.condition.text).toMatch(/^1 alarm was open .*HR HIGH 150 .*\(before the restart; at /);
    expect(restartAlarm(a)!.condition.text).not.toContain('Before an earlier restart');
  });

  it('a list noted at a later check (the store refused it at start) then clears the notes', async () => {
    const a = await restartRefusingTheListNote(tempDir());
    expect(a.outbox.openAlarmNotes().size).toBe(1);
    a.enforceStoreLimits(); // the periodic check writes what the store refused
    expect(a.outbox.openAlarmNotes().size).toBe(0);
    expect([...a.outbox.unacknowledgedLosses().keys()]).toContain('alarms-open-at-restart');
  });

  it('notes that cannot be read say so (high); gateway conditions are not listed; a long text is cut', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1')]);
    a.alarms.gatewayCondition(a.gatewayId, 'hub-unreachable-test', true, 'Hub not reachable for 5 min');
    // A device alarm with a 3000-character text.
    a.alarms.handle([
      {
        kind: 'alarm', deviceId: 'mon-9', bed: 'bed-9', source: 'test', alarmId: 'x', condition: null, text: 'Z'.repeat(3000),
        priority: 'medium', category: 'physiological', phase: 'start', deviceTime: null, receivedAt: Date.now(),
      },
    ]);
    await a.stop();
    a = await startAgent(dir);
    const text = restartAlarm(a)!.condition.text;
    expect(text).toMatch(/^2 alarms were open /);
    expect(text).not.toContain('Hub not reachable');
    expect(text).toContain('HR HIGH 150');
    expect(text).toMatch(/; Z{119}… \(bed-9, medium, active since /);
    await a.stop();

    // A store whose notes cannot be read at all.
    const read = Outbox.prototype.openAlarmNotes;
    Outbox.prototype.openAlarmNotes = () => {
      throw Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
    };
    try {
      a = await startAgent(dir);
    } finally {
      Outbox.prototype.openAlarmNotes = read;
    }
    expect(restartAlarm(a)).toMatchObject({ priority: 'high', state: 'latched', conditionPresent: false });
    expect(restartAlarm(a)!.condition.text).toMatch(/could not tell which alarms were open/);
    // Acknowledged, it is gone (a past loss, not a condition that stays present).
    expect(a.alarms.acknowledge(restartAlarm(a)!.id, NURSE).ok).toBe(true);
    expect(restartAlarm(a)).toBeUndefined();
  });

  it('review rv185 M1: a device alarm acknowledged before the restart, whose end is the first report after it, resolves answered; it neither latches nor escalates', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    await a.ingest.accept('test', [vtach('start')]);
    expect(a.alarms.acknowledge(vtachAlarm(a)!.id, NURSE).ok).toBe(true);
    await a.stop();

    a = await startAgent(dir);
    const changes: AlarmStateChange[] = [];
    a.alarms.subscribe((cs) => changes.push(...cs));
    await a.ingest.accept('test', [vtach('end')]);
    expect(changes.filter((c) => c.alarm.key === 'device:mon-7:vt-1').map((c) => [c.change, c.to, c.actor, c.why])).toEqual([
      ['raised', 'active', 'system', 'device reported the end of an alarm not seen starting'],
      ['acknowledged', 'acknowledged', 'system', expect.stringMatching(/^acknowledged before the restart \(at 20\d\d-[^,]*, by nurse \(clinician\)\)$/)],
      ['resolved', 'resolved', 'system', 'device reported its end'],
    ]);
    expect(vtachAlarm(a)).toBeUndefined();
    expect(a.alarms.engine.tick(Date.now() + 61_000).filter((c) => c.alarm.key === 'device:mon-7:vt-1')).toEqual([]);
  });

  it('review rv185 M4: each alarm id open at the stop gets one closing record for the cloud, naming the restart alarm; not again at the next start', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1'), vtach('start')]);
    const hr = a.alarms.engine.list({ bed: 'bed-1' }).find((x) => x.source === 'limit')!;
    const vt = vtachAlarm(a)!;
    expect(a.alarms.acknowledge(vt.id, NURSE).ok).toBe(true);
    const acknowledgedAt = a.alarms.engine.get(vt.id)!.updatedAt;
    await a.stop();

    let run = await startJournalling(dir);
    a = run.a;
    const r = restartAlarm(a)!;
    const closing = (id: string) => run.journal.filter((c) => c.alarmId === id);
    const why = `no longer tracked: the agent restarted (see ${r.id})`;
    expect(closing(hr.id)).toEqual([
      expect.objectContaining({
        type: 'alarm-change', deviceId: 'mon-1', bed: 'bed-1', source: 'limit', change: 'resolved', from: 'active', to: 'resolved', state: 'resolved',
        actor: 'system', why, text: 'HR HIGH 150 > 120 /min', priority: 'medium', category: 'physiological', raisedAt: new Date(hr.raisedAt).toISOString(),
        // What its raised record carried of its source (review rv187 M2).
        sourceCode: MDC.ECG_HEART_RATE.code, sourceRefid: MDC.ECG_HEART_RATE.refid, value: 150, unit: '/min',
      }),
    ]);
    expect(closing(vt.id)).toEqual([
      expect.objectContaining({
        deviceId: 'mon-7', source: 'device', sourceAlarmId: 'vt-1', change: 'resolved', from: 'acknowledged', to: 'resolved', actor: 'system', why,
        text: 'V-TACH', priority: 'high', category: 'physiological',
      }),
    ]);
    // After the alarm's last change (consumers keep the newest state by `at`; review rv187 M1), and valid for the contract.
    expect(Date.parse(closing(vt.id)[0]!.at as string)).toBeGreaterThan(acknowledgedAt);
    expect(messageSchemaErrors({ schemaVersion: 1, gatewayId: a.gatewayId, messageId: 'm-1', stream: 'alarms', records: [...closing(hr.id), ...closing(vt.id)] })).toEqual([]);
    await a.stop();

    run = await startJournalling(dir);
    a = run.a;
    expect(run.journal.filter((c) => c.alarmId === hr.id || c.alarmId === vt.id)).toEqual([]);
  });

  it('review rv185 L4: "Gateway cannot store data" (latched: what was refused is gone) is raised again after a restart until acknowledged', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    const refusing = () => a.alarms.engine.list({ bed: GATEWAY_BED }).find((x) => x.key === 'gateway:store-refusing');
    // The store refuses the readings for a while (a full disk), then takes them again.
    const appendBatches = a.outbox.appendBatches.bind(a.outbox);
    a.outbox.appendBatches = () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    await expect(a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 80, 'bed-1')])).rejects.toThrow(/store refused/);
    a.outbox.appendBatches = appendBatches;
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 80, 'bed-1')]);
    expect(refusing()).toMatchObject({ state: 'latched', conditionPresent: false });
    await a.stop();

    a = await startAgent(dir);
    expect(refusing()).toMatchObject({ state: 'latched', priority: 'medium', conditionPresent: false });
    // A refusal that is past (review rv187 L4: it read "cannot" while the store took data): when it began, and that
    // the data was refused then.
    expect(refusing()!.condition.text).toMatch(
      /^Gateway could not store data \(disk full\) from 20\d\d-[^ ]*Z: readings in that time were shown and alarmed here but not kept or forwarded \(before the restart; at 20\d\d-/,
    );
    expect(a.alarms.acknowledge(refusing()!.id, NURSE).ok).toBe(true);
    await a.stop();
    a = await startAgent(dir);
    expect(refusing()).toBeUndefined();
  });

  it('review rv187 M2: with pseudonyms, the closing record carries the patient\'s pseudonym, and the note no raw id', async () => {
    const dir = tempDir();
    const key = 'k'.repeat(40);
    const privateConfig = { ...config(dir), privacy: { pseudonymizePatientIds: true, pseudonymKey: key } };
    agent = new Agent({ config: privateConfig, registry, log: captureLog().log });
    await agent.start();
    await agent.ingest.accept('test', [{ ...now(MDC.ECG_HEART_RATE, 150, 'bed-1'), patientId: 'MRN-RESTART-1' }]);
    const hr = agent.alarms.engine.list({ bed: 'bed-1' })[0]!;
    expect(hr.patientId).toBe('MRN-RESTART-1');
    const notes = [...agent.outbox.openAlarmNotes().values()].join();
    expect(notes).not.toContain('MRN-RESTART-1');
    await agent.stop();

    const journal: Record<string, unknown>[] = [];
    Outbox.prototype.append = function (this: Outbox, ...args: Parameters<Outbox['append']>) {
      for (const r of args[0]) if (r.stream === 'alarms') journal.push(JSON.parse(r.body) as Record<string, unknown>);
      return appendUnwatched.apply(this, args);
    };
    agent = new Agent({ config: privateConfig, registry, log: captureLog().log });
    await agent.start();
    // The pseudonym its raised record carried, not a pseudonym of the pseudonym.
    expect(journal.filter((c) => c.alarmId === hr.id).map((c) => [c.change, c.patientId])).toEqual([['resolved', pseudonymizer(key)('MRN-RESTART-1')]]);
  });

  it('review rv187 M3: the restart alarm acknowledged before the store took its note still closes the former alarms, once', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1')]);
    const hr = a.alarms.engine.list({ bed: 'bed-1' })[0]!;
    await a.stop();

    // The store refuses the list's note and the clearing of the notes (busy at the restart), and still does when the
    // nurse acknowledges the list.
    const busy = () => {
      throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    };
    const { noteLoss, clearOpenAlarmNotes } = Outbox.prototype;
    Outbox.prototype.noteLoss = busy;
    Outbox.prototype.clearOpenAlarmNotes = busy;
    let run: Awaited<ReturnType<typeof startJournalling>>;
    try {
      run = await startJournalling(dir);
      a = run.a;
      const list = restartAlarm(a)!;
      expect(run.journal.filter((c) => c.alarmId === hr.id)).toEqual([]); // not yet: the list is not noted
      expect(a.alarms.acknowledge(list.id, NURSE).ok).toBe(true);
      // Closed for the cloud at the acknowledgement, naming the list: it was seen.
      expect(run.journal.filter((c) => c.alarmId === hr.id)).toEqual([
        expect.objectContaining({ change: 'resolved', from: 'active', actor: 'system', why: `no longer tracked: the agent restarted (see ${list.id})` }),
      ]);
      // Journalled after the acknowledgement that caused it, in seq order.
      const order = run.journal.filter((c) => c.alarmId === list.id || c.alarmId === hr.id).map((c) => [c.alarmId === hr.id ? 'closing' : `list ${String(c.change)}`, c.seq]);
      expect(order.slice(-2)).toEqual([['list acknowledged', expect.any(Number)], ['closing', (order.at(-2)![1] as number) + 1]]);
    } finally {
      Outbox.prototype.noteLoss = noteLoss;
      Outbox.prototype.clearOpenAlarmNotes = clearOpenAlarmNotes;
    }
    expect(a.outbox.openAlarmNotes().size).toBe(1);
    a.enforceStoreLimits(); // the store takes writes again: the notes go at the next check
    expect(a.outbox.openAlarmNotes().size).toBe(0);
    expect(run.journal.filter((c) => c.alarmId === hr.id)).toHaveLength(1);
    await a.stop();

    // The next start neither lists them again (the list was acknowledged) nor closes them a second time.
    run = await startJournalling(dir);
    a = run.a;
    expect(restartAlarm(a)).toBeUndefined();
    expect(run.journal.filter((c) => c.alarmId === hr.id)).toEqual([]);
  });

  it('review rv187 L3: notes an older agent wrote are not closed, and the log line says so (warn), naming why', async () => {
    const dir = tempDir();
    let a = await startAgent(dir);
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1')]);
    await a.stop();
    // Rewritten as the agent before review rv185 M4 wrote them: no source, category, device or key.
    const db = new Database(join(dir, 'agent.db'));
    for (const row of db.prepare("select key, value from meta where key like 'open-alarm:%'").all() as { key: string; value: string }[]) {
      const n = JSON.parse(row.value) as Record<string, unknown>;
      db.prepare('update meta set value = ? where key = ?').run(JSON.stringify({ text: n.text, bed: n.bed, priority: n.priority, state: n.state, raisedAt: n.raisedAt }), row.key);
    }
    db.close();
    const log = captureLog();
    a = await startAgent(dir, log);
    const line = log.lines.find((l) => /before the restart/.test(String(l.msg)) && 'notClosedCount' in l);
    expect(line).toMatchObject({ level: 40, closed: 0, notClosedCount: 1 });
    expect(line!.msg).toMatch(/^1 alarm open before the restart not closed for the cloud \(none closed\): /);
    expect(line!.msg).toMatch(/written by an older agent/);
    expect(line!.msg).not.toMatch(/one resolved record each/);
  });

  it('review rv187 M1: with the gateway clock an hour behind at the restart, the closing record still sorts last by (at, seq)', async () => {
    const dir = tempDir();
    const run1 = await startJournalling(dir);
    let a = run1.a;
    // Other alarms and changes first, so that run 1's seq is past what run 2 reaches at its start.
    for (let i = 0; i < 3; i++) await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-2')]);
    expect(a.alarms.acknowledge(a.alarms.engine.list({ bed: 'bed-2' })[0]!.id, NURSE).ok).toBe(true);
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1')]);
    const hr = a.alarms.engine.list({ bed: 'bed-1' })[0]!;
    expect(a.alarms.acknowledge(hr.id, NURSE).ok).toBe(true);
    await a.stop();

    const realNow = Date.now;
    Date.now = () => realNow() - 3_600_000; // run 2 boots with its clock behind (no RTC, NTP not yet synced)
    try {
      a = (await startJournalling(dir)).a;
      await a.stop();
    } finally {
      Date.now = realNow;
    }
    agent = null;
    // Both runs' records of the alarm, as the cloud gets them (the journal spy of run 1 saw run 2's too).
    const records = run1.journal.filter((c) => c.alarmId === hr.id) as { seq: number; change: string; state: string; at: string }[];
    const closing = records.at(-1)!;
    expect(closing).toMatchObject({ change: 'resolved', state: 'resolved' });
    // docs/cloud-consumers.md: an alarm's records by `at`, then `seq`; the last is its state.
    const newest = [...records].sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : x.seq - y.seq)).at(-1);
    expect(newest).toBe(closing);
    expect(records.slice(0, -1).every((r) => r.at < closing.at)).toBe(true);
  });

  it('review rv187 L1: two runs started in the same millisecond give different alarm ids; the closing record closes only the earlier run\'s alarm', async () => {
    const dir = tempDir();
    const realNow = Date.now;
    const FIXED = realNow();
    /** Built with the clock at FIXED (a box that boots to the same clock each time), then started on the real one. */
    const start = async (): Promise<Agent> => {
      Date.now = () => FIXED;
      try {
        agent = new Agent({ config: config(dir), registry, log: captureLog().log });
      } finally {
        Date.now = realNow;
      }
      await agent.start();
      return agent;
    };
    const run1 = await startJournalling(dir); // only for its spy on the journal
    await run1.a.stop();
    agent = null;
    let a = await start();
    await a.ingest.accept('test', [now(MDC.ECG_HEART_RATE, 150, 'bed-1')]);
    const hr = a.alarms.engine.list({ bed: 'bed-1' })[0]!;
    await a.stop();
    const before = run1.journal.length;

    a = await start();
    const list = restartAlarm(a)!;
    expect(list).toMatchObject({ state: 'latched' });
    expect(list.id).not.toBe(hr.id);
    const records = run1.journal.slice(before);
    expect(records.filter((c) => c.alarmId === hr.id)).toEqual([expect.objectContaining({ change: 'resolved', why: `no longer tracked: the agent restarted (see ${list.id})` })]);
    expect(records.filter((c) => c.alarmId === list.id).map((c) => c.change)).toEqual(['raised', 'condition-ended']);
  });

  it('review rv187 L2: the gateway\'s own alarms carry the gateway id (store nearly full, hub unreachable)', async () => {
    const a = await startAgent(tempDir());
    const at = Date.now();
    const raised = [...a.alarms.engine.storeUsage(0.97, at), ...(a.alarms.engine.hubReachable(false, at), a.alarms.engine.tick(at + 301_000))].filter((c) => c.change === 'raised');
    expect(raised.map((c) => [c.alarm.key, c.alarm.deviceId])).toEqual([
      ['tech:gateway:store', a.gatewayId],
      ['tech:gateway:hub', a.gatewayId],
    ]);
  });
});

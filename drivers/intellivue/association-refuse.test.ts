// An association refusal is acted on only while our request is out (review rv131 M2): a monitor that answers after
// associationTimeoutMs gets our request twice; it accepts the first and refuses the second, which it receives on a live
// association. That late refusal must not stop polling (it did: state "refused", no polls, alarms held until the
// alarm-list bound ended them as "not current", reassociations 0). In listen-only mode a refusal seen on the tap answers
// the other host's request: no warning, no "retrying" (rv131 L1).
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, waitFor } from '../serial/testing.js';
import { IntellivueDriver } from './index.js';
import { buildPlan } from './options.js';
import { MOC, encodeAssociationAccept, encodeAssociationRefuse } from './protocol/index.js';
import { ACCEPT_ALL, alarmMonitor, fastOptions, mdsCreate, MemLink, pollResult } from './test-support.js';

let driver: IntellivueDriver | undefined;
let answering: NodeJS.Timeout | undefined;
afterEach(async () => {
  clearInterval(answering);
  answering = undefined;
  await driver?.stop();
  driver = undefined;
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HR_HIGH = { source: 16770, code: 40, type: 0x0400, text: '***HR High' };

/** Plays the monitor's side of polling: every poll is answered, the alarm monitor always listing HR High. */
function answerPolls(link: MemLink): void {
  const done = new Set<number>();
  answering = setInterval(() => {
    for (const p of link.polls()) {
      if (done.has(p.invokeId)) continue;
      done.add(p.invokeId);
      link.rx(pollResult(p.invokeId, p.objType.code, p.objType.code === MOC.VMO_AL_MON ? [alarmMonitor([HR_HIGH])] : []));
    }
  }, 20);
}

/** A driver that has sent two association requests (the first not answered within associationTimeoutMs). */
async function twoRequestsOut(): Promise<{ link: MemLink; ctx: ReturnType<typeof fakeContext> }> {
  const link = new MemLink();
  const ctx = fakeContext('refuse');
  driver = new IntellivueDriver(buildPlan(fastOptions('/dev/null', { waves: { enabled: false } })), ctx, () => link);
  await driver.start();
  await waitFor('two association requests', () => link.sent.filter((m) => m.kind === 'association').length >= 2);
  return { link, ctx };
}

const requests = (link: MemLink) => link.sent.filter((m) => m.kind === 'association').length;
const refusedLogs = (ctx: ReturnType<typeof fakeContext>) => ctx.logs.filter((l) => /refus/.test(String(l.msg)));

describe('IntelliVue: a late association refusal (rv131 M2)', () => {
  it('refusing a superseded request while polling: logged at info, counted, polling goes on, no alarm ends', async () => {
    const { link, ctx } = await twoRequestsOut();
    link.rx(encodeAssociationAccept(ACCEPT_ALL)); // the late accept of request 1
    link.rx(mdsCreate());
    await waitFor('polling', () => driver!.sessionState === 'polling' && link.polls(MOC.VMO_AL_MON).length > 0);
    answerPolls(link);
    await waitFor('HR High listed', () => ctx.alarms().some((a) => a.phase === 'start' && a.text === '***HR High'));
    const pollsBefore = link.polls().length;
    const requestsBefore = requests(link);
    const statusesBefore = ctx.statuses().length;

    link.rx(encodeAssociationRefuse()); // the monitor's answer to request 2
    // Longer than refusedRetryMs (300) and the quiet bound (800): the old code had stopped polling and re-asked by now.
    await sleep(1500);

    expect(driver!.sessionState).toBe('polling');
    expect(link.polls().length - pollsBefore).toBeGreaterThanOrEqual(8); // 200 ms interval, numerics and alarms
    expect(requests(link)).toBe(requestsBefore);
    expect(ctx.alarms().filter((a) => a.phase !== 'start').map((a) => `${a.phase}:${a.text}`)).toEqual([]);
    expect(ctx.statuses().slice(statusesBefore).map((s) => s.state)).not.toContain('error');
    expect(ctx.counter('associations_refused')).toBe(1);
    expect(ctx.counter('reassociations')).toBe(0);
    const logs = refusedLogs(ctx);
    expect(logs.map((l) => l.level)).toEqual([30]);
    expect(String(logs[0]!.msg)).toMatch(/late answer to an association request already given up on/);
    expect(String(logs[0]!.msg)).not.toMatch(/retrying/);
  });

  it('refusing a superseded request before the MDS Create: the accepted association goes on to polling', async () => {
    const { link, ctx } = await twoRequestsOut();
    link.rx(encodeAssociationAccept(ACCEPT_ALL));
    await waitFor('awaiting the MDS Create', () => driver!.sessionState === 'awaiting-mds');
    link.rx(encodeAssociationRefuse());
    await sleep(50);
    link.rx(mdsCreate());
    await waitFor('polling', () => driver!.sessionState === 'polling' && link.polls().length > 0, 2000);
    expect(ctx.statuses().map((s) => s.state)).not.toContain('error');
    expect(refusedLogs(ctx).map((l) => l.level)).toEqual([30]);
  });

  // The mirror (rv134 M1): request 1's refusal comes late, while request 2 is out, and is acted on (a refusal cannot
  // say which request it answers); the monitor then accepts request 2. That association must be used: the accept was
  // ignored in 'refused', the MDS Create answered (confirming it to the monitor), nothing polled, and a new request
  // sent on the live association after refusedRetryMs.
  it('a late refusal of request 1 while request 2 is out, then request 2 accepted: polling, no new request', async () => {
    const { link, ctx } = await twoRequestsOut();
    link.rx(encodeAssociationRefuse()); // the late answer to request 1
    await waitFor('refused', () => driver!.sessionState === 'refused', 400);
    link.rx(encodeAssociationAccept(ACCEPT_ALL)); // the answer to request 2
    await sleep(20);
    expect(driver!.sessionState).toBe('awaiting-mds');
    link.rx(mdsCreate());
    await waitFor('polling', () => driver!.sessionState === 'polling' && link.polls().length > 0, 1000);
    const requestsBefore = requests(link);
    answerPolls(link);
    await sleep(500); // > refusedRetryMs (300): the old code re-asked by now
    expect(driver!.sessionState).toBe('polling');
    expect(requests(link)).toBe(requestsBefore);
    expect(ctx.statuses().at(-1)?.state).toBe('online');
    expect(ctx.counter('associations_accepted')).toBe(1);
    expect(ctx.logs.some((l) => /accepted an association request after refusing one/.test(String(l.msg)))).toBe(true);
  });

  it('a late refusal of request 1, then the accept of request 2 lost and its MDS Create received: taken as the accept', async () => {
    const { link } = await twoRequestsOut();
    link.rx(encodeAssociationRefuse());
    await waitFor('refused', () => driver!.sessionState === 'refused', 400);
    link.rx(mdsCreate()); // request 2's accept was lost on the line
    await waitFor('polling', () => driver!.sessionState === 'polling' && link.polls().length > 0, 1000);
    const requestsBefore = requests(link);
    await sleep(500);
    expect(driver!.sessionState).toBe('polling');
    expect(requests(link)).toBe(requestsBefore);
  });

  it('a refusal of the request out is still acted on: status error, one warning, retried after refusedRetryMs', async () => {
    const link = new MemLink();
    const ctx = fakeContext('refuse');
    driver = new IntellivueDriver(buildPlan(fastOptions('/dev/null', { waves: { enabled: false } })), ctx, () => link);
    await driver.start();
    await waitFor('association request', () => requests(link) === 1);
    link.rx(encodeAssociationRefuse());
    await waitFor('refused', () => driver!.sessionState === 'refused', 400);
    expect(ctx.statuses().at(-1)?.state).toBe('error');
    expect(ctx.logs.filter((l) => /retrying/.test(String(l.msg))).map((l) => `${l.level} ${String(l.msg)}`)).toEqual([
      expect.stringMatching(/^40 intellivue association refused; retrying in 300 ms/),
    ]);
    await waitFor('retried', () => requests(link) === 2, 1000);
  });
});

describe('IntelliVue listen-only: a refusal seen on the tap (rv131 L1)', () => {
  it('is the other host\'s: logged at info with no retry advice, and counted', async () => {
    const link = new MemLink();
    const ctx = fakeContext('refuse-tap');
    driver = new IntellivueDriver(buildPlan(fastOptions('/dev/null', { waves: { enabled: false }, listenOnly: true })), ctx, () => link);
    await driver.start();
    await sleep(50);
    link.rx(encodeAssociationRefuse());
    await waitFor('counted', () => ctx.counter('associations_refused') === 1, 1000);
    const logs = refusedLogs(ctx);
    expect(logs.map((l) => `${l.level} ${String(l.msg)}`)).toEqual([
      expect.stringMatching(/^30 intellivue: the monitor refused the other host's association request/),
    ]);
    expect(ctx.logs.filter((l) => /retrying/.test(String(l.msg)))).toEqual([]);
    expect(link.sent).toEqual([]);
  });
});

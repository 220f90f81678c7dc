// NEWS2 observations a clinician records at the screen (on oxygen, confused) are not measured by any device. A
// restart of the agent must not forget them: "on oxygen" scores 2, and a forgotten one would be scored as assumed air.
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { MDC } from '../../agent/model/mdc.js';
import { registry } from '../../drivers/registry.js';
import { TOKENS, call, reading, testUsers } from '../browser/display-fixtures.js';
import { testConfig } from '../support/agent-config.js';
import { tempDir } from '../support/agent-process.js';
import { captureLog } from '../support/log.js';

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

/** Starts an agent on one store, with the display and its users, as often as called: each run with its own log. */
async function starter() {
  const config = testConfig(tempDir(), { display: { enabled: true, port: 0, ...(await testUsers()) } });
  return async () => {
    const captured = captureLog('info');
    const a = new Agent({ config, registry, log: captured.log, transport: null });
    await a.start();
    return { a, captured };
  };
}

describe('NEWS2 observations across a restart', () => {
  it('an observation recorded through the display still counts, as recorded, after the agent restarts', async () => {
    const start = await starter();
    let run = await start();
    agent = run.a;
    await agent.ingest.accept('test-source', [reading(MDC.RESP_RATE, 18, { bed: 'bed-r1' })]);
    const r = await call(agent.display!.address().url, 'POST', '/api/beds/bed-r1/observations', { token: TOKENS.clinician, body: { oxygen: 'oxygen', consciousness: 'C' } });
    expect(r.status).toBe(200);
    const recordedAt = agent.alarms.engine.news2Observations(Date.now())['bed-r1']!.oxygen!.at;
    await agent.stop();

    run = await start();
    agent = run.a;
    expect(run.captured.lines.find((l) => l.msg === 'NEWS2 observations recorded before the restart restored')).toMatchObject({ beds: ['bed-r1'] });
    const score = agent.alarms.engine.news2('bed-r1', Date.now())!;
    expect(score.assumed).not.toContain('oxygen');
    expect(score.assumed).not.toContain('consciousness');
    expect(agent.alarms.engine.news2Observations(Date.now())).toEqual({ 'bed-r1': { oxygen: { value: 'oxygen', at: recordedAt }, consciousness: { value: 'C', at: recordedAt }, level: { value: 'medium', at: expect.any(Number) } } });
  }, 30_000);
  it('a NEWS2 level noted too long ago is reported once, at the first restart, and removed from the note then', async () => {
    const start = await starter();
    const notHeld = (lines: { msg?: string }[]) => lines.filter((l) => l.msg?.includes('noted before the restart for bed bed-r2 not held'));
    let run = await start();
    agent = run.a;
    await agent.ingest.accept('test-source', [reading(MDC.RESP_RATE, 18, { bed: 'bed-r2' })]);
    const r = await call(agent.display!.address().url, 'POST', '/api/beds/bed-r2/observations', { token: TOKENS.clinician, body: { oxygen: 'oxygen', consciousness: 'C' } });
    expect(r.status).toBe(200);
    // The gateway was off for three days: the level and the observations were noted before that.
    const old = Date.now() - 72 * 3600_000;
    const noted = agent.alarms.engine.news2Observations(Date.now())['bed-r2']!;
    expect(noted.level?.value).toBe('medium');
    await agent.stop();
    const aged = { 'bed-r2': { ...noted, oxygen: { ...noted.oxygen!, at: old }, consciousness: { ...noted.consciousness!, at: old }, level: { ...noted.level!, at: old } } };

    // Written between runs, as the store would hold it after the long stop.
    run = await start();
    agent = run.a;
    agent.outbox.setNote('news2-observations', JSON.stringify(aged));
    await agent.stop();

    run = await start();
    agent = run.a;
    expect(notHeld(run.captured.lines)).toHaveLength(1);
    expect(JSON.parse(agent.outbox.note('news2-observations') ?? '{}')['bed-r2']?.level).toBeUndefined();
    await agent.stop();

    run = await start();
    agent = run.a;
    expect(notHeld(run.captured.lines)).toHaveLength(0);
  }, 30_000);
});

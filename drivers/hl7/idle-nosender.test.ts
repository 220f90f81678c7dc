// The listener's own idle timeout and its "no sender" check (review rv126 L1): a quiet sender that the listener
// itself closed for idleness is not "no sender" (it connects again when it has something to send); one that closed
// its own connection, or a listener nobody connected to, still is.
import { describe, expect, it } from 'vitest';
import { captureCtx, mllpSetup, poller } from './test-support.js';

const fakeCtx = () => captureCtx({});
const t = mllpSetup();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = poller(5000, 10);

describe('no sender, and the listener\'s own idle close', () => {
  it('a quiet sender closed by the idle timeout does not make the listener "no sender"; health says it was closed for idleness', async () => {
    const ctx = fakeCtx();
    const port = await t.start(ctx, { idleTimeoutMs: 300, noSenderAfterS: 1 });
    const c = await t.connect(port);
    await until(() => c.closed, 'the idle close');
    expect(ctx.counts.get('idle_timeouts')).toBe(1);
    // Well past noSenderAfterS since the close (the watch runs every second).
    await sleep(2300);
    const h = t.driver!.health();
    expect(h.state).toBe('running');
    expect(h.detail).toMatch(/^0 connection\(s\) \(the last sender was closed by this listener after 0\.3 s without traffic \(idleTimeoutMs\); it connects again to send\)/);
    expect(ctx.counts.get('no_sender')).toBeUndefined();
    expect(ctx.logs.filter((l) => /no HL7 sender has connected/.test(l.msg))).toEqual([]);

    // The sender comes back and then closes its own connection: from then on the quiet spell counts.
    const c2 = await t.connect(port);
    await until(() => (t.driver!.health().detail ?? '').startsWith('1 connection(s)'), 'the new connection');
    c2.sock.end();
    await until(() => c2.closed, 'the sender\'s close');
    await sleep(2300);
    expect(t.driver!.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/^no sender connected to 127\.0\.0\.1:\d+ for \d+ s/) });
    expect(ctx.counts.get('no_sender')).toBe(1);
  }, 15_000);

  it('a listener nobody connects to is still "no sender" after noSenderAfterS', async () => {
    const ctx = fakeCtx();
    await t.start(ctx, { idleTimeoutMs: 300, noSenderAfterS: 1 });
    await sleep(1300);
    expect(t.driver!.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/^no sender connected to 127\.0\.0\.1:\d+ for 1 s: check the sender's destination port/) });
  });
});

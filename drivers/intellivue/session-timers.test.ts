// A long, healthy session must not pile up timers: every chunk received re-arms the quiet-line timer.
import { describe, expect, it } from 'vitest';
import { IntellivueSession } from './session.js';
import { buildPlan } from './options.js';
import { fastOptions } from './test-support.js';
import { encodeAssociationAccept, encodeMdsCreateEvent, encodeMessageFrame, MDS_OBJECT } from './protocol/index.js';

describe('IntelliVue session timers', () => {
  it('stay a handful however many chunks arrive while polling', () => {
    const plan = buildPlan(fastOptions('/dev/null', { pollIntervalMs: 1000, quietReassociateMs: 5000, waves: { enabled: false } }));
    const s = new IntellivueSession(plan, { write: async () => {}, output: () => {}, count: () => {}, log: () => {} });
    s.linkOpened();
    s.receive(encodeMessageFrame(encodeAssociationAccept({ minPollPeriodTicks: 8000, maxMtuRx: 1000, maxMtuTx: 1000, extOptions: 0, systemType: 0, startupMode: 0 })));
    s.receive(encodeMessageFrame(encodeMdsCreateEvent(1, 0, MDS_OBJECT, [])));
    expect(s.state).toBe('polling');
    // The set is private; read here only to count what the session holds.
    const timers = (s as unknown as { timers: Set<unknown> }).timers;
    const before = timers.size;
    for (let i = 0; i < 10_000; i++) s.receive(Buffer.from([0x00]));
    expect(timers.size).toBe(before);
    s.linkClosed();
    expect(timers.size).toBe(0);
  });
});

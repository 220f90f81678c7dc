// The login answer tells the page how long its session lives (review rv151 F2): the page times its login on its own
// clock from that, whatever the display PC's wall clock says (expiresAt, on the gateway's clock, is for display).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORDS, call, startDisplayAgent, type DisplayAgent } from '../../test/browser/display-fixtures.js';

describe('POST /api/login', () => {
  let d: DisplayAgent;
  beforeAll(async () => (d = await startDisplayAgent({ sessionTtlS: 120 })));
  afterAll(() => d.close());

  it('answers the session\'s time to live (ttlS) with its expiresAt', async () => {
    const before = Date.now();
    const r = await call(d.url, 'POST', '/api/login', { body: { user: 'nurse.jones', password: PASSWORDS.clinician } });
    const after = Date.now();
    expect(r.status).toBe(200);
    const body = r.json() as { ttlS: number; expiresAt: number };
    expect(body.ttlS).toBe(120);
    expect(body.expiresAt).toBeGreaterThanOrEqual(before + 120_000);
    expect(body.expiresAt).toBeLessThanOrEqual(after + 120_000);
  });
});

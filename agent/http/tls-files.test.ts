// The display certificate's dates and key, on certificates made with openssl for each case: one outside its dates, one
// expiring soon and a short RSA key are warned about by --check and at start, naming display.tls.certFile (browsers
// refuse all of them, and the screens would go dark with nothing in the log).
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDisplayAgent } from '../../test/browser/display-fixtures.js';
import { readDisplayTls } from './tls-files.js';
import { GATEWAY_BED } from '../alarms/types.js';
import { validateConfig } from '../config/load.js';
import { configWarnings } from '../config/check.js';
import { registry } from '../../drivers/registry.js';

let dir: string;
const files = (name: string) => ({ certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) });
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
/** A self-signed certificate valid from now for `days` (negative: expired), with the key given. */
function makeCert(name: string, days: number, newkey: string[] = ['-newkey', 'rsa:2048']): void {
  openssl('req', '-new', ...newkey, '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-signkey', `${name}.key`, '-days', String(days), '-sha256', '-out', `${name}.pem`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'display-tls-'));
  makeCert('good', 365);
  makeCert('ec', 365, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']);
  makeCert('soon', 10);
  makeCert('expired', -1);
  makeCert('rsa1024', 365, ['-newkey', 'rsa:1024']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('display certificate checks (readDisplayTls)', () => {
  it('accepts a sound RSA or EC certificate without a warning', () => {
    expect(readDisplayTls(files('good')).warnings).toEqual([]);
    expect(readDisplayTls(files('ec')).warnings).toEqual([]);
  });

  it('warns of an expired certificate, or one not yet valid on the gateway\'s clock, naming the file (not refused: only the screens suffer)', () => {
    expect(readDisplayTls(files('expired')).warnings).toEqual([expect.stringMatching(/expired\.pem expired on .*: browsers refuse it, so no screen can show the ward/)]);
    const f = files('good');
    const from = new Date(new X509Certificate(readFileSync(f.certFile)).validFrom).getTime();
    expect(readDisplayTls(f, 'display.tls', from - 86_400_000).warnings).toEqual([expect.stringMatching(/good\.pem is valid only from .*check the gateway's clock/)]);
  });

  it('warns of a certificate that expires within 30 days and of an RSA key under 2048 bits', () => {
    expect(readDisplayTls(files('soon')).warnings).toEqual([expect.stringMatching(/soon\.pem expires on .* \(in (9|10) days\): renew it and restart the agent/)]);
    expect(readDisplayTls(files('rsa1024')).warnings).toEqual([expect.stringMatching(/rsa1024\.pem has an RSA key of 1024 bits: browsers refuse keys under 2048 bits/)]);
  });

  it('while the agent runs, a certificate within 14 days of its end, or past it, is a medium gateway alarm (review rv43 §9)', async () => {
    for (const [name, text] of [['soon', /^Display certificate expires on .* \(in (10|11) days\): renew it and restart the agent$/], ['expired', /^Display certificate expired on .*: browsers refuse it, screens cannot connect/]] as const) {
      const d = await startDisplayAgent({ tls: files(name) });
      try {
        const alarm = d.agent.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.key === `gateway:display-certificate-${name === 'soon' ? 'expiring' : 'expired'}`);
        expect(alarm).toMatchObject({ priority: 'medium', category: 'technical' });
        expect(alarm!.condition.text).toMatch(text);
      } finally {
        await d.close();
      }
    }
    const good = await startDisplayAgent({ tls: files('good') });
    try {
      expect(good.agent.alarms.engine.list({ bed: GATEWAY_BED }).some((a) => a.key.startsWith('gateway:display-certificate'))).toBe(false);
    } finally {
      await good.close();
    }
  });

  it('--check and the start say it as a warning on display.tls.certFile (configWarnings); the display still starts', async () => {
    const config = validateConfig({ display: { enabled: true, tls: files('expired') }, drivers: [{ name: 'a', type: 'simulator' }] }, registry, 'test.yaml');
    expect(configWarnings(config).filter((w) => w.path === 'display.tls.certFile')).toEqual([{ path: 'display.tls.certFile', message: expect.stringMatching(/expired\.pem expired on/) }]);
    const d = await startDisplayAgent({ tls: files('expired') });
    await d.close();
  });
});

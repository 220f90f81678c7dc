// The display over TLS (display.tls): served over HTTPS with the configured certificate, verified by a client
// that trusts its CA; plain HTTP on the same port is not answered as HTTP.
import { request } from 'node:https';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';

// The IoT Hub stand-in's TEST-ONLY CA and its localhost certificate serve here too.
const CERTS = join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs');

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

function get(port: number, ca?: Buffer): Promise<{ status: number; body: string; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: 'localhost', port, path: '/healthz', agent: false, ...(ca ? { ca } : {}) }, (res) => {
      const authorized = (res.socket as import('node:tls').TLSSocket).authorized;
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, authorized }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('display over TLS', () => {
  it('serves HTTPS with the configured certificate; an untrusting client and plain HTTP get nothing', async () => {
    const cap = captureLog();
    const config = testConfig(tempDir(), {
      display: { enabled: true, host: '127.0.0.1', port: 0, tls: { certFile: join(CERTS, 'server.pem'), keyFile: join(CERTS, 'server-key.pem') } },
    });
    agent = new Agent({ config, registry, log: cap.log });
    await agent.start();
    const listening = cap.find('display listening')!;
    expect(listening).toMatchObject({ tls: true, url: expect.stringMatching(/^https:\/\//) });
    const port = Number(String(listening.url).split(':').at(-1));

    const ok = await get(port, readFileSync(join(CERTS, 'ca.pem')));
    expect(ok).toMatchObject({ status: 200, authorized: true });
    expect(JSON.parse(ok.body)).toHaveProperty('status');

    await expect(get(port)).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);

    const plain = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      setTimeout(() => s.destroy(), 2000);
    });
    expect(plain).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it('a certificate that cannot be used stops the start, naming it; the store and the model loading in the background are closed', async () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.pem');
    writeFileSync(bad, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    const cap = captureLog();
    // A model file that does not exist: had it gone on loading, the dead agent would raise its alarm into a closed store.
    const config = testConfig(dir, {
      display: { enabled: true, host: '127.0.0.1', port: 0, tls: { certFile: bad, keyFile: join(CERTS, 'server-key.pem') } },
      model: { path: join(dir, 'no-such-model.onnx') },
    });
    expect(() => new Agent({ config, registry, log: cap.log })).toThrow(/display\.tls: the certificate .*bad\.pem and key .*server-key\.pem cannot be used together \(.*PEM routines/);
    await new Promise((r) => setTimeout(r, 500)); // longer than a missing model takes to fail its load
    expect(cap.find(/edge model not loaded/)).toBeUndefined();
    expect(cap.lines.filter((l) => Number(l.level) >= 50)).toEqual([]);
    expect(existsSync(join(dir, 'agent.db-wal'))).toBe(false);
  });
});


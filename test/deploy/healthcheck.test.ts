// The container health check script (deploy/iotedge/modules/bedside-agent/healthcheck.mjs), run as Docker runs
// it — a separate node process, judged by its exit code — against a real agent's /healthz and against servers
// that answer wrongly or not at all. Ports are chosen by the OS.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';
import { IOTEDGE_DIR } from './iotedge.js';

const SCRIPT = join(IOTEDGE_DIR, 'modules', 'bedside-agent', 'healthcheck.mjs');

function runCheck(url: string): Promise<{ code: number | null; out: string }> {
  return runCheckWith({ HEALTHCHECK_URL: url });
}

/** The script with these variables over the test's own (AGENT_DISPLAY_PORT and HEALTHCHECK_URL unset unless given). */
function runCheckWith(vars: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, HEALTHCHECK_TIMEOUT_MS: '1500' };
  delete env.AGENT_DISPLAY_PORT;
  delete env.HEALTHCHECK_URL;
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT], { env: { ...env, ...vars }, timeout: 10_000 }, (err, stdout) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout });
    });
  });
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
}

describe('healthcheck.mjs', () => {
  it('is healthy against a real agent with the display on (GET /healthz answers 200 with its status)', async () => {
    const dir = tempDir('healthcheck-');
    const config = testConfig(dir, {
      display: { enabled: true, host: '127.0.0.1', port: 0 },
      drivers: [{ name: 'ward-sim', type: 'simulator', options: { beds: 1, waveforms: false } }],
    });
    const agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    cleanup.push(() => agent.stop());
    const { port } = agent.display!.address();
    const r = await runCheck(`http://127.0.0.1:${port}/healthz`);
    expect(r.out).toMatch(/^healthy: status=(ok|degraded) forwarder=off/);
    expect(r.code).toBe(0);
  });

  it('stays healthy when the agent reports itself degraded (a restart would not fix a cable or the uplink)', async () => {
    const url = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"degraded","forwarder":{"state":"retrying"}}'));
    const r = await runCheck(url);
    expect(r).toEqual({ code: 0, out: 'healthy: status=degraded forwarder=retrying\n' });
  });

  it('is unhealthy on an HTTP error, on a 200 without JSON, and when nothing listens', async () => {
    const err = await runCheck(await serve((_req, res) => res.writeHead(503).end('busy')));
    expect(err.code).toBe(1);
    expect(err.out).toContain('HTTP 503');

    const notJson = await runCheck(await serve((_req, res) => res.writeHead(200).end('<html>')));
    expect(notJson.code).toBe(1);
    expect(notJson.out).toContain('without a JSON body');

    // A port that was just free: bind, note it, close.
    const closed = await serve((_req, res) => res.end());
    await cleanup.pop()!();
    const refused = await runCheck(closed);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/^unhealthy: /);
  });

  it('is unhealthy when the agent hangs (no answer within the timeout)', async () => {
    const url = await serve(() => undefined); // accepts, never answers
    const r = await runCheck(url);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/no answer within 1500 ms/);
  });

  it('calls the port AGENT_DISPLAY_PORT moves the display to; HEALTHCHECK_URL still wins (review rv103 L1)', async () => {
    const url = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","forwarder":{"state":"off"}}'));
    const port = new URL(url).port;
    expect(await runCheckWith({ AGENT_DISPLAY_PORT: port })).toEqual({ code: 0, out: 'healthy: status=ok forwarder=off\n' });
    // A port that was just free, named by HEALTHCHECK_URL: it is what is called, not AGENT_DISPLAY_PORT's.
    const closed = await serve((_req, res) => res.end());
    await cleanup.pop()!();
    const won = await runCheckWith({ AGENT_DISPLAY_PORT: port, HEALTHCHECK_URL: closed });
    expect(won.code).toBe(1);
    expect(won.out).toContain(`unhealthy: ${closed}: `);
    // A value no address can be formed from: one line, not a stack trace.
    expect(await runCheckWith({ AGENT_DISPLAY_PORT: 'a b' })).toEqual({ code: 1, out: 'unhealthy: cannot form the address from HEALTHCHECK_URL="" AGENT_DISPLAY_PORT="a b"\n' });
  });
});

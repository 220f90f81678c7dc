// Fixtures for the display tests (agent/http and test/browser): an agent with the display on port 0, readings to inject,
// JSON requests and a server-sent-events client over real sockets.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { Agent } from '../../agent/agent.js';
import { MDC, UNITS } from '../../agent/model/mdc.js';
import type { MdcCode, NumericReading, Quality, Unit, WaveformSegment } from '../../agent/model/reading.js';
import { captureLog, type CapturedLog } from '../support/log.js';
import { testConfig } from '../support/agent-config.js';
import { tempDir } from '../support/agent-process.js';
import { registry } from '../../drivers/registry.js';
import { hashPassword, hashToken } from '../../agent/http/passwords.js';

/** Fast scrypt parameters for tests only (the CLI uses SCRYPT_DEFAULTS). */
const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };

export const PASSWORDS = { viewer: 'viewer-pass-1', clinician: 'clinician-pass-1', admin: 'admin-pass-1' } as const;
export const TOKENS = { viewer: 'viewer-token-aaaaaaaaaaaaaaaa', clinician: 'clinician-token-bbbbbbbbbbbbbbbb' } as const;

export async function testUsers(): Promise<Record<string, unknown>> {
  return {
    users: [
      { name: 'vera', role: 'viewer', passwordHash: await hashPassword(PASSWORDS.viewer, TEST_SCRYPT) },
      { name: 'nurse.jones', role: 'clinician', passwordHash: await hashPassword(PASSWORDS.clinician, TEST_SCRYPT) },
      { name: 'root', role: 'admin', passwordHash: await hashPassword(PASSWORDS.admin, TEST_SCRYPT) },
    ],
    tokens: [
      { name: 'scraper', role: 'viewer', tokenHash: hashToken(TOKENS.viewer) },
      { name: 'ward-app', role: 'clinician', tokenHash: hashToken(TOKENS.clinician) },
    ],
  };
}

export interface DisplayAgent {
  agent: Agent;
  url: string;
  captured: CapturedLog;
  close(): Promise<void>;
}

export async function startDisplayAgent(display: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<DisplayAgent> {
  const dir = tempDir('display-');
  const config = testConfig(dir, { display: { enabled: true, port: 0, ...(await testUsers()), ...display }, ...extra });
  const captured = captureLog('info');
  const agent = new Agent({ config, registry, log: captured.log, transport: null });
  await agent.start();
  return {
    agent,
    url: agent.display!.address().url,
    captured,
    async close() {
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const UNIT_OF = new Map<number, Unit>([
  [MDC.ECG_HEART_RATE.code, UNITS.BEAT_PER_MIN],
  [MDC.PULS_OXIM_SAT_O2.code, UNITS.PERCENT],
  [MDC.RESP_RATE.code, UNITS.RESP_PER_MIN],
  [MDC.PRESS_BLD_NONINV_SYS.code, UNITS.MMHG],
  [MDC.TEMP_BODY.code, UNITS.DEGC],
]);

export function reading(mdc: MdcCode, value: number | null, opts: { bed?: string; at?: number; quality?: Quality; deviceId?: string } = {}): NumericReading {
  return {
    kind: 'numeric',
    deviceId: opts.deviceId ?? `mon-${opts.bed ?? 'bed-1'}`,
    bed: opts.bed ?? 'bed-1',
    source: 'test-source',
    mdc,
    value,
    unit: UNIT_OF.get(mdc.code) ?? UNITS.DIMLESS,
    deviceTime: null,
    receivedAt: opts.at ?? Date.now(),
    quality: opts.quality ?? { state: 'valid' },
  };
}

export function ecg(samples: number[], opts: { bed?: string; at?: number; rateHz?: number } = {}): WaveformSegment {
  const at = opts.at ?? Date.now();
  return {
    kind: 'waveform', deviceId: `mon-${opts.bed ?? 'bed-1'}`, bed: opts.bed ?? 'bed-1', source: 'test-source', mdc: MDC.ECG_ELEC_POTL_II,
    unit: UNITS.MILLI_VOLT, startTime: at, sampleRateHz: opts.rateHz ?? 250, samples, receivedAt: at, quality: { state: 'valid' },
  };
}

/**
 * Heart rate above the default limit (120 /min) for longer than the default alarm delay (10 s): samples once a second
 * from `seconds` ago until now, so the test need not wait for the delay to pass in real time.
 */
export function tachycardia(bed = 'bed-1', value = 135, seconds = 12): NumericReading[] {
  const now = Date.now();
  return Array.from({ length: seconds + 1 }, (_, i) => reading(MDC.ECG_HEART_RATE, value, { bed, at: now - (seconds - i) * 1000 }));
}

export interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  text: string;
  json: () => Record<string, unknown>;
}

export async function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let body: string | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(base + path, { method, headers, ...(body !== undefined && { body }) });
  const text = await res.text();
  const h: Record<string, string> = {};
  res.headers.forEach((v, k) => (h[k] = v));
  return { status: res.status, headers: h, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

export async function login(base: string, user: string, password: string): Promise<string> {
  const r = await call(base, 'POST', '/api/login', { body: { user, password } });
  if (r.status !== 200) throw new Error(`login ${user}: ${r.status} ${r.text}`);
  return r.json().token as string;
}

export interface SseEvent {
  event: string;
  data: unknown;
}

export interface SseStream {
  events: SseEvent[];
  status: number;
  /** Resolves with the first event (already received or future) that matches. */
  waitFor(match: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Resolves when the server ends the stream (or the connection closes). */
  closed: Promise<void>;
  /** The body of a refusal (not 200). */
  text(): string;
  close(): void;
}

/**
 * A server-sent-events client on a plain socket (node:http), parsing `event:` / `data:` frames. `localAddress`
 * (e.g. 127.0.0.2, also loopback) makes it come from another client address.
 */
export function openStream(base: string, path = '/api/stream', token?: string, opts: { localAddress?: string } = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, { headers: token ? { Authorization: `Bearer ${token}` } : {}, ...(opts.localAddress && { localAddress: opts.localAddress }) }, (res) => {
      const events: SseEvent[] = [];
      const waiters: { match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
      let buf = '';
      let all = '';
      res.setEncoding('utf8');
      const closed = new Promise<void>((r) => res.once('close', () => r()));
      res.on('data', (d: string) => {
        buf += d;
        if (res.statusCode !== 200) all += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          let data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (!data) continue;
          const e = { event, data: JSON.parse(data) as unknown };
          events.push(e);
          for (const w of waiters.slice()) if (w.match(e)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(e);
          }
        }
      });
      res.on('error', () => undefined);
      resolve({
        events,
        status: res.statusCode ?? 0,
        waitFor(match, timeoutMs = 5000) {
          const found = events.find(match);
          if (found) return Promise.resolve(found);
          return new Promise((res2, rej2) => {
            const t = setTimeout(() => rej2(new Error(`no matching event within ${timeoutMs} ms; got ${events.map((e) => e.event).join(',')}`)), timeoutMs);
            waiters.push({ match, resolve: (e) => (clearTimeout(t), res2(e)) });
          });
        },
        closed,
        text: () => all,
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Debian's Chromium, headless, with a new empty profile (`prefix` names its folder), and the flags this machine's
 * closed network needs (without the background-networking ones it keeps trying, and failing, to reach Google).
 */
export async function launchChromium(prefix: string, opts: { viewport?: { width: number; height: number } } = {}): Promise<{ ctx: BrowserContext; profile: string }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run \`bash scripts/system-deps.sh\` (as root) to install Debian's chromium`);
  const profile = mkdtempSync(join(tmpdir(), prefix));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ...(opts.viewport && { viewport: opts.viewport }),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { ctx, profile };
}

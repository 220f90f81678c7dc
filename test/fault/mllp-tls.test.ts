// HL7 MLLP over TLS (drivers/hl7/server.ts `tls` option) with client-certificate allow-lists, against real TLS
// clients on loopback and the sender CLI's --tls. Server: the stand-in's TEST ONLY CA and localhost certificate;
// clients: test/fault/certs (TEST ONLY, see TEST-ONLY.md there).
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { DriverEvent } from '../../agent/model/reading.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { createHl7MllpDriver, type Hl7MllpDriver } from '../../drivers/hl7/index.js';
import type { TlsOptions } from '../../drivers/hl7/server.js';
import { MllpFramer, frame } from '../../drivers/hl7/protocol/mllp.js';
import { initialBeds, pcd01Message, rng } from '../../drivers/hl7/ward.js';

const HUB_CERTS = join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs');
const CERTS = join(PACKAGE_ROOT, 'test', 'fault', 'certs');
const pem = (dir: string, f: string) => readFileSync(join(dir, f));
const SERVER = { certFile: join(HUB_CERTS, 'server.pem'), keyFile: join(HUB_CERTS, 'server-key.pem') };
const CA_FILE = join(HUB_CERTS, 'ca.pem');
const client = (name: 'allowed' | 'other' | 'rogue') => ({ cert: pem(CERTS, `client-${name}.pem`), key: pem(CERTS, `client-${name}-key.pem`) });
const fingerprint = (name: string) => new X509Certificate(pem(CERTS, `client-${name}.pem`)).fingerprint256;

const [BED] = initialBeds(1, rng(21));
const message = (id: string) => pcd01Message(BED!, id, Date.UTC(2026, 3, 1), { waveform: false });

interface Started {
  port: number;
  emitted: DriverEvent[];
  counts: Map<string, number>;
}

let driver: Hl7MllpDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  driver = undefined;
});

async function start(t: TlsOptions): Promise<Started> {
  const emitted: DriverEvent[] = [];
  const counts = new Map<string, number>();
  driver = createHl7MllpDriver(
    { host: '127.0.0.1', port: 0, tls: t },
    {
      name: 'tls-mllp',
      log: pino({ level: 'silent' }),
      emit: async (ev) => void emitted.push(...ev),
      count: (c, by = 1) => counts.set(c, (counts.get(c) ?? 0) + by),
    },
  );
  await driver.start();
  return { port: driver.address()!.port, emitted, counts };
}

/** Connects (TLS or plain), sends one message, and reports the ACK code or how the attempt ended. */
function attempt(port: number, opts: { plain?: boolean; ca?: Buffer; cert?: Buffer; key?: Buffer }): Promise<string> {
  return new Promise((resolve) => {
    const framer = new MllpFramer(1 << 20);
    let settled = false;
    const done = (outcome: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(outcome);
    };
    const send = () => sock.write(frame(message(`TLS-${Date.now()}`)));
    const sock: net.Socket = opts.plain
      ? net.connect(port, '127.0.0.1', send)
      : tls.connect({ host: '127.0.0.1', port, ca: opts.ca ?? pem(HUB_CERTS, 'ca.pem'), ...(opts.cert && { cert: opts.cert, key: opts.key }) }, send);
    sock.on('data', (d: Buffer) => {
      for (const e of framer.push(d)) {
        if (e.type === 'frame') done(`ack:${/\rMSA\|(\w\w)/.exec(e.payload.toString('utf8'))?.[1] ?? '?'}`);
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => done(`error:${err.code ?? err.message}`));
    sock.on('close', () => done('closed'));
    const timer = setTimeout(() => done('timeout'), 5000);
  });
}

describe('MLLP over TLS with a client-certificate allow-list', () => {
  it('accepts the allow-listed client (by CN, chained to the configured CA) and stores its message', async () => {
    const s = await start({ ...SERVER, caFile: CA_FILE, allowedClients: { cn: ['central-station-1'] } });
    expect(await attempt(s.port, client('allowed'))).toBe('ack:CA');
    expect(s.emitted.filter((e) => e.kind === 'numeric').length).toBe(7);
  });

  it('refuses a valid certificate that is not allow-listed, no certificate, a certificate from another CA, and plain TCP', async () => {
    const s = await start({ ...SERVER, caFile: CA_FILE, allowedClients: { cn: ['central-station-1'] } });
    const outcomes = {
      other: await attempt(s.port, client('other')),
      none: await attempt(s.port, {}),
      rogue: await attempt(s.port, client('rogue')),
      plain: await attempt(s.port, { plain: true }),
    };
    for (const o of Object.values(outcomes)) expect(o).not.toMatch(/^ack:/);
    expect(s.emitted).toEqual([]);
    expect(s.counts.get('tls_clients_rejected')).toBe(1); // the intruder: chain fine, name not allowed
    expect(s.counts.get('tls_handshake_errors')).toBeGreaterThanOrEqual(3); // no cert, wrong CA, not TLS
    expect(s.counts.get('messages_received')).toBeUndefined();
  });

  it('allow-lists by SHA-256 fingerprint (any separators or case)', async () => {
    const fp = fingerprint('other').toLowerCase();
    const s = await start({ ...SERVER, caFile: CA_FILE, allowedClients: { fingerprint256: [fp] } });
    expect(await attempt(s.port, client('other'))).toBe('ack:CA');
    expect(await attempt(s.port, client('allowed'))).not.toMatch(/^ack:/);
  });

  it('with a CA and no allow-list, any client chained to that CA is accepted and others are refused', async () => {
    const s = await start({ ...SERVER, caFile: CA_FILE });
    expect(await attempt(s.port, client('other'))).toBe('ack:CA');
    expect(await attempt(s.port, client('rogue'))).not.toMatch(/^ack:/);
    expect(await attempt(s.port, {})).not.toMatch(/^ack:/);
  });

  it('server-only TLS (no CA, no allow-list) serves clients without certificates, and refuses plain TCP', async () => {
    const s = await start({ ...SERVER });
    expect(await attempt(s.port, {})).toBe('ack:CA');
    expect(await attempt(s.port, { plain: true })).not.toMatch(/^ack:/);
  });

  // With an allow-list by CN but no caFile the chain is not verified, so a name proves nothing: the driver refuses
  // such a config (below); the listener itself, given one anyway, admits nobody by name. A fingerprint allow-list
  // without a CA is sound (the handshake proves possession of that very key).
  it('a CN allow-list without a CA is refused: no listener that a certificate from an unknown CA could get into', async () => {
    await expect(start({ ...SERVER, allowedClients: { cn: ['central-station-1'] } })).rejects.toThrow(/allowedClients\.cn needs options\.tls\.caFile/);
  });
});

describe('MLLP TLS files that cannot be used', () => {
  const ctx = { name: 'tls-mllp', log: pino({ level: 'silent' }), emit: async () => undefined, count: () => undefined };
  it('are refused when the driver is made (so also by --check), naming the option and the files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mllp-tls-'));
    try {
      const bad = join(dir, 'bad.pem');
      writeFileSync(bad, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
      expect(() => createHl7MllpDriver({ port: 0, tls: { certFile: join(dir, 'missing.pem'), keyFile: SERVER.keyFile } }, ctx)).toThrow(
        /^invalid hl7-mllp config: options\.tls\.certFile: cannot read .*missing\.pem: ENOENT/,
      );
      expect(() => createHl7MllpDriver({ port: 0, tls: { certFile: bad, keyFile: SERVER.keyFile } }, ctx)).toThrow(
        /^invalid hl7-mllp config: options\.tls: .*bad\.pem, .*server-key\.pem cannot be used \(.*\): certFile must be a PEM certificate/,
      );
      // The key of another certificate.
      expect(() => createHl7MllpDriver({ port: 0, tls: { certFile: SERVER.certFile, keyFile: join(CERTS, 'client-allowed-key.pem') } }, ctx)).toThrow(/options\.tls: .* cannot be used/);
      expect(() => createHl7MllpDriver({ port: 0, tls: { ...SERVER, caFile: bad } }, ctx)).toThrow(/options\.tls: .*bad\.pem cannot be used/);
      expect(() => createHl7MllpDriver({ port: 0, tls: { ...SERVER, allowedClients: { cn: ['central-station-1'] } } }, ctx)).toThrow(
        /^invalid hl7-mllp config: options\.tls\.allowedClients\.cn needs options\.tls\.caFile/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sender CLI over TLS', () => {
  function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'drivers/hl7/sender.ts', ...args], { cwd: PACKAGE_ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, out: stdout, err: stderr });
      });
    });
  }

  it('--tls with --ca/--cert/--key sends to a mutual-TLS listener; without a client certificate it fails', async () => {
    const s = await start({ ...SERVER, caFile: CA_FILE, allowedClients: { cn: ['central-station-1'] } });
    const ok = await run(['--port', String(s.port), '--tls', '--ca', CA_FILE, '--cert', join(CERTS, 'client-allowed.pem'), '--key', join(CERTS, 'client-allowed-key.pem'), '--beds', '2', '--quiet']);
    expect(ok.out).toContain('sent 2, accepted 2, rejected 0');
    expect(ok.code).toBe(0);
    const refused = await run(['--port', String(s.port), '--tls', '--ca', CA_FILE, '--beds', '1', '--quiet']);
    expect(refused.code).toBe(2);
    expect(refused.out).not.toContain('accepted 1');
  }, 60_000);
});

// Connections that hold the display's resources, over real sockets: pipelined requests whose replies are not read,
// one address holding every connection slot, TLS sockets that never handshake; and the ward snapshot built once for
// many requests instead of once per request.
import { connect, type Socket } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MDC } from '../model/mdc.js';
import { addressKey, hostKey } from './connections.js';
import { PACKAGE_ROOT } from '../paths.js';
import { openStream, reading, startDisplayAgent, tachycardia, type DisplayAgent } from '../../test/browser/display-fixtures.js';

/** A raw TCP connection from `localAddress` (any 127.x address is this machine), connected. */
async function rawSocket(url: string, localAddress = '127.0.0.1'): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port: Number(new URL(url).port), localAddress });
  s.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('close', () => reject(new Error('closed before connecting')));
  });
  return s;
}

/** Everything the server sends on `s` until it closes the connection. */
function readUntilClosed(s: Socket): Promise<string> {
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString('latin1')));
  return new Promise((resolve) => s.once('close', () => resolve(text)));
}

const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
const warnings = (d: DisplayAgent, msg: RegExp) => d.captured.lines.filter((l) => l.level === 40 && msg.test(String(l.msg)));

/** Readings of `beds` beds, a minute old: tachycardia() backdates its run 12 s, and a limit rule takes no reading as older than the latest it has. */
async function wardOf(d: DisplayAgent, beds: number): Promise<void> {
  for (let i = 1; i <= beds; i++) {
    await d.agent.ingest.accept('test-source', [MDC.ECG_HEART_RATE, MDC.PULS_OXIM_SAT_O2, MDC.RESP_RATE].map((m, k) => reading(m, [80, 97, 16][k]!, { bed: `bed-${i}`, at: Date.now() - 60_000 })));
  }
}

describe('display: pipelined requests and the shared ward snapshot', () => {
  let d: DisplayAgent;
  beforeAll(async () => {
    d = await startDisplayAgent();
    await wardOf(d, 128);
  });
  afterAll(() => d.close());

  it('closes a connection with more than 4 requests unanswered, counts it and logs its address', async () => {
    const s = await rawSocket(d.url, '127.0.0.50');
    const replies = readUntilClosed(s);
    // 200 requests in one write: node hands them all over at once, whether or not the replies are read.
    s.write('GET /api/ward HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(200));
    const text = await replies;
    expect(text.match(/HTTP\/1\.1 200/g)?.length ?? 0).toBeLessThanOrEqual(4);
    expect(d.agent.metrics.get('display_connections_dropped_total', { reason: 'requests-in-flight' })).toBe(1);
    expect(warnings(d, /sent more requests than it read replies/)).toEqual([expect.objectContaining({ from: '127.0.0.50', maxRequestsInFlight: 4 })]);
  });

  it('keeps a connection that sends its requests one after the other', async () => {
    const s = await rawSocket(d.url);
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    for (let i = 1; i <= 10; i++) {
      s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      while ((text.match(/HTTP\/1\.1 200/g)?.length ?? 0) < i && !s.destroyed) await new Promise((r) => s.once('data', r));
    }
    expect(s.destroyed).toBe(false);
    s.destroy();
  });

  it('answers requests in the same moment with one snapshot (not one built per request)', async () => {
    const s = await rawSocket(d.url);
    const replies = readUntilClosed(s);
    // Four pipelined (the most allowed), the last one closing: each reply's serverTime says when its snapshot was built.
    s.write('GET /api/ward HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(3) + 'GET /api/ward HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    const times = [...(await replies).matchAll(/"serverTime":(\d+)/g)].map((m) => Number(m[1]));
    expect(times).toHaveLength(4);
    expect(new Set(times).size).toBe(1);
  });

  it('does not serve a snapshot from before an alarm change, to a request or a new stream', async () => {
    type Ward = { beds: { bed: string; alarms: { source: string }[] }[] };
    const limitAlarms = (w: Ward) => w.beds.find((b) => b.bed === 'bed-7')!.alarms.filter((a) => a.source === 'limit');
    const ward = async () => (await (await fetch(`${d.url}/api/ward`)).json()) as Ward;
    expect(limitAlarms(await ward())).toEqual([]);
    // Right after (well within the 250 ms a snapshot is shared for): the alarm is in it.
    await d.agent.ingest.accept('test-source', tachycardia('bed-7'));
    expect(limitAlarms(await ward())).toHaveLength(1);
    const stream = await openStream(d.url);
    expect(limitAlarms((await stream.waitFor((e) => e.event === 'ward')).data as Ward)).toHaveLength(1);
    stream.close();
  });

  it('answers simultaneous bed requests with one build (review rv132 M1: built per request, a flood stalled the alarms)', async () => {
    // Trends are read once per bed answer built (not for the snapshot nor the streams): they count the builds.
    const builds = vi.spyOn(d.agent.display!.ward, 'trends');
    try {
      const s = await rawSocket(d.url);
      const replies = readUntilClosed(s);
      s.write('GET /api/beds/bed-5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(3) + 'GET /api/beds/bed-5 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      const text = await replies;
      expect(text.match(/HTTP\/1\.1 200/g)).toHaveLength(4);
      expect(new Set([...text.matchAll(/"serverTime":(\d+)/g)].map((m) => m[1])).size).toBe(1);
      expect(builds).toHaveBeenCalledTimes(1);
    } finally {
      builds.mockRestore();
    }
  });

  it('does not serve a bed answer from before an alarm change of that bed', async () => {
    const limitAlarms = async () => ((await (await fetch(`${d.url}/api/beds/bed-8`)).json()) as { alarms: { source: string }[] }).alarms.filter((a) => a.source === 'limit');
    expect(await limitAlarms()).toEqual([]);
    // Right after (well within the 250 ms an answer is shared for): the alarm is in it.
    await d.agent.ingest.accept('test-source', tachycardia('bed-8'));
    expect(await limitAlarms()).toHaveLength(1);
  });
});

describe('display: connections per address (20 slots in all: before the per-address cap one address could take every one)', () => {
  it('one address holds at most 16 connections (counted, logged), so another address is still served', async () => {
    const d = await startDisplayAgent({ limits: { maxConnections: 20, maxSseClients: 1 } });
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 16; i++) held.push(await rawSocket(d.url, '127.0.0.9'));
      // The 17th is accepted by TCP, then closed at once.
      const extra = await Promise.all(Array.from({ length: 4 }, () => rawSocket(d.url, '127.0.0.9')));
      await Promise.all(extra.map(closed));
      expect(d.agent.metrics.get('display_connections_refused_total', { reason: 'per-address' })).toBe(4);
      // Once a minute per address.
      expect(warnings(d, /too many connections open from this address/)).toEqual([expect.objectContaining({ from: '127.0.0.9', maxConnectionsPerAddress: 16 })]);
      expect((await fetch(`${d.url}/healthz`)).status).toBe(200);
    } finally {
      for (const s of held) s.destroy();
      await d.close();
    }
  });

  it('screens behind one NAT or proxy address (two connections each) are all served while the table has room (review rv44 §2)', async () => {
    const d = await startDisplayAgent();
    const held: Socket[] = [];
    try {
      // 20 screens, 40 connections from one address, of the 64 allowed.
      for (let i = 0; i < 40; i++) held.push(await rawSocket(d.url, '127.0.0.13'));
      await new Promise((r) => setTimeout(r, 100));
      expect(held.filter((s) => s.destroyed)).toHaveLength(0);
      expect(d.agent.metrics.get('display_connections_refused_total', { reason: 'per-address' })).toBe(0);
    } finally {
      for (const s of held) s.destroy();
      await d.close();
    }
  });

  it('logs (with an address) when the gateway-wide limit refuses a connection', async () => {
    const d = await startDisplayAgent({ limits: { maxConnections: 20, maxSseClients: 1 } });
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 16; i++) held.push(await rawSocket(d.url, '127.0.0.10'));
      // One each from four more addresses (the table's last eighth is kept for addresses holding fewer than two).
      for (const a of ['127.0.0.11', '127.0.0.14', '127.0.0.15', '127.0.0.16']) held.push(await rawSocket(d.url, a));
      const refused = await rawSocket(d.url, '127.0.0.12');
      await closed(refused);
      expect(d.agent.metrics.get('display_connections_refused_total', { reason: 'max-connections' })).toBeGreaterThanOrEqual(1);
      expect(warnings(d, /display\.limits\.maxConnections connections are open/)).toEqual([
        expect.objectContaining({ from: '127.0.0.12', maxConnections: 20, busiest: { address: '127.0.0.10', open: 16 } }),
      ]);
    } finally {
      for (const s of held) s.destroy();
      await d.close();
    }
  });
});

describe('display: the connection table keeps room for other addresses (review rv132 M2)', () => {
  it('two addresses holding the table still leave a health check and a screen\'s two connections from a third served', async () => {
    const d = await startDisplayAgent();
    const held: Socket[] = [];
    try {
      // As many as they can get, of the 64: one address up to three quarters (48), the other what is left.
      for (let i = 0; i < 60; i++) held.push(await rawSocket(d.url, '127.0.0.2'));
      for (let i = 0; i < 20; i++) held.push(await rawSocket(d.url, '127.0.0.3'));
      await new Promise((r) => setTimeout(r, 100));
      const open = held.filter((s) => !s.destroyed);
      expect(open.length).toBeLessThanOrEqual(64 - 8);
      const third = await Promise.all([rawSocket(d.url, '127.0.0.10'), rawSocket(d.url, '127.0.0.10')]);
      held.push(...third);
      await new Promise((r) => setTimeout(r, 100));
      expect(third.filter((s) => s.destroyed)).toHaveLength(0);
      expect((await fetch(`${d.url}/healthz`)).status).toBe(200);
      expect(d.agent.metrics.get('display_connections_refused_total', { reason: 'max-connections' })).toBe(0);
      expect(warnings(d, /too many connections open from this address/).map((l) => l.from)).toEqual(['127.0.0.2', '127.0.0.3']);
    } finally {
      for (const s of held) s.destroy();
      await d.close();
    }
  });
});

describe('display: a ward behind one proxy address may use the whole connection table (review rv135 M4)', () => {
  it('maxSseClientsPerAddress 32 (the README\'s proxy advice): the proxy gets all 64 connections beside a health check\'s one', async () => {
    const d = await startDisplayAgent({ limits: { maxConnections: 64, maxSseClients: 32, maxSseClientsPerAddress: 32 } });
    const held: Socket[] = [];
    try {
      // A scraper or health check elsewhere holding one keep-alive connection does not bring the reserve back.
      held.push(await rawSocket(d.url, '127.0.0.3'));
      for (let i = 0; i < 63; i++) held.push(await rawSocket(d.url, '127.0.0.2'));
      await new Promise((r) => setTimeout(r, 100));
      expect(held.filter((s) => s.destroyed)).toHaveLength(0);
      expect(d.agent.metrics.get('display_connections_refused_total', { reason: 'per-address' })).toBe(0);
    } finally {
      for (const s of held) s.destroy();
      await d.close();
    }
  });
});

describe('addressKey: which client addresses the per-address caps count as one', () => {
  it('an IPv6 address by its /64, an IPv4-mapped one by its IPv4 address, anything else as it is', () => {
    expect(addressKey('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:0DB8:0000:0001:ffff:ffff:ffff:ffff')).toBe('2001:db8:0:1::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(addressKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('unknown')).toBe('unknown');
  });

  it('hostKey: one host per full address (hosts of a ward\'s IPv6 /64 are different screens), IPv4-mapped as IPv4 (review rv135 H2)', () => {
    expect(hostKey('2001:db8:ab:10::101')).not.toBe(hostKey('2001:db8:ab:10::102'));
    expect(hostKey('fe80::1')).not.toBe(hostKey('fe80::2'));
    // One host however its address is written.
    expect(hostKey('2001:0DB8:0000:0001:0000:0000:0000:0001')).toBe(hostKey('2001:db8:0:1::1'));
    expect(hostKey('64:ff9b::192.0.2.1')).toBe(hostKey('64:ff9b::c000:201'));
    expect(hostKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(hostKey('10.1.2.3')).toBe('10.1.2.3');
    expect(hostKey('unknown')).toBe('unknown');
  });
});

describe('display: a client that never reads the error it is answered with', () => {
  it('loses its connection at once (it held its slot for good: review rv44 §1)', async () => {
    const d = await startDisplayAgent({ limits: { maxConnections: 3, maxSseClients: 1 } });
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const s = await rawSocket(d.url, `127.0.0.${30 + i}`);
        s.pause(); // never reads what the server sends
        s.write('NOT HTTP AT ALL\r\n\r\n');
        held.push(s);
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(d.agent.metrics.get('display_client_errors_total', { code: 'HPE_INVALID_METHOD' })).toBe(3);
      // The slots are free again: a health check is served.
      expect((await fetch(`${d.url}/healthz`)).status).toBe(200);
    } finally {
      for (const s of held) s.destroy();
      await d.close();
    }
  });
});

describe('display over TLS: sockets that never handshake', () => {
  let d: DisplayAgent;
  const certs = join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs');
  const ca = readFileSync(join(certs, 'ca.pem'));
  beforeAll(async () => (d = await startDisplayAgent({ tls: { certFile: join(certs, 'server.pem'), keyFile: join(certs, 'server-key.pem') }, limits: { maxConnections: 2, maxSseClients: 1 } })));
  afterAll(() => d.close());

  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${d.url}${path}`, { ca, headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });

  it('closes a connection whose handshake times out (it held its slot for good), counted; the display is served again', async () => {
    const silent = await Promise.all([rawSocket(d.url), rawSocket(d.url)]);
    // Both slots held: nothing else can connect until the handshake timeout (5 s) closes them.
    await Promise.all(silent.map(closed));
    expect(d.agent.metrics.get('display_client_errors_total', { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' })).toBe(2);
    expect(await get('/healthz')).toBe(200);
  }, 30_000);

  it('still answers an HTTP error inside TLS with its status (431)', async () => {
    expect(await get('/healthz', { 'X-Junk': 'z'.repeat(20_000) })).toBe(431);
  });
});

// Unit tests of the transport's connection-string checks. The proof against the real SDK and a real MQTT/TLS
// peer is in test/e2e/forward.test.ts.
import { describe, expect, it, vi } from 'vitest';
import { rootCertificates } from 'node:tls';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STANDIN_CA_FILE } from '../../test/hub-standin/certs.js';
import { startHubStandin } from '../../test/hub-standin/index.js';
import { ConfigError, validateConfig } from '../config/load.js';
import { Agent } from '../agent.js';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../../test/support/agent-config.js';
import { tempDir } from '../../test/support/agent-process.js';
import { EventEmitter } from 'node:events';
import { AzureIotTransport, connectionStringProblem, connectionStringWarning, readCaFile, trustWith, type ControlHandler, type ControlSession } from './azure.js';
import { chooseTransport } from './choose.js';
import { buildProblems } from '../config/check.js';
import { Forwarder } from './forwarder.js';
import { Outbox } from '../store/outbox.js';
import { Metrics } from '../metrics.js';
import { captureLog } from '../../test/support/log.js';

describe('AzureIotTransport.fromConnectionString', () => {
  const base = 'HostName=h.azure-devices.net;DeviceId=bed-gw';
  it('refuses at start what could never connect, naming why', () => {
    expect(() => AzureIotTransport.fromConnectionString(`${base};x509=true`)).toThrow(/x509=true: X\.509 device authentication is not supported yet/);
    expect(() => AzureIotTransport.fromConnectionString(base)).toThrow(/must contain SharedAccessKey/);
    expect(() => AzureIotTransport.fromConnectionString(`${base};ModuleId=m;SharedAccessSignature=SharedAccessSignature sr=x&sig=y&se=1`)).toThrow(
      /module .* must contain SharedAccessKey/,
    );
    expect(() => AzureIotTransport.fromConnectionString('DeviceId=d;SharedAccessKey=k')).toThrow(/HostName and DeviceId/);
  });
  it('takes a device key, a module key, or a device signature', () => {
    expect(AzureIotTransport.fromConnectionString(`${base};SharedAccessKey=a2V5`).identity).toBe('bed-gw');
    expect(AzureIotTransport.fromConnectionString(`${base};ModuleId=agent;SharedAccessKey=a2V5`).identity).toBe('bed-gw/agent');
    const se = Math.floor(Date.now() / 1000) + 30 * 86400;
    expect(AzureIotTransport.fromConnectionString(`${base};SharedAccessSignature=SharedAccessSignature sr=h.azure-devices.net%2Fdevices%2Fbed-gw&sig=y&se=${se}`).description).toBe('device bed-gw on h.azure-devices.net');
  });
  it('hub.caFile adds a CA to the system ones (Node\'s ca option would replace them); a module refuses it', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n';
    const trust = trustWith(pem);
    expect(trust).toContain(pem);
    for (const ca of rootCertificates) expect(trust).toContain(ca);
    expect(trust.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(rootCertificates.length + 1);
    const config = testConfig(tempDir(), { hub: { mode: 'module', caFile: '/ca.pem' } });
    expect(() => chooseTransport(config, { IOTEDGE_WORKLOADURI: 'unix:///x', IOTEDGE_MODULEID: 'm' })).toThrow(/- hub\.caFile: .*IoT Edge runtime provides the trust bundle/);
  });
  it('a hub.caFile that holds no certificate is refused, naming it (OpenSSL would ignore it and the connection fail later)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cafile-'));
    try {
      const bad = join(dir, 'ca.pem');
      writeFileSync(bad, 'not a certificate\n');
      expect(() => readCaFile(bad)).toThrow(/- hub\.caFile: .*ca\.pem holds no PEM certificate/);
      expect(() => readCaFile(bad)).toThrow(ConfigError);
      expect(() => AzureIotTransport.fromConnectionString(`${base};SharedAccessKey=a2V5`, bad)).toThrow(/- hub\.caFile: /);
      expect(() => readCaFile(join(dir, 'missing.pem'))).toThrow(/- hub\.caFile: cannot read .*missing\.pem: ENOENT/);
      expect(readCaFile(STANDIN_CA_FILE)).toMatch(/^-----BEGIN CERTIFICATE-----/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a ready-made SharedAccessSignature in the connection string (review rv87 L2)', () => {
  const now = Date.parse('2025-03-01T12:00:00Z');
  const at = (iso: string) => Date.parse(iso) / 1000;
  // As the portal and `az iot hub generate-sas-token` give it: the fields URL-encoded inside the value.
  const withSas = (se: string | number) =>
    `HostName=h.azure-devices.net;DeviceId=bed-gw;SharedAccessSignature=SharedAccessSignature sr=h.azure-devices.net%2Fdevices%2Fbed-gw&sig=c2ln%3D&se=${se}`;

  it('warns of one already expired, naming when; still starts (a file that started yesterday must start today: the bedside display depends on it)', () => {
    expect(connectionStringProblem(withSas(at('2025-02-28T12:00:00Z')))).toBeNull();
    expect(connectionStringWarning(withSas(at('2025-02-28T12:00:00Z')), now)).toMatch(/^its SharedAccessSignature expired at 2025-02-28T12:00:00\.000Z and cannot be renewed: IoT Hub refuses every connection/);
    expect(connectionStringWarning(withSas(at('2025-03-01T12:00:00Z')), now)).toMatch(/expired at 2025-03-01T12:00:00\.000Z/);
    const stale = `HostName=h.azure-devices.net;DeviceId=bed-gw;SharedAccessSignature=SharedAccessSignature sr=h.azure-devices.net%2Fdevices%2Fbed-gw&sig=y&se=1`;
    expect(() => AzureIotTransport.fromConnectionString(stale)).not.toThrow();
  });

  it('refuses one whose expiry cannot be read, or that is not a signature at all', () => {
    expect(connectionStringProblem(withSas('soon'))).toMatch(/^has a SharedAccessSignature without a readable se= \(its expiry/);
    expect(connectionStringProblem('HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=x&sig=y')).toMatch(/without a readable se=/);
    expect(connectionStringProblem('HostName=h;DeviceId=d;SharedAccessSignature=sr=x&sig=y&se=1900000000')).toMatch(/must be of the form "SharedAccessSignature sr=…&sig=…&se=…"/);
  });

  it('takes one still valid (se URL-encoded or not); warns when it ends within 7 days that forwarding stops then', () => {
    const in3Days = at('2025-03-04T12:00:00Z');
    expect(connectionStringProblem(withSas(in3Days))).toBeNull();
    expect(connectionStringProblem(withSas(`${in3Days}`.replace('1', '%31')))).toBeNull();
    expect(connectionStringWarning(withSas(in3Days), now)).toMatch(/^its SharedAccessSignature expires at 2025-03-04T12:00:00\.000Z \(in 3 days\) and cannot be renewed: forwarding stops at 2025-03-04T12:00:00\.000Z/);
    expect(connectionStringWarning(withSas(at('2025-03-01T13:00:00Z')), now)).toMatch(/\(in 1 h\)/);
    expect(connectionStringWarning(withSas(at('2025-03-09T12:00:00Z')), now)).toBeNull();
    // A device key: the agent makes and renews its own tokens.
    expect(connectionStringWarning('HostName=h;DeviceId=d;SharedAccessKey=a2V5', now)).toBeNull();
    expect(connectionStringProblem('HostName=h;DeviceId=d;SharedAccessKey=a2V5')).toBeNull();
  });
});

describe('a ready-made SharedAccessSignature is used for the identity and route the string names (review rv113 M4)', () => {
  const se = () => Math.floor(Date.now() / 1000) + 30 * 86400;
  const sasFor = (sr: string) => `SharedAccessSignature sr=${encodeURIComponent(sr)}&sig=c2ln%3D&se=${se()}`;
  const cs = (sr: string, gateway = ';GatewayHostName=edge-parent.ward.local') =>
    `HostName=myhub.azure-devices.net;DeviceId=bedside-gw;SharedAccessSignature=${sasFor(sr)}${gateway}`;
  /** What the SDK client the transport makes will connect to and as whom (its authentication provider's credentials). */
  const sdkCredentials = async (t: AzureIotTransport) => {
    const internals = t as unknown as { create: (mqtt: unknown) => Promise<unknown>; mqtt: unknown };
    const client = (await internals.create(internals.mqtt)) as { _transport: { _authenticationProvider: { getDeviceCredentials(): Promise<Record<string, unknown>> } } };
    return client._transport._authenticationProvider.getDeviceCredentials();
  };

  it('connects through GatewayHostName (transparent gateway, nested IoT Edge) as HostName/DeviceId say', async () => {
    const c = cs('myhub.azure-devices.net/devices/bedside-gw');
    expect(connectionStringProblem(c)).toBeNull();
    const t = AzureIotTransport.fromConnectionString(c);
    expect(t.description).toBe('device bedside-gw on myhub.azure-devices.net via edge-parent.ward.local');
    expect(await sdkCredentials(t)).toMatchObject({ host: 'myhub.azure-devices.net', gatewayHostName: 'edge-parent.ward.local', deviceId: 'bedside-gw' });
    // Without a gateway: straight to the hub.
    const direct = AzureIotTransport.fromConnectionString(cs('myhub.azure-devices.net/devices/bedside-gw', ''));
    const straight = await sdkCredentials(direct);
    expect(straight).toMatchObject({ host: 'myhub.azure-devices.net', deviceId: 'bedside-gw' });
    expect(straight.gatewayHostName).toBeUndefined();
  });

  it("takes a token made for the gateway's host name (edgeHub accepts its own name as the audience) and host names in any case", () => {
    expect(connectionStringProblem(cs('edge-parent.ward.local/devices/bedside-gw'))).toBeNull();
    expect(connectionStringProblem(cs('MyHub.Azure-Devices.net/devices/bedside-gw'))).toBeNull();
  });

  it('refuses a signature made for another device, hub or scope, naming its sr and what the string says', () => {
    expect(connectionStringProblem(cs('myhub.azure-devices.net/devices/other-device'))).toBe(
      'has a SharedAccessSignature made for "myhub.azure-devices.net/devices/other-device" (its sr=), not for this string\'s device ' +
        '"myhub.azure-devices.net/devices/bedside-gw" (HostName, DeviceId): the hub would refuse it or take it as another device\'s; ' +
        'put in a signature made for this device, or its key (SharedAccessKey=…)',
    );
    expect(connectionStringProblem(cs('otherhub.azure-devices.net/devices/bedside-gw'))).toMatch(/made for "otherhub\.azure-devices\.net\/devices\/bedside-gw" \(its sr=\)/);
    expect(connectionStringProblem(cs('myhub.azure-devices.net/devices/bedside-gw/modules/m'))).toMatch(/made for ".*\/modules\/m" \(its sr=\)/);
    expect(connectionStringProblem(cs('myhub.azure-devices.net'))).toMatch(/made for "myhub\.azure-devices\.net" \(its sr=\)/);
    expect(connectionStringProblem(cs('bedside-gw'))).toMatch(/made for "bedside-gw"/);
    // Without sr= at all.
    expect(connectionStringProblem(`HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sig=c2ln&se=${se()}`)).toMatch(/made for "" \(its sr=\)/);
    expect(() => AzureIotTransport.fromConnectionString(cs('myhub.azure-devices.net/devices/other-device'))).toThrow(/^hub\.connectionString has a SharedAccessSignature made for/);
  });
});

describe('AzureIotTransport twin session', () => {
  it("an 'error' the SDK's twin emits (its desired-patch subscription failed) goes to the control plane, not up as an uncaught exception", async () => {
    // A stand-in for the SDK client: the twin is an EventEmitter, as the SDK's Twin is; emit('error') with no
    // listener throws, and main.ts exits the agent on an uncaught exception.
    const twin = Object.assign(new EventEmitter(), { properties: { desired: { $version: 1 }, reported: { $version: 1 } } });
    const client = Object.assign(new EventEmitter(), {
      setRetryPolicy: () => undefined,
      setOptions: async () => undefined,
      open: async () => undefined,
      close: async () => undefined,
      onDeviceMethod: () => undefined,
      getTwin: async () => twin,
    });
    const Ctor = AzureIotTransport as unknown as new (mode: string, create: () => Promise<unknown>, description: string, identity: string, ca: undefined) => AzureIotTransport;
    const transport = new Ctor('device', async () => client, 'fake device', 'dev', undefined);
    const errors: Error[] = [];
    let session: ControlSession | null = null;
    const handler: ControlHandler = {
      methodNames: [],
      connected: (s) => void (session = s),
      desiredPatch: () => undefined,
      method: async () => ({ status: 200, payload: null }),
      twinError: (err) => void errors.push(err),
    };
    transport.setControl(handler);
    await transport.connect();
    await session!.getTwin();
    await session!.getTwin(); // a second read adds no second listener
    expect(() => twin.emit('error', new Error('subscribe failed'))).not.toThrow();
    expect(errors.map((e) => e.message)).toEqual(['subscribe failed']);
    await transport.disconnect();
  });
});

describe('AzureIotTransport twin calls at the end of their connection', () => {
  it('a twin call cut by the end of its connection fails at once and leaves no timer behind (it kept a stopped agent alive 15 s: review rv113 L2)', async () => {
    vi.useFakeTimers();
    try {
      const client = Object.assign(new EventEmitter(), {
        setRetryPolicy: () => undefined,
        setOptions: async () => undefined,
        open: async () => undefined,
        close: async () => undefined,
        onDeviceMethod: () => undefined,
        getTwin: () => new Promise(() => undefined), // a closed client never answers
      });
      const Ctor = AzureIotTransport as unknown as new (mode: string, create: () => Promise<unknown>, description: string, identity: string, ca: undefined) => AzureIotTransport;
      const transport = new Ctor('device', async () => client, 'fake device', 'dev', undefined);
      let session: ControlSession | null = null;
      transport.setControl({ methodNames: [], connected: (s) => void (session = s), desiredPatch: () => undefined, method: async () => ({ status: 200, payload: null }) });
      await transport.connect();
      const read = session!.getTwin();
      read.catch(() => undefined);
      await transport.disconnect();
      await expect(read).rejects.toThrow('connection closed');
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('AzureIotTransport recycle', () => {
  it('tells the disconnect listeners the connection was recycled by the agent, not lost (review rv73 M3)', async () => {
    const client = Object.assign(new EventEmitter(), {
      setRetryPolicy: () => undefined,
      setOptions: async () => undefined,
      open: async () => undefined,
      close: async () => undefined,
      onDeviceMethod: () => undefined,
      getTwin: () => new Promise(() => undefined),
    });
    const Ctor = AzureIotTransport as unknown as new (mode: string, create: () => Promise<unknown>, description: string, identity: string, ca: undefined) => AzureIotTransport;
    const transport = new Ctor('device', async () => client, 'fake device', 'dev', undefined);
    let session: ControlSession | null = null;
    transport.setControl({ methodNames: [], connected: (s) => void (session = s), desiredPatch: () => undefined, method: async () => ({ status: 200, payload: null }) });
    const seen: (Error | undefined)[] = [];
    transport.onDisconnect((err) => seen.push(err));
    await transport.connect();
    session!.recycle('twin read failed: no answer');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ message: 'twin read failed: no answer', recycled: true });
    await transport.disconnect();
  });
});

describe('AzureIotTransport connect attempts (review rv87 M2)', () => {
  /** A stand-in SDK client whose open() finishes when the test says (or after `openMs`). */
  class SlowClient extends EventEmitter {
    opened = false;
    closed = false;
    sent: string[] = [];
    private finishOpen: () => void = () => undefined;
    constructor(private readonly openMs?: number) {
      super();
    }
    setRetryPolicy() {}
    async setOptions() {}
    onDeviceMethod() {}
    open() {
      return new Promise<void>((resolve) => {
        this.finishOpen = () => {
          this.opened = true;
          resolve();
        };
        if (this.openMs !== undefined) setTimeout(this.finishOpen, this.openMs);
      });
    }
    /** The hub's CONNACK arrives now (a stand-in ignores a close before it, as a slow socket may). */
    answer() {
      this.finishOpen();
    }
    async close() {
      this.closed = true;
    }
    async sendEvent(m: { messageId: string }) {
      this.sent.push(m.messageId);
    }
  }
  type Ctor = new (mode: string, create: () => Promise<unknown>, description: string, identity: string, ca: undefined) => AzureIotTransport;
  const transportOf = (clients: SlowClient[]) => {
    let n = 0;
    return new (AzureIotTransport as unknown as Ctor)('device', async () => clients[n++], 'fake device', 'dev', undefined);
  };
  const current = (t: AzureIotTransport) => (t as unknown as { client: SlowClient | null }).client;
  const msg = { id: 'm1', stream: 'alarms' as const, body: '{}', properties: {} };

  it('an open that completes after a newer connect is closed and does not take over the transport', async () => {
    const late = new SlowClient();
    const fresh = new SlowClient();
    const transport = transportOf([late, fresh]);
    const connected: ControlSession[] = [];
    transport.setControl({ methodNames: [], connected: (s) => void connected.push(s), desiredPatch: () => undefined, method: async () => ({ status: 200, payload: null }) });
    const first = transport.connect();
    first.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 10));
    const second = transport.connect(); // the forwarder gave the first one up (its timeout) and tries again
    await new Promise((r) => setTimeout(r, 10));
    fresh.answer();
    await second;
    late.answer(); // the first attempt's CONNACK arrives late
    await expect(first).rejects.toThrow(/superseded/);
    expect(late.closed).toBe(true);
    expect(current(transport)).toBe(fresh);
    expect(fresh.closed).toBe(false);
    expect(connected).toHaveLength(1); // no second twin session for the stale client
    await transport.send(msg);
    expect(fresh.sent).toEqual(['m1']);
    await transport.disconnect();
    expect(fresh.closed).toBe(true);
  });

  it('disconnect() closes a client whose open is still pending; its late open leaves nothing connected', async () => {
    const slow = new SlowClient();
    const transport = transportOf([slow]);
    const attempt = transport.connect();
    attempt.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 10));
    await transport.disconnect(); // the forwarder's connect timeout, or stop()
    expect(slow.closed).toBe(true);
    slow.answer();
    await expect(attempt).rejects.toThrow(/superseded/);
    expect(current(transport)).toBeNull();
    await expect(transport.send(msg)).rejects.toThrow(/not connected/);
  });

  it('through the forwarder: a connect given up on its timeout leaves no second connection open, not even after stop()', async () => {
    const clients = [new SlowClient(600), new SlowClient(20), new SlowClient(20), new SlowClient(20)];
    const transport = transportOf(clients);
    const box = new Outbox(':memory:');
    const f = new Forwarder(box, transport, { gatewayId: 'gw', maxMessageBytes: 4096, batchDelayMs: 0, sendTimeoutMs: 200, retry: { initialDelayMs: 10, maxDelayMs: 20 } }, captureLog().log, new Metrics());
    f.start();
    try {
      for (let i = 0; i < 10; i++) {
        box.append([{ stream: 'alarms', cls: 0, deviceId: 'd', body: JSON.stringify({ i }) }]);
        f.notify();
        await new Promise((r) => setTimeout(r, 100));
      }
      const now = current(transport);
      expect(clients.filter((c) => c.opened && !c.closed && c !== now)).toEqual([]);
      expect(clients[0]!.closed).toBe(true);
    } finally {
      await f.stop();
      box.close();
    }
    expect(clients.filter((c) => c.opened && !c.closed)).toEqual([]);
  });
});

describe('AzureIotTransport: a hub close during a send is not a close at the twin read (fx223)', () => {
  /** A stand-in SDK client whose twin read never answers and whose sends are acknowledged only when the test says. */
  class ThrottlingClient extends EventEmitter {
    private readonly acks: (() => void)[] = [];
    /** Publishes that reached the hub (fx228: a send held until the twin read settles has not). */
    published = 0;
    setRetryPolicy() {}
    async setOptions() {}
    onDeviceMethod() {}
    async open() {}
    async close() {}
    getTwin() {
      return new Promise(() => undefined);
    }
    sendEvent() {
      this.published += 1;
      return new Promise<void>((resolve) => this.acks.push(resolve));
    }
    ack() {
      for (const a of this.acks.splice(0)) a();
    }
  }
  type Ctor = new (mode: string, create: () => Promise<unknown>, description: string, identity: string, ca: undefined) => AzureIotTransport;
  const setUp = (twinTimeoutMs?: number) => {
    const clients: ThrottlingClient[] = [];
    const transport = new (AzureIotTransport as unknown as Ctor)('device', async () => clients[clients.push(new ThrottlingClient()) - 1], 'fake device', 'dev', undefined);
    const switchedOff: number[] = [];
    transport.setControl({
      methodNames: [],
      // As the control plane does: the first twin read as the connection opens (it waits here: never answered).
      connected: (s) => void s.getTwin().catch(() => undefined),
      desiredPatch: () => undefined,
      method: async () => ({ status: 200, payload: null }),
      switchedOff: (_status, closes) => void switchedOff.push(closes),
    }, twinTimeoutMs === undefined ? {} : { twinTimeoutMs });
    const seen: (Error | undefined)[] = [];
    transport.onDisconnect((err) => seen.push(err));
    return { clients, transport, switchedOff, seen };
  };
  const msg = { id: 'm1', stream: 'telemetry' as const, body: '{}', properties: {} };

  it('closes at each send while the first twin read waits (a throttling hub) are drops: the control plane stays on', async () => {
    // The twin read times out soon: after a close that could be either (fx228), the next connection's sends wait for it.
    const { clients, transport, switchedOff, seen } = setUp(50);
    for (let i = 0; i < 4; i++) {
      await transport.connect();
      const sent = transport.send(msg);
      sent.catch(() => undefined);
      // The hub closes at the publish it refuses (no PUBACK): once the publish reaches it.
      await vi.waitFor(() => expect(clients[i]!.published).toBe(1), { timeout: 2000, interval: 5 });
      clients[i]!.emit('disconnect');
    }
    expect(seen).toHaveLength(4);
    expect(seen.filter((e) => (e as { atTwin?: unknown } | undefined)?.atTwin === true)).toEqual([]);
    expect(switchedOff).toEqual([]);
    expect(transport.controlStatus()).toBeNull();
    await transport.disconnect();
  });

  it('closes with no send outstanding while the first twin read waits are closes at the twin read: off after TWIN_CLOSES_TO_SWITCH_OFF', async () => {
    const { clients, transport, switchedOff, seen } = setUp();
    for (let i = 0; i < 3; i++) {
      await transport.connect();
      // A send acknowledged before the close: nothing outstanding when the hub closes.
      const sent = transport.send(msg);
      clients[i]!.ack();
      await sent;
      clients[i]!.emit('disconnect');
    }
    expect(seen.map((e) => (e as { atTwin?: unknown } | undefined)?.atTwin)).toEqual([true, true, true]);
    expect(switchedOff).toEqual([3]);
    expect(transport.controlStatus()).toMatchObject({ state: 'off' });
    await transport.disconnect();
  });

  it('a close at a send between closes at the twin read neither counts nor starts the count over (it says nothing of the twin)', async () => {
    const { clients, transport, switchedOff, seen } = setUp();
    for (const atSend of [false, false, true, false]) {
      await transport.connect();
      const sent = transport.send(msg);
      sent.catch(() => undefined);
      if (!atSend) {
        // Acknowledged before the close; after the close at a send, the next connection holds its send (fx228): nothing
        // outstanding either way.
        await new Promise((r) => setImmediate(r));
        clients.at(-1)!.ack();
        await new Promise((r) => setImmediate(r));
      }
      clients.at(-1)!.emit('disconnect');
    }
    expect(seen.map((e) => (e as { atTwin?: unknown } | undefined)?.atTwin === true)).toEqual([true, true, false, true]);
    expect(switchedOff).toEqual([3]);
    await transport.disconnect();
  });
});

describe('AzureIotTransport: a close that could be the twin read\'s or a send\'s is told apart on the next connection (fx228)', () => {
  /**
   * A stand-in SDK client: its twin read waits until the test refuses it (or twinTimeoutMs passes); sends are
   * acknowledged only when the test says; the hub closes when the test says.
   */
  class HubClient extends EventEmitter {
    private readonly acks: (() => void)[] = [];
    private readonly reads: ((err: Error) => void)[] = [];
    published = 0;
    setRetryPolicy() {}
    async setOptions() {}
    onDeviceMethod() {}
    async open() {}
    async close() {}
    getTwin() {
      return new Promise((_, reject) => this.reads.push(reject));
    }
    sendEvent() {
      this.published += 1;
      return new Promise<void>((resolve) => this.acks.push(resolve));
    }
    ack() {
      for (const a of this.acks.splice(0)) a();
    }
    /** The hub answers the twin read with an error status (it does not close at the twin). */
    refuseTwin() {
      for (const r of this.reads.splice(0)) r(Object.assign(new Error('throttled'), { responseStatus: 429 }));
    }
  }
  type Ctor = new (mode: string, create: () => Promise<unknown>, description: string, identity: string, ca: undefined) => AzureIotTransport;
  const setUp = (twinTimeoutMs = 15_000) => {
    const clients: HubClient[] = [];
    const transport = new (AzureIotTransport as unknown as Ctor)('device', async () => clients[clients.push(new HubClient()) - 1], 'fake device', 'dev', undefined);
    const switchedOff: number[] = [];
    transport.setControl(
      {
        methodNames: [],
        connected: (s) => void s.getTwin().catch(() => undefined),
        desiredPatch: () => undefined,
        method: async () => ({ status: 200, payload: null }),
        switchedOff: (_status, closes) => void switchedOff.push(closes),
      },
      { twinTimeoutMs },
    );
    const seen: (Error | undefined)[] = [];
    transport.onDisconnect((err) => seen.push(err));
    return { clients, transport, switchedOff, seen };
  };
  const msg = { id: 'm1', stream: 'telemetry' as const, body: '{}', properties: {} };
  const atTwin = (e: Error | undefined) => (e as { atTwin?: unknown } | undefined)?.atTwin === true;
  const flush = () => new Promise((r) => setImmediate(r));

  it('a Basic-tier hub closing at the twin read while sends wait for their PUBACK: the control plane is switched off after a few connections, and sends go on', async () => {
    const { clients, transport, switchedOff, seen } = setUp();
    // Steady telemetry (or a backlog drain): a send is made as each connection opens; the hub closes at the twin request.
    for (let i = 0; i < 8 && switchedOff.length === 0; i++) {
      await transport.connect();
      transport.send(msg).catch(() => undefined);
      await flush();
      clients[i]!.emit('disconnect');
    }
    // The first close could be either; the next connections hold their sends until the twin read settles, so their
    // closes are the twin read's.
    expect(seen.map(atTwin)).toEqual([false, true, true, true]);
    expect(switchedOff).toEqual([3]);
    expect(clients.map((c) => c.published)).toEqual([1, 0, 0, 0]);
    // Off: no twin read on the next connection, nothing held; sends go out at once and are delivered.
    await transport.connect();
    expect(transport.sendsHeld()).toBeNull();
    const sent = transport.send(msg);
    expect(clients[4]!.published).toBe(1);
    clients[4]!.ack();
    await sent;
    expect(transport.controlStatus()).toMatchObject({ state: 'off' });
    await transport.disconnect();
  });

  it('the hold lasts until the first twin read settles, at most twinTimeoutMs; then the sends go, and later connections are not held', async () => {
    const { clients, transport } = setUp(150);
    await transport.connect();
    transport.send(msg).catch(() => undefined);
    await flush();
    clients[0]!.emit('disconnect'); // twin read waiting, a send outstanding: could be either
    // Refused twin read (the hub answers it): the hold ends with it.
    await transport.connect();
    expect(transport.sendsHeld()).not.toBeNull();
    const sent = transport.send(msg);
    await flush();
    expect(clients[1]!.published).toBe(0);
    clients[1]!.refuseTwin();
    await vi.waitFor(() => expect(clients[1]!.published).toBe(1), { timeout: 1000, interval: 5 });
    expect(transport.sendsHeld()).toBeNull();
    clients[1]!.ack();
    await sent;
    // A close at a send after the read settled: not ambiguous, the next connection is not held.
    transport.send(msg).catch(() => undefined);
    clients[1]!.emit('disconnect');
    await transport.connect();
    expect(transport.sendsHeld()).toBeNull();
    transport.send(msg).catch(() => undefined);
    expect(clients[2]!.published).toBe(1);
    // Ambiguous again (read waiting, send outstanding); the next read is never answered: held for twinTimeoutMs only.
    clients[2]!.emit('disconnect');
    await transport.connect();
    const started = performance.now();
    const held = transport.send(msg);
    held.catch(() => undefined);
    await flush();
    expect(clients[3]!.published).toBe(0);
    await vi.waitFor(() => expect(clients[3]!.published).toBe(1), { timeout: 2000, interval: 5 });
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(100);
    expect(waited).toBeLessThan(1000);
    await transport.disconnect();
  });

  it('a held send fails when its connection ends meanwhile, and disconnect() ends the hold', async () => {
    const { clients, transport } = setUp();
    await transport.connect();
    transport.send(msg).catch(() => undefined);
    await flush();
    clients[0]!.emit('disconnect');
    await transport.connect();
    const held = transport.send(msg);
    const failed = expect(held).rejects.toThrow(/connection/);
    await transport.disconnect();
    await failed;
    expect(clients[1]!.published).toBe(0);
  }, 5000);
});

describe('the IoT Edge module identity and the default gateway id (review rv183 L1, rv184 M1 L1 L2)', () => {
  const CS = 'HostName=edge-host;GatewayHostName=edge-host;DeviceId=ward3-gw;ModuleId=bedside-agent;SharedAccessKey=a2V5';
  const RUNTIME = { IOTEDGE_WORKLOADURI: 'unix:///var/run/iotedge/workload.sock', IOTEDGE_DEVICEID: 'ward3-gw', IOTEDGE_MODULEID: 'bedside-agent' };
  /** A module config without gateway.id (testConfig sets one). */
  const moduleConfig = (gateway: Record<string, unknown> = {}, mode = 'module') =>
    validateConfig({ gateway, store: { path: join(tempDir(), 'agent.db') }, hub: { mode }, drivers: [] }, registry, 'test');

  it('takes the identity from IOTEDGE_DEVICEID/IOTEDGE_MODULEID, else from EdgeHubConnectionString (the IoT Edge simulator and older runtimes set only that)', () => {
    expect(AzureIotTransport.fromEdgeEnvironment(RUNTIME)).toMatchObject({ identity: 'ward3-gw/bedside-agent', identityFrom: 'IOTEDGE_DEVICEID and IOTEDGE_MODULEID' });
    const fromCs = AzureIotTransport.fromEdgeEnvironment({ EdgeHubConnectionString: CS });
    expect(fromCs).toMatchObject({ identity: 'ward3-gw/bedside-agent', identityFrom: 'EdgeHubConnectionString' });
    expect(fromCs.description).toBe('IoT Edge module ward3-gw/bedside-agent via edge-host');
  });

  it("follows the SDK's order: EdgeHubConnectionString, else IotHubConnectionString, else IOTEDGE_* (rv184 L2)", () => {
    const other = { ...RUNTIME, IOTEDGE_DEVICEID: 'other-gw', IOTEDGE_MODULEID: 'other-mod', IOTEDGE_GATEWAYHOSTNAME: 'other-host' };
    const both = AzureIotTransport.fromEdgeEnvironment({ ...other, EdgeHubConnectionString: CS });
    expect(both).toMatchObject({ identity: 'ward3-gw/bedside-agent', identityFrom: 'EdgeHubConnectionString' });
    expect(both.description).toBe('IoT Edge module ward3-gw/bedside-agent via edge-host');
    expect(AzureIotTransport.fromEdgeEnvironment({ ...other, IotHubConnectionString: CS })).toMatchObject({ identity: 'ward3-gw/bedside-agent', identityFrom: 'IotHubConnectionString' });
    // Empty is unset, for the SDK too (`EdgeHubConnectionString || IotHubConnectionString`).
    expect(AzureIotTransport.fromEdgeEnvironment({ ...other, EdgeHubConnectionString: '' })).toMatchObject({ identity: 'other-gw/other-mod', identityFrom: 'IOTEDGE_DEVICEID and IOTEDGE_MODULEID' });
  });

  it('the identity named is the one the real SDK connects as, with both sources set and with a device string (rv184 L2)', async () => {
    const key = Buffer.from('test-device-key-0123456789abcdef').toString('base64');
    const hub = await startHubStandin({ identities: [{ deviceId: 'ward3-gw', moduleId: 'bedside-agent', key }, { deviceId: 'ward3-gw', key }] });
    const names = ['EdgeHubConnectionString', 'EdgeModuleCACertificateFile', 'IOTEDGE_WORKLOADURI', 'IOTEDGE_DEVICEID', 'IOTEDGE_MODULEID'];
    const saved = names.map((k) => [k, process.env[k]] as const);
    try {
      const cases: [string, string][] = [
        [hub.connectionString('ward3-gw', 'bedside-agent'), 'ward3-gw/bedside-agent'],
        [hub.connectionString('ward3-gw'), 'ward3-gw'],
      ];
      for (const [cs, expected] of cases) {
        // ModuleClient.fromEnvironment reads process.env itself. IOTEDGE_* name another identity: the SDK ignores them.
        Object.assign(process.env, { ...RUNTIME, IOTEDGE_DEVICEID: 'other-gw', IOTEDGE_MODULEID: 'other-mod', EdgeHubConnectionString: cs, EdgeModuleCACertificateFile: STANDIN_CA_FILE });
        const transport = AzureIotTransport.fromEdgeEnvironment(process.env);
        expect(transport.identity).toBe(expected);
        const before = hub.messages.length;
        await transport.connect();
        await transport.send({ id: 'm1', stream: 'telemetry', body: '{}', properties: {} });
        await transport.disconnect();
        expect(hub.messages).toHaveLength(before + 1);
        const m = hub.messages[before]!;
        expect(m.moduleId === undefined ? m.deviceId : `${m.deviceId}/${m.moduleId}`).toBe(expected);
      }
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await hub.stop();
    }
  }, 20_000);

  it('a device connection string in EdgeHubConnectionString: the SDK connects as that device, and the gateway id is its DeviceId (rv184 L2)', async () => {
    const deviceCs = 'HostName=edge-host;GatewayHostName=edge-host;DeviceId=ward3-gw;SharedAccessKey=a2V5';
    const { transport } = chooseTransport(moduleConfig(), { EdgeHubConnectionString: deviceCs });
    expect(transport).toMatchObject({ identity: 'ward3-gw', identityFrom: 'EdgeHubConnectionString', description: 'IoT Edge device ward3-gw via edge-host' });
    const cap = captureLog();
    const agent = new Agent({ config: moduleConfig(), registry, log: cap.log, env: { EdgeHubConnectionString: deviceCs } });
    try {
      expect(agent.gatewayId).toBe('ward3-gw');
    } finally {
      await agent.stop();
    }
  });

  it('an environment that names no identity the SDK can use is refused, gateway.id or not, naming the variable (rv184 M1)', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ EdgeHubConnectionString: 'HostName=edge-host;GatewayHostName=edge-host;SharedAccessKey=a2V5' }, /- EdgeHubConnectionString \(environment\): has no DeviceId/],
      [{ IOTEDGE_WORKLOADURI: RUNTIME.IOTEDGE_WORKLOADURI, IOTEDGE_MODULEID: 'bedside-agent' }, /- IOTEDGE_DEVICEID \(environment\): is not set/],
      // The SDK's module client takes only a key: it throws at a signature, as at a missing DeviceId.
      [{ EdgeHubConnectionString: 'HostName=edge-host;DeviceId=d;ModuleId=m;SharedAccessSignature=SharedAccessSignature sr=x&sig=y&se=1' }, /- EdgeHubConnectionString \(environment\): has no SharedAccessKey/],
    ];
    for (const [env, refusal] of cases) {
      for (const config of [moduleConfig(), moduleConfig({ id: 'ward3' }), moduleConfig({ id: 'ward3' }, 'auto')]) {
        expect(() => chooseTransport(config, env)).toThrow(refusal);
        expect(() => chooseTransport(config, env)).not.toThrow(/gateway\.id/);
      }
      expect(AzureIotTransport.fromEdgeEnvironment(env).identity).toBeNull();
      expect(AzureIotTransport.fromEdgeEnvironment(env).description).not.toContain('?');
      // hub.mode off: no hub, nothing to refuse.
      expect(chooseTransport(moduleConfig({}, 'off'), env).transport).toBeNull();
    }
  });

  it('--check inside the module gives the verdict the start gives (rv184 L1)', () => {
    const noId = { EdgeHubConnectionString: 'HostName=edge-host;SharedAccessKey=a2V5' };
    for (const mode of ['module', 'auto']) {
      const config = moduleConfig({}, mode);
      const atStart = buildProblems(config, registry, noId, true);
      expect(atStart.map((p) => p.path)).toEqual(['EdgeHubConnectionString (environment)']);
      // --check: main.ts judgeStart(config, false, …)
      expect(buildProblems(config, registry, noId, false)).toEqual(atStart);
    }
  });

  it('connect() in an environment the SDK cannot use fails, naming the variable; never an uncaught throw from the SDK (rv184 M1)', async () => {
    // What the start judged named an identity; the SDK reads process.env itself, which here has none. With
    // EdgeModuleCACertificateFile the SDK threw from inside a file-read callback, out of reach of any catch: the process died.
    const saved = { EdgeHubConnectionString: process.env.EdgeHubConnectionString, EdgeModuleCACertificateFile: process.env.EdgeModuleCACertificateFile };
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.prependListener('uncaughtException', onUncaught);
    try {
      for (const ca of [STANDIN_CA_FILE, undefined]) {
        process.env.EdgeHubConnectionString = 'HostName=localhost;GatewayHostName=localhost;SharedAccessKey=a2V5';
        if (ca) process.env.EdgeModuleCACertificateFile = ca;
        else delete process.env.EdgeModuleCACertificateFile;
        const transport = AzureIotTransport.fromEdgeEnvironment({ EdgeHubConnectionString: CS });
        const settled = await Promise.race([
          transport.connect().then(() => 'connected', (err: Error) => err.message),
          new Promise((resolve) => setTimeout(() => resolve('connect() never settled'), 2000)),
        ]);
        expect(settled).toMatch(/^EdgeHubConnectionString \(environment\) has no DeviceId/);
        await transport.disconnect();
      }
      expect(uncaught).toEqual([]);
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('the agent takes <device>.<module> from EdgeHubConnectionString as its gateway id, and logs where it came from', async () => {
    const cap = captureLog();
    const agent = new Agent({ config: moduleConfig(), registry, log: cap.log, env: { EdgeHubConnectionString: CS } });
    try {
      expect(agent.gatewayId).toBe('ward3-gw.bedside-agent');
      expect(cap.find('gateway id')).toMatchObject({ gatewayId: 'ward3-gw.bedside-agent', from: 'the hub identity from EdgeHubConnectionString' });
    } finally {
      await agent.stop();
    }
  });
});

// Unit tests of the transport's connection-string checks. The proof against the real SDK and a real MQTT/TLS
// peer is in test/e2e/forward.test.ts.
import { describe, expect, it } from 'vitest';
import { rootCertificates } from 'node:tls';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STANDIN_CA_FILE } from '../../test/hub-standin/certs.js';
import { ConfigError } from '../config/load.js';
import { testConfig } from '../../test/support/agent-config.js';
import { tempDir } from '../../test/support/agent-process.js';
import { EventEmitter } from 'node:events';
import { AzureIotTransport, readCaFile, trustWith, type ControlHandler, type ControlSession } from './azure.js';
import { chooseTransport } from './choose.js';

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
    expect(AzureIotTransport.fromConnectionString(`${base};SharedAccessSignature=SharedAccessSignature sr=x&sig=y&se=1`).description).toBe('device bed-gw on h.azure-devices.net');
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

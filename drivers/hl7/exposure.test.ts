// Review rv170 M3: an MLLP listener beyond loopback that admits any sender lets whoever reaches its port store readings
// and raise or end alarms for any bed; --check and each start say so, as they do for the display.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry } from '../registry.js';
import { configWarnings } from '../../agent/config/check.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { testConfig } from '../../test/support/agent-config.js';
import { tempDir } from '../../test/support/agent-process.js';
import { hl7MllpFactory } from './index.js';

const CERTS = join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs');
const tls = { certFile: join(CERTS, 'server.pem'), keyFile: join(CERTS, 'server-key.pem') };

describe('hl7-mllp listener exposure warnings', () => {
  it('plain MLLP on 0.0.0.0 (the default host) or an interface: warned, naming options.tls, the port and what to do', () => {
    for (const host of [undefined, '0.0.0.0', '10.1.2.3', '::']) {
      const w = hl7MllpFactory.warnings!({ ...(host !== undefined && { host }), port: 2575 });
      expect(w, String(host)).toEqual([{ field: 'options.tls', message: expect.stringMatching(/^not set while the listener on .* takes plain MLLP from any sender: anyone who reaches port 2575 can store readings and raise or end alarms for any bed; .*PortBindings HostIp.*configure tls with caFile or allowedClients/) }]);
    }
  });

  it('TLS without client certificates: warned on options.tls.caFile; with caFile or allowedClients, or on loopback: nothing', () => {
    expect(hl7MllpFactory.warnings!({ port: 2575, tls })).toEqual([{ field: 'options.tls.caFile', message: expect.stringMatching(/^TLS without client certificates: any sender that completes the handshake is taken/) }]);
    // An allow-list with no entry admits everyone (review rv171 M1).
    for (const allowedClients of [{}, { fingerprint256: [] }, { cn: [], fingerprint256: [] }]) {
      expect(hl7MllpFactory.warnings!({ port: 2575, tls: { ...tls, allowedClients } }), JSON.stringify(allowedClients)).toEqual([{ field: 'options.tls.caFile', message: expect.stringMatching(/^TLS without client certificates/) }]);
    }
    expect(hl7MllpFactory.warnings!({ port: 2575, tls: { ...tls, caFile: join(CERTS, 'ca.pem') } })).toEqual([]);
    expect(hl7MllpFactory.warnings!({ port: 2575, tls: { ...tls, allowedClients: { fingerprint256: ['AB:CD'] } } })).toEqual([]);
    // Loopback as the display's checks read it (agent/loopback.ts), spellings included.
    for (const host of ['127.0.0.1', 'localhost', '::1', '127.0.0.5', '::ffff:127.0.0.1', '127.1', 'LOCALHOST.']) expect(hl7MllpFactory.warnings!({ host, port: 2575 }), host).toEqual([]);
  });

  it('reaches --check: a config with a plain listener on 0.0.0.0 gets the warning under its driver entry', () => {
    const config = testConfig(tempDir(), { drivers: [{ name: 'central', type: 'hl7-mllp', options: { host: '0.0.0.0', port: 22575 } }] });
    const warnings = configWarnings(config, registry, false, {});
    expect(warnings.filter((w) => w.path.includes('tls'))).toEqual([{ path: expect.stringMatching(/^drivers\[0\].*options\.tls$/), message: expect.stringMatching(/takes plain MLLP from any sender/) }]);
  });

  it('port 0 beyond loopback: warned on options.port (no central station can be set to a port picked at each start); on loopback (tests): nothing (review rv192 L1)', () => {
    const config = testConfig(tempDir(), { display: { enabled: true, host: '0.0.0.0', port: 0 }, drivers: [{ name: 'central', type: 'hl7-mllp', options: { host: '0.0.0.0', port: 0 } }] });
    const warnings = configWarnings(config, registry, false, {});
    expect(warnings.filter((w) => /port$/.test(w.path))).toEqual([
      { path: expect.stringMatching(/^drivers\[0\].*options\.port$/), message: expect.stringMatching(/^0 while the listener on 0\.0\.0\.0 takes MLLP beyond loopback: the system picks another free port at each start.*set the port the central station sends to/) },
      { path: 'display.port', message: expect.stringMatching(/^0 while display\.host 0\.0\.0\.0 listens beyond loopback: the system picks another free port at each start.*set the port the screens use/) },
    ]);
    expect(hl7MllpFactory.warnings!({ host: '127.0.0.1', port: 0 }).filter((w) => w.field === 'options.port')).toEqual([]);
    const loopback = testConfig(tempDir(), { display: { enabled: true, host: '127.0.0.1', port: 0 } });
    expect(configWarnings(loopback, registry, false, {}).filter((w) => w.path === 'display.port')).toEqual([]);
  });
});

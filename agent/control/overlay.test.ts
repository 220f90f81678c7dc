import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyOverlay, mergePatch, planChange, resolveOverlay, withoutRefusedFields, type JsonObject } from './overlay.js';
import { diffPatch } from './reported.js';
import { DesiredState } from './desired.js';
import { registry } from '../../drivers/registry.js';
import { validateConfig, type AgentConfig } from '../config/load.js';
import { decideStartup } from './control.js';
import { saveOverlay } from './persist.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const local = (): AgentConfig =>
  validateConfig(
    {
      gateway: { id: 'gw' },
      store: { path: '/tmp/x/agent.db' },
      hub: { mode: 'off' },
      drivers: [
        // Each simulator its own device ids: two drivers sending as one device are refused.
        { name: 'a', type: 'simulator', options: { beds: 1, deviceIdPrefix: 'a-' } },
        { name: 'b', type: 'simulator', options: { beds: 2, deviceIdPrefix: 'b-' } },
      ],
    },
    registry,
    'test',
  );

describe('overlay', () => {
  it('merges like a twin patch: objects merge, null removes, arrays replace', () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1, 2, 3] }, { b: { c: null, x: 1 }, e: [9] })).toEqual({ a: 1, b: { d: 3, x: 1 }, e: [9] });
  });

  it('merges drivers keyed by name into the local list, adds new ones, and a list replaces the whole list', () => {
    const keyed = applyOverlay(local(), { drivers: { b: { options: { beds: 5 } }, c: { type: 'simulator', options: { deviceIdPrefix: 'c-' } } } });
    expect((keyed.drivers as { name: string; options?: { beds?: number } }[]).map((d) => [d.name, d.options?.beds])).toEqual([
      ['a', 1],
      ['b', 5],
      ['c', undefined],
    ]);
    const list = applyOverlay(local(), { drivers: [{ name: 'z', type: 'simulator' }] });
    expect((list.drivers as { name: string }[]).map((d) => d.name)).toEqual(['z']);
  });

  it('refuses sections that could cut the gateway off, naming each', () => {
    const r = resolveOverlay(local(), { hub: { mode: 'off' }, store: { path: '/elsewhere/agent.db' }, control: { enabled: false }, gateway: { id: 'x' } }, registry);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path).sort()).toEqual(['control', 'gateway', 'hub', 'store']);
  });

  it('refuses any change to the edge model from the cloud side: approving a hash, another file, the delay policy, switching it off (review rv46 M3)', () => {
    const changes = [
      { approved: [{ sha256: 'c'.repeat(64), label: 'cloud-approved' }], path: '/var/tmp/other.onnx' },
      { policy: { mode: 'delay' } },
      { enabled: false },
    ];
    for (const model of changes) {
      const r = resolveOverlay(local(), { model }, registry);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems).toEqual([{ path: 'model', message: expect.stringMatching(/^the edge model cannot be changed remotely/) }]);
    }
  });

  it('refuses a privacy change from the cloud side: pseudonymisation off, or a key it would know (review rv38 §2)', () => {
    for (const privacy of [{ pseudonymizePatientIds: false }, { pseudonymKey: 'k'.repeat(40) }]) {
      const r = resolveOverlay(local(), { privacy }, registry);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problems).toEqual([{ path: 'privacy', message: expect.stringMatching(/^patient privacy cannot be changed remotely/) }]);
    }
  });

  it('validates the merged config with the agent validator and reports field paths', () => {
    const r = resolveOverlay(local(), { drivers: { a: { options: { beds: 0 } } }, log: { level: 'verbose' } }, registry);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path).sort()).toEqual(['drivers.a.options.beds', 'log.level']);
    const ok = resolveOverlay(local(), { log: { level: 'warn' } }, registry);
    expect(ok.ok && ok.config.log.level).toBe('warn');
    // A driver added from the cloud that would send as a device another driver already sends as is refused.
    const twice = resolveOverlay(local(), { drivers: { c: { type: 'simulator', options: { deviceIdPrefix: 'a-' } } } }, registry);
    expect(twice.ok).toBe(false);
    if (!twice.ok) expect(twice.problems.map((p) => p.message).join('\n')).toMatch(/already used by drivers\.a\.options\.deviceIdPrefix/);
  });

  it('names drivers as the twin author wrote them: drivers.<name> for the map form, the index for a list (review rv91 L3)', () => {
    const map = resolveOverlay(local(), { drivers: { b: { options: { beds: 0 } } } }, registry);
    expect(map.ok).toBe(false);
    if (!map.ok) expect(map.problems.map((p) => p.path)).toEqual(['drivers.b.options.beds']);
    // In the message too: the other driver's field is named the same way.
    const shared = resolveOverlay(local(), { drivers: { c: { type: 'simulator', options: { deviceIdPrefix: 'a-' } } } }, registry);
    expect(shared.ok).toBe(false);
    if (!shared.ok) {
      expect(shared.problems.map((p) => p.path)).toEqual(['drivers.c.options.deviceIdPrefix']);
      expect(shared.problems[0]!.message).toContain('already used by drivers.a.options.deviceIdPrefix');
      expect(shared.problems[0]!.message).not.toMatch(/drivers\[\d+\]/);
    }
    // A list replaces the local one: its indices are the twin author's own.
    const list = resolveOverlay(local(), { drivers: [{ name: 'z', type: 'simulator', options: { beds: 0 } }] }, registry);
    expect(list.ok).toBe(false);
    if (!list.ok) expect(list.problems.map((p) => p.path)).toEqual(['drivers[0].options.beds']);
    // A local name that cannot be a twin key (a dot) keeps its index: drivers.icu.3 would read as a nested field.
    const dotted = validateConfig({ ...structuredClone(local()), drivers: [{ name: 'icu.3', type: 'simulator', options: { beds: 1, deviceIdPrefix: 'i-' } }] }, registry, 'test');
    const d = resolveOverlay(dotted, { drivers: { c: { type: 'simulator', options: { beds: 1, deviceIdPrefix: 'i-' } } } }, registry);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.problems).toEqual([{ path: 'drivers.c.options.deviceIdPrefix', message: expect.stringContaining('drivers[0].options.deviceIdPrefix') }]);
  });

  it('plans restarts only for drivers whose entries changed, and names sections that wait for a restart', () => {
    const from = local();
    const r = resolveOverlay(from, { drivers: { b: { options: { beds: 3 } }, c: { type: 'simulator', options: { deviceIdPrefix: 'c-' } } }, log: { level: 'debug' }, alarms: { audioPause: { defaultS: 60 } } }, registry);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const plan = planChange(from, r.config);
    expect(plan.stop).toEqual(['b']);
    expect(plan.start.map((d) => d.name)).toEqual(['b', 'c']);
    expect(plan.logLevel).toBe('debug');
    expect(plan.pendingRestart).toEqual(['alarms']);
    const off = resolveOverlay(from, { drivers: { a: { enabled: false } } }, registry);
    if (!off.ok) throw new Error('valid');
    expect(planChange(from, off.config)).toMatchObject({ stop: ['a'], start: [], pendingRestart: [] });
  });
});

describe('desired state', () => {
  it('applies patches in version order, ignores repeats, and asks for a full read after a gap', () => {
    const d = new DesiredState();
    expect(d.patch({ a: 1, $version: 2 })).toBe('gap'); // never read
    expect(d.full({ a: 1, arr: [1, 2, 3], $version: 3 })).toBe(true);
    expect(d.patch({ arr: [9], $version: 4 })).toBe('applied');
    expect(d.document).toEqual({ a: 1, arr: [9] }); // replaced, not merged index by index
    expect(d.patch({ a: 5, $version: 4 })).toBe('stale');
    expect(d.patch({ a: null, $version: 5 })).toBe('applied');
    expect(d.document).toEqual({ arr: [9] });
    expect(d.patch({ a: 7, $version: 7 })).toBe('gap');
    expect(d.full({ a: 1, $version: 2 })).toBe(false); // older than what we have
    expect(d.version).toBe(5);
  });
});

const jsonObject: fc.Arbitrary<JsonObject> = fc.dictionary(
  fc.constantFrom('a', 'b', 'c', 'd'),
  fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.constantFrom('x', 'y'), fc.integer())),
) as fc.Arbitrary<JsonObject>;

describe('reported patches (property)', () => {
  it('merging diffPatch(prev, next) into prev gives next', () => {
    fc.assert(
      fc.property(jsonObject, jsonObject, (prev, next) => {
        expect(mergePatch(prev, diffPatch(prev, next))).toEqual(next);
      }),
    );
  });
});

describe('transport security and display identities (review rv82 H2, M1)', () => {
  const tls = { certFile: '/etc/gw/mllp.pem', keyFile: '/etc/gw/mllp-key.pem', caFile: '/etc/gw/ca.pem', allowedClients: { cn: ['central-1'], fingerprint256: ['AB'.repeat(32)] } };
  const mllp = (options: Record<string, unknown>) => ({ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2575, tls, ...options } });
  const withListener = (extra: Record<string, unknown> = {}): AgentConfig =>
    validateConfig({ gateway: { id: 'gw' }, store: { path: '/tmp/x/agent.db' }, hub: { mode: 'off' }, drivers: [mllp({})], ...extra }, registry, 'test');
  const refusedPaths = (overlay: JsonObject, base = withListener(), running?: AgentConfig): string[] => {
    const r = resolveOverlay(base, overlay, registry, running);
    if (r.ok) return [];
    for (const p of r.problems) expect(p.message).toMatch(/cannot be (weakened|changed) remotely/);
    return r.problems.map((p) => p.path);
  };

  it('refuses a change that removes or weakens a listener\'s TLS or widens its host, naming the driver and field', () => {
    // The probe's change: the entry repeated in a list, without tls, on every interface.
    const r = resolveOverlay(withListener(), { drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '0.0.0.0', port: 2575 } }] }, registry);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems.map((p) => p.path).sort()).toEqual(['drivers.icu-mllp.options.host', 'drivers.icu-mllp.options.tls']);
      expect(r.downgrades?.map((d) => [d.driver, d.field]).sort()).toEqual([['icu-mllp', 'options.host'], ['icu-mllp', 'options.tls']]);
    }
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { tls: { caFile: null } } } } })).toEqual(['drivers.icu-mllp.options.tls.caFile']);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { tls: { caFile: '/etc/ssl/certs/ca-certificates.crt' } } } } })).toEqual(['drivers.icu-mllp.options.tls.caFile']);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { tls: { allowedClients: null } } } } })).toEqual(['drivers.icu-mllp.options.tls.allowedClients']);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { tls: { allowedClients: { cn: ['central-1', 'cloud-made'] } } } } } })).toEqual(['drivers.icu-mllp.options.tls.allowedClients']);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { tls: { allowedClients: { fingerprint256: ['CD'.repeat(32)] } } } } } })).toEqual(['drivers.icu-mllp.options.tls.allowedClients']);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { tls: { keyFile: '/opt/agent/test/server-key.pem' } } } } })).toEqual(['drivers.icu-mllp.options.tls.keyFile']);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { host: '10.0.0.5' } } } })).toEqual(['drivers.icu-mllp.options.host']);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { host: '::' } } } })).toEqual(['drivers.icu-mllp.options.host']);
    // Around the name: the same port under another name, or a new plain listener beside the TLS one.
    expect(refusedPaths({ drivers: [{ name: 'other', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2575 } }] })).toEqual(['drivers.other.options.tls']);
    expect(refusedPaths({ drivers: { extra: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2576 } } } })).toEqual(['drivers.extra.options.tls']);
  });

  it('compares with what runs too: TLS the twin gave a listener of its own cannot be taken away by it', () => {
    const plainLocal = validateConfig({ gateway: { id: 'gw' }, store: { path: '/tmp/x/agent.db' }, hub: { mode: 'off' }, drivers: [] }, registry, 'test');
    const added = resolveOverlay(plainLocal, { drivers: { twin: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2577, tls } } } }, registry);
    if (!added.ok) throw new Error(JSON.stringify(added.problems));
    expect(refusedPaths({ drivers: { twin: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2577 } } } }, plainLocal, added.config)).toEqual(['drivers.twin.options.tls']);
    // Removing it altogether, or going back to the local file, is not a downgrade.
    expect(refusedPaths({ log: { level: 'info' } }, plainLocal, added.config)).toEqual([]);
  });

  it('the twin can go back to the local file\'s own entry after it tightened a local listener (review rv83 M1)', () => {
    const plain = validateConfig({ gateway: { id: 'gw' }, store: { path: '/tmp/x/agent.db' }, hub: { mode: 'off' }, drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { port: 2575 } }] }, registry, 'test');
    const tightened = resolveOverlay(plain, { drivers: { 'icu-mllp': { options: { host: '127.0.0.1', tls } } } }, registry);
    if (!tightened.ok) throw new Error(JSON.stringify(tightened.problems));
    // Its override removed (back to the local entry), or a change no weaker than the local entry: not a downgrade.
    expect(refusedPaths({ log: { level: 'info' } }, plain, tightened.config)).toEqual([]);
    expect(refusedPaths({ drivers: { 'icu-mllp': null } }, plain, tightened.config)).toEqual([]);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { host: '10.0.0.5' } } } }, plain, tightened.config)).toEqual([]);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { maxConnections: 8 } } } }, plain, tightened.config)).toEqual([]);
    // Still judged against the local file: weaker than the local entry is refused whatever runs.
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { host: '::' } } } }, plain, tightened.config)).toEqual(['drivers.icu-mllp.options.host']);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { tls: null } } } }, withListener(), withListener())).toEqual(['drivers.icu-mllp.options.tls']);
    // Moved onto the port of another local listener with TLS: judged against that one too (renaming around it).
    const two = validateConfig({ gateway: { id: 'gw' }, store: { path: '/tmp/x/agent.db' }, hub: { mode: 'off' }, drivers: [{ name: 'plain', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2576 } }, mllp({})] }, registry, 'test');
    expect(refusedPaths({ drivers: { 'icu-mllp': { enabled: false }, plain: { options: { port: 2575 } } } }, two, two)).toEqual(['drivers.plain.options.tls']);
  });

  it('a local entry that is disabled in the file is no baseline of its own: the twin enabling it is judged against the enabled listeners on its port (review rv84 M3)', () => {
    // The reviewer's case: a TLS listener and a disabled plain fallback on the same port, both in the local file.
    const site = validateConfig({
      gateway: { id: 'gw' }, store: { path: '/tmp/x/agent.db' }, hub: { mode: 'off' },
      drivers: [mllp({ host: '10.0.0.5' }), { name: 'icu-mllp-plain', type: 'hl7-mllp', enabled: false, options: { host: '0.0.0.0', port: 2575 } }],
    }, registry, 'test');
    const swap = { drivers: { 'icu-mllp': { enabled: false }, 'icu-mllp-plain': { enabled: true } } };
    expect(refusedPaths(swap, site, site)).toEqual(['drivers.icu-mllp-plain.options.tls', 'drivers.icu-mllp-plain.options.host']);
    expect(refusedPaths(swap, site)).toEqual(['drivers.icu-mllp-plain.options.tls', 'drivers.icu-mllp-plain.options.host']);
    // Enabled beside it (the TLS one left on, the plain one on loopback): refused on its TLS.
    expect(refusedPaths({ drivers: { 'icu-mllp-plain': { enabled: true, options: { host: '127.0.0.1' } } } }, site, site)).toEqual(['drivers.icu-mllp-plain.options.tls']);
    // A TLS listener the twin added on that port (running, not in the file) counts too.
    const fallback = validateConfig({
      gateway: { id: 'gw' }, store: { path: '/tmp/x/agent.db' }, hub: { mode: 'off' },
      drivers: [{ name: 'icu-mllp-plain', type: 'hl7-mllp', enabled: false, options: { host: '127.0.0.1', port: 2575 } }],
    }, registry, 'test');
    const added = resolveOverlay(fallback, { drivers: { twin: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2575, tls } } } }, registry);
    if (!added.ok) throw new Error(JSON.stringify(added.problems));
    expect(refusedPaths({ drivers: { twin: null, 'icu-mllp-plain': { enabled: true } } }, fallback, added.config)).toEqual(['drivers.icu-mllp-plain.options.tls']);
    // With nothing enabled on its port, or as protected as what is, the twin may turn on the site's own entry.
    expect(refusedPaths({ drivers: { 'icu-mllp-plain': { enabled: true } } }, fallback, fallback)).toEqual([]);
    const spare = validateConfig({
      gateway: { id: 'gw' }, store: { path: '/tmp/x/agent.db' }, hub: { mode: 'off' },
      drivers: [mllp({}), { ...mllp({}), name: 'icu-mllp-spare', enabled: false }],
    }, registry, 'test');
    expect(refusedPaths({ drivers: { 'icu-mllp': { enabled: false }, 'icu-mllp-spare': { enabled: true } } }, spare, spare)).toEqual([]);
  });

  it('a locally disabled listener the twin enables on a port of its own may not be weaker than every enabled listener of its type', () => {
    const site = (tlsOn: boolean, fallbackTls?: Record<string, unknown>) => validateConfig({
      gateway: { id: 'gw' }, store: { path: '/tmp/x/agent.db' }, hub: { mode: 'off' },
      drivers: [{ ...mllp({}), enabled: tlsOn }, { name: 'icu-mllp-plain', type: 'hl7-mllp', enabled: false, options: { host: '127.0.0.1', port: 2576, ...(fallbackTls ? { tls: fallbackTls } : {}) } }],
    }, registry, 'test');
    const enable = { drivers: { 'icu-mllp-plain': { enabled: true } } };
    expect(refusedPaths(enable, site(true), site(true))).toEqual(['drivers.icu-mllp-plain.options.tls']);
    expect(refusedPaths(enable, site(true))).toEqual(['drivers.icu-mllp-plain.options.tls']);
    // No enabled listener of its type: nothing to weaken. As protected (its own certificate): accepted.
    expect(refusedPaths(enable, site(false), site(false))).toEqual([]);
    const own = { ...tls, certFile: '/etc/gw/plain.pem', keyFile: '/etc/gw/plain-key.pem' };
    expect(refusedPaths(enable, site(true, own), site(true, own))).toEqual([]);
  });

  it('a listener\'s address from the twin must be an IP address or "localhost"; reach is judged on the parsed address (review rv83 L2)', () => {
    const at = (host: string) => validateConfig({ gateway: { id: 'gw' }, store: { path: '/tmp/x/agent.db' }, hub: { mode: 'off' }, drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host, port: 2575 } }] }, registry, 'test');
    const moveTo = (host: string, base = at('10.0.0.5')) => refusedPaths({ drivers: { 'icu-mllp': { options: { host } } } }, base);
    for (const host of ['127.0.0.1.nip.io', '127.any-name.example.org', 'mllp.example.org', '127.1', '0.0.0.0', '::', '0:0:0:0:0:0:0:0', '::ffff:0:0', '10.0.0.6']) {
      expect(moveTo(host), host).toEqual(['drivers.icu-mllp.options.host']);
    }
    for (const host of ['127.0.0.1', '127.9.9.9', 'localhost', 'LOCALHOST', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1', '10.0.0.5']) {
      expect(moveTo(host), host).toEqual([]);
    }
    // The reason says why a name is refused.
    const r = resolveOverlay(at('10.0.0.5'), { drivers: { 'icu-mllp': { options: { host: '127.0.0.1.nip.io' } } } }, registry);
    expect(!r.ok && r.problems[0]!.message).toMatch(/IP address or "localhost"/);
    // A listener the twin adds, even from every interface, may not be given a name.
    expect(refusedPaths({ drivers: { more: { type: 'hl7-mllp', options: { host: 'mllp.example.org', port: 2576 } } } }, at('0.0.0.0'))).toEqual(['drivers.more.options.host']);
    // The local file may use a name: other changes to that listener are judged as before.
    expect(moveTo('mllp.example.org', at('mllp.example.org'))).toEqual([]);
    expect(refusedPaths({ drivers: { 'icu-mllp': { options: { maxConnections: 8 } } } }, at('mllp.example.org'))).toEqual([]);
    expect(moveTo('127.0.0.1', at('mllp.example.org'))).toEqual([]);
  });

  it('accepts changes that keep or strengthen transport security', () => {
    const plain = validateConfig({ gateway: { id: 'gw' }, store: { path: '/tmp/x/agent.db' }, hub: { mode: 'off' }, drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { port: 2575 } }] }, registry, 'test');
    for (const [overlay, base] of [
      [{ drivers: { 'icu-mllp': { options: { maxConnections: 8 } } } }, withListener()],
      [{ drivers: { 'icu-mllp': { options: { host: '127.0.0.1' } } } }, plain], // 0.0.0.0 (default) to loopback
      [{ drivers: { 'icu-mllp': { options: { host: '10.0.0.5', tls: { certFile: 'c', keyFile: 'k' } } } } }, plain],
      [{ drivers: { 'icu-mllp': { options: { tls: { allowedClients: { cn: [] } } } } } }, withListener()], // narrower
      [{ drivers: { 'icu-mllp': { enabled: false } } }, withListener()],
      [{ drivers: { more: { type: 'hl7-mllp', options: { port: 2576 } } } }, plain], // as plain as the gateway's own
      [{ drivers: { more: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 2576, tls: { ...tls, certFile: 'c2', keyFile: 'k2' } } } } }, withListener()], // its own certificate
    ] as [JsonObject, AgentConfig][]) {
      expect(refusedPaths(overlay, base)).toEqual([]);
    }
  });

  it('refuses display users, tokens, viewing, TLS and host from the cloud side; other display settings may change', () => {
    const r = resolveOverlay(
      local(),
      {
        display: {
          users: [{ name: 'cloudop', role: 'admin', passwordHash: 'scrypt$16384$8$5$c2FsdA$aGFzaA' }],
          tokens: [{ name: 'cloud', role: 'clinician', tokenHash: `sha256$${'a'.repeat(64)}` }],
          viewing: 'open',
          tls: { certFile: 'c', keyFile: 'k' },
          host: '0.0.0.0',
        },
      },
      registry,
    );
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems.map((p) => p.path).sort()).toEqual(['display.host', 'display.tls', 'display.tokens', 'display.users', 'display.viewing']);
      for (const p of r.problems) expect(p.message).toMatch(/^the display's (identities|viewing|listening address and TLS) cannot be changed remotely/);
    }
    // The rest of the display may change (at the next start); null removes an override of a refused field.
    expect(resolveOverlay(local(), { display: { maxBeds: 64, users: null, port: null, allowedHosts: null, limits: null, login: null, sessionTtlS: null, allowedOrigins: null } }, registry).ok).toBe(true);
  });

  it('refuses display.allowedHosts and display.limits from the cloud side, even at the default value: a wrong list or a limit of 1 refuses the ward screens after the next restart', () => {
    for (const display of [
      { allowedHosts: ['gw-ward3.hospital.example'] },
      { allowedHosts: [] },
      { limits: { maxSseClients: 1 } },
      { limits: { maxConnections: 1, maxSseClientsPerAddress: 1 } },
      { limits: { maxConnections: null, maxSseClients: 1 } },
      { allowedHosts: ['.hospital.example'], limits: { maxSseClients: 32 }, maxBeds: 64 },
      { allowedOrigins: ['https://ward3.example.org'] },
      { login: { maxSessionsPerUser: 1 } },
      { sessionTtlS: 60, maxBeds: 64 },
    ] as JsonObject[]) {
      const r = resolveOverlay(local(), { display }, registry);
      expect(r.ok, JSON.stringify(display)).toBe(false);
      if (!r.ok) {
        expect(r.problems.map((p) => p.path).sort()).toEqual(['allowedHosts', 'allowedOrigins', 'limits', 'login', 'sessionTtlS'].filter((k) => k in display).map((k) => `display.${k}`));
        for (const p of r.problems) expect(p.message).toMatch(/^the display's (allowed host names|allowed origins|connection limits|login settings) cannot be changed remotely: .*screens.*; change the local config file$/);
      }
    }
  });

  it('a saved overlay (from an older version) holding display.allowedHosts or display.limits is applied without them, each named in ignored; the rest stays', () => {
    const saved = {
      display: { allowedHosts: ['evil.example'], limits: { maxSseClients: 1 }, login: { maxSessionsPerUser: 1 }, sessionTtlS: 60, allowedOrigins: [], maxBeds: 64, port: 9090 },
      log: { level: 'debug' },
    } as JsonObject;
    const { overlay, ignored } = withoutRefusedFields(saved);
    expect(ignored.map((p) => p.path).sort()).toEqual(['display.allowedHosts', 'display.allowedOrigins', 'display.limits', 'display.login', 'display.port', 'display.sessionTtlS']);
    for (const p of ignored) expect(p.message).toMatch(/from the twin is ignored: .*set it in the local file/);
    expect(overlay).toEqual({ display: { maxBeds: 64 }, log: { level: 'debug' } });
    expect(saved.display).toMatchObject({ allowedHosts: ['evil.example'] }); // the saved document itself is not changed
    const r = resolveOverlay(local(), overlay, registry);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.config.display.allowedHosts).toEqual([]);
      expect(r.config.display.limits.maxSseClients).toBe(32);
      expect(r.config.display.maxBeds).toBe(64);
      expect(r.config.display.sessionTtlS).toBe(900);
      expect(r.config.display.login.maxSessionsPerUser).toBe(10);
    }
    // Null (removing an override) is nothing to ignore.
    expect(withoutRefusedFields({ display: { allowedHosts: null, limits: null } }).ignored).toEqual([]);
  });

  it('a refused display field holding only {} or nulls sets nothing: neither refused nor ignored, and the local value stays (review rv105 M2)', () => {
    const base = local();
    const withDisplay = validateConfig(
      { ...structuredClone(base), display: { ...base.display, allowedHosts: ['gw.example'], limits: { maxConnections: 70 }, login: { maxSessionsPerUser: 3 }, port: 9999, sessionTtlS: 600 } },
      registry,
      'test',
    );
    for (const display of [
      { limits: {} },
      { limits: { maxConnections: null } },
      { login: { maxSessionsPerUser: null } },
      { limits: { maxConnections: null }, login: {}, maxBeds: 64 },
      { allowedHosts: null, port: null, limits: null, sessionTtlS: null, users: null },
    ] as JsonObject[]) {
      const overlay = { display, log: { level: 'debug' } } as JsonObject;
      expect(withoutRefusedFields(overlay).ignored, JSON.stringify(display)).toEqual([]);
      const r = resolveOverlay(withDisplay, overlay, registry);
      expect(r.ok, JSON.stringify(display)).toBe(true);
      // Absent, not removed: a null must not clear the local file's value either (the merge deletes a key set to null).
      if (r.ok) expect(r.config.display, JSON.stringify(display)).toEqual({ ...withDisplay.display, maxBeds: display.maxBeds ?? withDisplay.display.maxBeds });
      if (r.ok) expect(r.config.log.level).toBe('debug');
    }
    // The cloud removes a value an older version took with the usual fine-grained patch: the agent merges it into
    // its document itself, which leaves `limits: {}`; the rest of the document (here a driver) is applied.
    const saved = { display: { limits: { maxConnections: 8 } }, drivers: { b: { options: { beds: 5 } } } } as JsonObject;
    expect(resolveOverlay(withDisplay, saved, registry).ok).toBe(false);
    expect(withoutRefusedFields(saved).ignored.map((p) => p.path)).toEqual(['display.limits']);
    const after = mergePatch(saved, { display: { limits: { maxConnections: null } } }) as JsonObject;
    expect(after).toEqual({ display: { limits: {} }, drivers: { b: { options: { beds: 5 } } } });
    expect(withoutRefusedFields(after).ignored).toEqual([]);
    const r = resolveOverlay(withDisplay, after, registry);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.config.drivers.find((d) => d.name === 'b')?.options).toMatchObject({ beds: 5 });
      expect(r.config.display.limits.maxConnections).toBe(70);
    }
    // A refused section holding only {} or nulls sets nothing either (review rv106 M2): removing hub.retry.maxDelayMs
    // value by value leaves `hub: { retry: {} }`, which must not get the rest of the document refused.
    for (const sections of [{ hub: {} }, { hub: { retry: {} } }, { hub: { x: null } }, { store: { x: null } }, { model: {}, privacy: { key: null } }] as JsonObject[]) {
      const overlay = { ...sections, log: { level: 'debug' }, drivers: { b: { options: { beds: 5 } } } } as JsonObject;
      const r = resolveOverlay(withDisplay, overlay, registry);
      expect(r.ok ? [] : r.problems, JSON.stringify(sections)).toEqual([]);
      if (r.ok) {
        expect(r.config.hub, JSON.stringify(sections)).toEqual(withDisplay.hub);
        expect(r.config.store, JSON.stringify(sections)).toEqual(withDisplay.store);
        expect(r.config.log.level).toBe('debug');
        expect(r.config.drivers.find((d) => d.name === 'b')?.options).toMatchObject({ beds: 5 });
      }
    }
    const twin = mergePatch({ hub: { retry: { maxDelayMs: 60000 } }, log: { level: 'debug' } }, { hub: { retry: { maxDelayMs: null } } }) as JsonObject;
    expect(twin).toEqual({ hub: { retry: {} }, log: { level: 'debug' } });
    expect(resolveOverlay(withDisplay, twin, registry).ok).toBe(true);
    // A value under a refused section is still refused.
    const refused = resolveOverlay(withDisplay, { hub: { retry: { maxDelayMs: 60000 } }, store: { x: null } }, registry);
    expect(refused.ok ? [] : refused.problems.map((p) => p.path)).toEqual(['hub']);
    // The same for a saved overlay at start: used, not refused as a whole.
    const dir = mkdtempSync(join(tmpdir(), 'overlay-'));
    try {
      const inModule = validateConfig({ gateway: { id: 'gw' }, store: { path: join(dir, 'agent.db') }, hub: { mode: 'module' }, drivers: [{ name: 'b', type: 'simulator' }] }, registry, 'test');
      saveOverlay(join(dir, 'desired-overlay.json'), { desiredVersion: 4, appliedAt: new Date().toISOString(), overlay: { hub: { retry: {} }, store: { x: null }, log: { level: 'debug' } } });
      const d = decideStartup(inModule, registry);
      expect(d.problem).toBeUndefined();
      expect(d.step).toMatchObject({ kind: 'use' });
      expect(d.config.log.level).toBe('debug');
      expect(d.config.hub).toEqual(inModule.hub);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses display.port and display.enabled from the cloud side, even at the local value: the deployment publishes the port and its health check polls it (review rv91 M5)', () => {
    for (const display of [{ port: 9090 }, { port: 0 }, { enabled: false }, { enabled: true, port: 8080 }]) {
      const r = resolveOverlay(local(), { display }, registry);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.problems.map((p) => p.path).sort()).toEqual(Object.keys(display).map((k) => `display.${k}`).sort());
        for (const p of r.problems) expect(p.message).toMatch(/^the display's port and whether it runs cannot be changed remotely: .*publishes .*health check.*; change the local config file( \(or AGENT_DISPLAY_PORT\))?$/);
      }
    }
  });
});

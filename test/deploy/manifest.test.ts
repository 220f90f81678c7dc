// The IoT Edge deployment: deploy/iotedge/deployment.template.json against the public (vendored) schemas, the
// manifest the tools would generate from it, and every name and path it refers to.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { OUTPUTS } from '../../agent/forward/azure.js';
import { loadConfigFile } from '../../agent/config/load.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { registry } from '../../drivers/registry.js';
import {
  IOTEDGE_DIR,
  MODULE_PLACEHOLDER,
  TEMPLATE_PATH,
  TWIN_VALUE_MAX_SIZE,
  buildPaths,
  desired,
  errorsOf,
  generateManifest,
  mergedCreateOptions,
  obj,
  readJson,
  readModuleJson,
  schemaValidators,
  str,
  userModules,
  type Json,
  type JsonObject,
} from './iotedge.js';

const template = readJson(TEMPLATE_PATH);
const validators = schemaValidators();
const ENV = { CONTAINER_REGISTRY_SERVER: 'example.azurecr.io', CONTAINER_REGISTRY_USERNAME: 'user', CONTAINER_REGISTRY_PASSWORD: 'not-a-secret', GATEWAY_TIME_ZONE: 'Europe/Berlin' };
const PLATFORMS = ['amd64', 'arm64v8'];
const AGENT = 'bedside-agent';
const GATEWAY_CONFIG = join(IOTEDGE_DIR, 'gateway-config.yaml');

interface Route {
  name: string;
  from: string;
  sink: string;
  priority?: number;
  timeToLiveSecs?: number;
}

function routes(doc: JsonObject): Route[] {
  return Object.entries(obj(desired(doc, '$edgeHub').routes, 'routes')).map(([name, spec]) => {
    const r = typeof spec === 'string' ? { route: spec } : obj(spec, name);
    const m = /^FROM\s+(\S+)(?:\s+WHERE\s+.+?)?\s+INTO\s+(.+)$/.exec(str(r.route, `${name}.route`));
    if (!m) throw new Error(`route ${name} is not FROM … INTO …`);
    return {
      name,
      from: m[1]!,
      sink: m[2]!.trim(),
      ...(typeof r.priority === 'number' && { priority: r.priority }),
      ...(typeof r.timeToLiveSecs === 'number' && { timeToLiveSecs: r.timeToLiveSecs }),
    };
  });
}

const agentModule = () => userModules(template)[AGENT]!;
const agentCreateOptions = () => obj(obj(agentModule().settings, 'settings').createOptions, 'createOptions');
const hostConfig = () => obj(agentCreateOptions().HostConfig, 'HostConfig');
const binds = (hc: JsonObject) => (hc.Binds as string[]).map((b) => {
  const [host, container, mode] = b.split(':');
  return { host: host!, container: container!, mode };
});
const envOf = (m: JsonObject) => Object.fromEntries(Object.entries(obj(m.env ?? {}, 'env')).map(([k, v]) => [k, String(obj(v, k).value)]));

describe('deployment.template.json against the IoT Edge schemas (vendored from SchemaStore)', () => {
  it('the template, without $edgeHub, is valid against azure-iot-edge-deployment-template-4.0 ($edgeAgent 1.1)', () => {
    const modulesContent = { ...obj(template.modulesContent, 'modulesContent') };
    delete modulesContent.$edgeHub; // checked against the 1.1 schema below; template-4.0 refers $edgeHub to 1.2
    const ok = validators.template({ ...template, modulesContent });
    expect(errorsOf(validators.template)).toEqual([]);
    expect(ok).toBe(true);
    expect(desired(template, '$edgeAgent').schemaVersion).toBe('1.1');
  });

  it('$edgeHub is valid against azure-iot-edgehub-deployment-1.1', () => {
    const ok = validators.edgeHub11({ $edgeHub: obj(template.modulesContent, 'modulesContent').$edgeHub ?? null });
    expect(errorsOf(validators.edgeHub11)).toEqual([]);
    expect(ok).toBe(true);
    expect(desired(template, '$edgeHub').schemaVersion).toBe('1.1');
  });

  for (const platform of PLATFORMS) {
    it(`the manifest generated for ${platform} is valid against azure-iot-edge-deployment-2.0`, () => {
      const manifest = generateManifest(template, platform, ENV);
      const ok = validators.manifest(manifest);
      expect(errorsOf(validators.manifest)).toEqual([]);
      expect(ok).toBe(true);
      const settings = obj(userModules(manifest)[AGENT]!.settings, 'settings');
      expect(settings.image).toBe(`example.azurecr.io/bedside-agent:${readModuleJson(AGENT).json.image.tag.version}-${platform}`);
      // Every createOptions chunk fits a twin string and the chunks join back into the template's object.
      for (const [k, v] of Object.entries(settings)) if (k.startsWith('createOptions')) expect(String(v).length).toBeLessThanOrEqual(TWIN_VALUE_MAX_SIZE);
      expect(mergedCreateOptions(settings)).toEqual(agentCreateOptions());
    });
  }

  it('the schemas do catch mistakes (a route priority of 10, a createOptions number, a missing restartPolicy)', () => {
    const bad = JSON.parse(JSON.stringify(template)) as JsonObject;
    const hub = desired(bad, '$edgeHub');
    obj(obj(hub.routes, 'routes').bedsideAlarmsToHub, 'r').priority = 10;
    expect(validators.edgeHub11({ $edgeHub: obj(bad.modulesContent, 'mc').$edgeHub ?? null })).toBe(false);
    const m = userModules(bad)[AGENT]!;
    delete m.restartPolicy;
    obj(m.settings, 's').createOptions = 42;
    const mc = { ...obj(bad.modulesContent, 'mc') };
    delete mc.$edgeHub;
    expect(validators.template({ ...bad, modulesContent: mc })).toBe(false);
    expect(errorsOf(validators.template).join('\n')).toMatch(/restartPolicy|createOptions/);
  });
});

describe('routes', () => {
  const all = routes(template);
  const modules = Object.keys(userModules(template));

  it('every route starts at a module that exists and an output that module really has', () => {
    for (const r of all) {
      const m = /^\/messages\/modules\/([^/]+)\/outputs\/([^/]+)$/.exec(r.from);
      expect(m, `${r.name}: ${r.from}`).not.toBeNull();
      expect(modules).toContain(m![1]);
      if (m![1] === AGENT) expect(Object.values(OUTPUTS)).toContain(m![2]);
    }
  });

  it('every output of the agent is routed upstream (an unrouted output would be dropped by the IoT Edge hub)', () => {
    for (const output of Object.values(OUTPUTS)) {
      const r = all.filter((x) => x.from === `/messages/modules/${AGENT}/outputs/${output}`);
      expect(r.map((x) => x.sink), output).toEqual(['$upstream']);
    }
  });

  it('alarms go first: priority 0, ahead of telemetry; both keep messages at least a week when offline', () => {
    const alarms = all.find((r) => r.from.endsWith(`/outputs/${OUTPUTS.alarms}`))!;
    const telemetry = all.find((r) => r.from.endsWith(`/outputs/${OUTPUTS.telemetry}`))!;
    expect(alarms.priority).toBe(0);
    expect(telemetry.priority).toBeGreaterThan(0);
    const global = Number(obj(desired(template, '$edgeHub').storeAndForwardConfiguration, 'sf').timeToLiveSecs);
    const week = 7 * 24 * 3600;
    expect(global).toBeGreaterThanOrEqual(week);
    for (const r of [alarms, telemetry]) expect(r.timeToLiveSecs ?? global).toBeGreaterThanOrEqual(week);
    expect(alarms.timeToLiveSecs ?? global).toBeGreaterThanOrEqual(telemetry.timeToLiveSecs ?? global);
  });
});

describe('the agent module', () => {
  it('uses the tools\' image placeholder and its module.json names existing Dockerfiles and the repository root as context', () => {
    const image = str(obj(agentModule().settings, 's').image, 'image');
    expect(MODULE_PLACEHOLDER.exec(image)?.[1]).toBe(AGENT);
    const { json } = readModuleJson(AGENT);
    expect(Object.keys(json.image.tag.platforms).sort()).toEqual([...PLATFORMS].sort());
    for (const p of PLATFORMS) {
      const { dockerfile, context } = buildPaths(AGENT, p);
      expect(existsSync(dockerfile), dockerfile).toBe(true);
      expect(context).toBe(PACKAGE_ROOT);
      expect(existsSync(`${dockerfile}.dockerignore`), `${dockerfile}.dockerignore`).toBe(true);
    }
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(json.image.tag.version).toBe(pkg.version);
  });

  it('maps serial devices by their stable /dev/serial/by-id names, read-write, with the dialout group', () => {
    const hc = hostConfig();
    const devices = (hc.Devices as Json[]).map((d) => obj(d, 'device'));
    expect(devices.length).toBeGreaterThan(0);
    for (const d of devices) {
      expect(str(d.PathOnHost, 'PathOnHost')).toMatch(/^\/dev\/serial\/by-id\/[^/]+$/);
      expect(str(d.PathInContainer, 'PathInContainer')).toMatch(/^\/dev\/[A-Za-z0-9_-]+$/);
      expect(d.CgroupPermissions).toBe('rw');
    }
    const inContainer = devices.map((d) => d.PathInContainer);
    expect(new Set(inContainer).size).toBe(inContainer.length);
    expect(hc.GroupAdd).toContain('dialout');
  });

  it('binds a host folder for the store and the config read-only, and AGENT_CONFIG points into it', () => {
    const b = binds(hostConfig());
    for (const x of b) {
      expect(isAbsolute(x.host) && isAbsolute(x.container), `${x.host}:${x.container}`).toBe(true);
    }
    const config = readConfigYaml();
    const storeDir = posix.dirname(String(obj(config.store, 'store').path));
    const store = b.find((x) => x.container === storeDir);
    expect(store, `a bind for the store folder ${storeDir}`).toBeDefined();
    expect(store!.mode).toBeUndefined(); // writable
    const agentConfig = envOf(agentModule()).AGENT_CONFIG!;
    const cfg = b.find((x) => x.container === posix.dirname(agentConfig));
    expect(cfg, `a bind for ${agentConfig}`).toBeDefined();
    expect(cfg!.mode).toBe('ro');
  });

  it('the gateway config it ships is valid for the agent, forwards in module mode and serves /healthz on the exposed port', () => {
    const config = loadConfigFile(GATEWAY_CONFIG, registry);
    expect(config.hub.mode).toBe('module');
    expect(config.display.enabled).toBe(true);
    const port = `${config.display.port}/tcp`;
    expect(Object.keys(obj(agentCreateOptions().ExposedPorts, 'ExposedPorts'))).toContain(port);
    const published = obj(hostConfig().PortBindings, 'PortBindings')[port] as Json[];
    expect(published.map((p) => obj(p, 'binding').HostIp)).toEqual(['127.0.0.1']); // loopback unless opened on purpose
    for (const p of PLATFORMS) {
      const dockerfile = readFileSync(buildPaths(AGENT, p).dockerfile, 'utf8');
      expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${config.display.port}$`, 'm'));
    }
    const healthcheck = readFileSync(join(IOTEDGE_DIR, 'modules', AGENT, 'healthcheck.mjs'), 'utf8');
    // Its default port (AGENT_DISPLAY_PORT unset) is the shipped config's (healthcheck.test.ts runs it with the variable set).
    expect(healthcheck).toContain(`process.env.AGENT_DISPLAY_PORT?.trim() || '${config.display.port}'`);
    expect(healthcheck).toContain('`http://127.0.0.1:${port}/healthz`');
  });

  it('runs with no capabilities and no privilege escalation, and is restarted by the IoT Edge agent', () => {
    const hc = hostConfig();
    expect(hc.CapDrop).toEqual(['ALL']);
    expect(hc.SecurityOpt).toContain('no-new-privileges');
    expect(hc.Privileged).toBeUndefined();
    expect(agentModule().restartPolicy).toBe('always');
  });
});

describe('system modules and secrets', () => {
  it('edgeAgent and edgeHub keep their state in host folders (StorageFolder bound), so queued messages survive updates', () => {
    const sys = obj(desired(template, '$edgeAgent').systemModules, 'systemModules');
    for (const name of ['edgeAgent', 'edgeHub']) {
      const m = obj(sys[name], name);
      const folder = envOf(m).StorageFolder;
      expect(folder, name).toBeDefined();
      const b = binds(obj(obj(obj(m.settings, 's').createOptions, 'co').HostConfig, 'hc'));
      expect(b.map((x) => x.container)).toContain(folder);
    }
  });

  it('holds no secrets: registry credentials are placeholders the tools fill from .env', () => {
    const creds = obj(obj(obj(desired(template, '$edgeAgent').runtime, 'runtime').settings, 'settings').registryCredentials, 'rc');
    for (const [name, c] of Object.entries(creds)) {
      for (const field of ['username', 'password', 'address']) expect(str(obj(c, name)[field], field)).toMatch(/^\$\{[A-Z_]+\}$/);
    }
    const text = readFileSync(TEMPLATE_PATH, 'utf8');
    expect(text).not.toMatch(/SharedAccessKey|AccountKey=|-----BEGIN|sig=/i);
    const envExample = readFileSync(join(IOTEDGE_DIR, '.env.example'), 'utf8');
    expect(envExample).toMatch(/^CONTAINER_REGISTRY_PASSWORD=$/m);
  });

  it('the module environment names only variables the agent or its health check reads (and TZ, which Node reads)', () => {
    // AGENT_CONFIG is read by agent/main.ts; a typo here would silently run the embedded default instead.
    const readers = ['agent/main.ts', 'deploy/iotedge/modules/bedside-agent/healthcheck.mjs'].map((f) => readFileSync(join(PACKAGE_ROOT, f), 'utf8')).join('\n');
    const env = envOf(agentModule());
    for (const name of Object.keys(env)) if (name !== 'TZ') expect(readers).toContain(`process.env.${name}`);
    expect(readers).toContain('process.env.HEALTHCHECK_URL'); // documented for a display on TLS or another port
  });

  it('sets the ward\'s time zone (the container runs in UTC) from .env, with an example that Node knows', () => {
    const tz = envOf(agentModule()).TZ;
    expect(JSON.stringify(tz)).toContain('${GATEWAY_TIME_ZONE}');
    const example = /^GATEWAY_TIME_ZONE=(\S+)$/m.exec(readFileSync(join(IOTEDGE_DIR, '.env.example'), 'utf8'))?.[1];
    expect(example).toBeDefined();
    expect(() => new Intl.DateTimeFormat('en', { timeZone: example })).not.toThrow();
  });
});

function readConfigYaml(): JsonObject {
  return parseYaml(readFileSync(GATEWAY_CONFIG, 'utf8')) as JsonObject;
}

// Reads deploy/iotedge/ the way the IoT Edge tools (iotedgedev, the VS Code extension) do, so that the tests
// can check both the template we keep and the manifest the tools would generate from it.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { PACKAGE_ROOT } from '../../agent/paths.js';

export const IOTEDGE_DIR = join(PACKAGE_ROOT, 'deploy', 'iotedge');
export const TEMPLATE_PATH = join(IOTEDGE_DIR, 'deployment.template.json');
/** iotedgedev's MODULES_PATH, relative to the solution folder. */
export const MODULES_DIR = join(IOTEDGE_DIR, 'modules');
const SCHEMA_DIR = join(IOTEDGE_DIR, 'schema');

// The tools' limits: a twin string holds at most 512 characters, createOptions at most 8 such chunks.
export const TWIN_VALUE_MAX_SIZE = 512;
export const TWIN_VALUE_MAX_CHUNKS = 8;

/** Plain JSON value, as JSON.parse gives it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function readJson(path: string): JsonObject {
  return JSON.parse(readFileSync(path, 'utf8')) as JsonObject;
}

export function obj(v: Json | undefined, what: string): JsonObject {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what}: expected an object`);
  return v;
}

export function str(v: Json | undefined, what: string): string {
  if (typeof v !== 'string') throw new Error(`${what}: expected a string`);
  return v;
}

export interface ModuleJson {
  image: { repository: string; tag: { version: string; platforms: Record<string, string> }; contextPath?: string };
}

export function readModuleJson(name: string): { dir: string; json: ModuleJson } {
  const dir = join(MODULES_DIR, name);
  return { dir, json: readJson(join(dir, 'module.json')) as unknown as ModuleJson };
}

/** Desired properties of $edgeAgent / $edgeHub of a template or manifest. */
export function desired(doc: JsonObject, twin: '$edgeAgent' | '$edgeHub'): JsonObject {
  return obj(obj(obj(doc.modulesContent, 'modulesContent')[twin], twin)['properties.desired'], `${twin}.properties.desired`);
}

export function userModules(doc: JsonObject): Record<string, JsonObject> {
  const modules = obj(desired(doc, '$edgeAgent').modules, 'modules');
  return Object.fromEntries(Object.entries(modules).map(([k, v]) => [k, obj(v, `modules.${k}`)]));
}

/** ${MODULES.<name>} or ${MODULES.<name>.<platform>}, the tools' image placeholders. */
export const MODULE_PLACEHOLDER = /^\$\{MODULES\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_.-]+))?\}$/;

/**
 * What `iotedgedev genconfig` makes of the template for one platform: environment variables expanded, image
 * placeholders replaced by `<repository>:<version>-<platform>`, createOptions minified and split into
 * 512-character chunks (createOptions, createOptions01, …), the `$schema-template` marker dropped.
 */
export function generateManifest(template: JsonObject, platform: string, env: Record<string, string>): JsonObject {
  const expanded = JSON.stringify(template).replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string) => env[name] ?? m);
  const doc = JSON.parse(expanded) as JsonObject;
  delete doc['$schema-template'];
  const agent = desired(doc, '$edgeAgent');
  const all = { ...obj(agent.systemModules, 'systemModules'), ...obj(agent.modules, 'modules') };
  for (const [name, m] of Object.entries(all)) {
    const settings = obj(obj(m, name).settings, `${name}.settings`);
    const image = str(settings.image, `${name}.settings.image`);
    const ph = MODULE_PLACEHOLDER.exec(image);
    if (ph) {
      const { json } = readModuleJson(ph[1]!);
      const repo = json.image.repository.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (x, n: string) => env[n] ?? x);
      settings.image = `${repo}:${json.image.tag.version}-${ph[2] ?? platform}`;
    }
    const co = settings.createOptions;
    if (co !== undefined) {
      const text = typeof co === 'string' ? co : JSON.stringify(co);
      const chunks = text.match(new RegExp(`[\\s\\S]{1,${TWIN_VALUE_MAX_SIZE}}`, 'g')) ?? [''];
      if (chunks.length > TWIN_VALUE_MAX_CHUNKS) throw new Error(`${name}: createOptions exceed 4 KB`);
      chunks.forEach((c, i) => {
        settings[i === 0 ? 'createOptions' : `createOptions${String(i).padStart(2, '0')}`] = c;
      });
    }
  }
  return doc;
}

/** createOptions of a generated manifest's module, chunks joined and parsed. */
export function mergedCreateOptions(settings: JsonObject): JsonObject {
  let text = str(settings.createOptions, 'createOptions');
  for (let i = 1; i < TWIN_VALUE_MAX_CHUNKS; i++) {
    const more = settings[`createOptions${String(i).padStart(2, '0')}`];
    if (typeof more !== 'string') break;
    text += more;
  }
  return JSON.parse(text) as JsonObject;
}

/**
 * The vendored SchemaStore schemas are draft-04. Ajv 8 speaks draft-07; the only draft-04 keyword these files
 * use differently is `id` (draft-07: `$id`), so it is renamed on load and the draft-04 `$schema` dropped.
 */
function loadSchema(file: string): JsonObject {
  const s = readJson(join(SCHEMA_DIR, file));
  if (typeof s.id === 'string') {
    s.$id = s.id;
    delete s.id;
  }
  delete s.$schema;
  return s;
}

export interface Validators {
  template: ValidateFunction;
  edgeHub11: ValidateFunction;
  manifest: ValidateFunction;
}

export function schemaValidators(): Validators {
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addSchema(loadSchema('azure-iot-edgeagent-deployment-1.1.json'));
  ajv.addSchema(loadSchema('azure-iot-edgehub-deployment-1.2.json'));
  return {
    template: ajv.compile(loadSchema('azure-iot-edge-deployment-template-4.0.json')),
    edgeHub11: ajv.compile(loadSchema('azure-iot-edgehub-deployment-1.1.json')),
    manifest: ajv.compile(loadSchema('azure-iot-edge-deployment-2.0.json')),
  };
}

export function errorsOf(v: ValidateFunction): string[] {
  return (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** Where a module.json's Dockerfile and build context are, as the tools resolve them (from the module folder). */
export function buildPaths(name: string, platform: string): { dockerfile: string; context: string } {
  const { dir, json } = readModuleJson(name);
  const file = json.image.tag.platforms[platform];
  if (!file) throw new Error(`module ${name} has no Dockerfile for ${platform}`);
  return { dockerfile: resolve(dir, file), context: resolve(dir, json.image.contextPath ?? '.') };
}

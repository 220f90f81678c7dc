// Reads, validates and resolves the agent's configuration. A bad config fails here, at start,
// with every problem named by its path — never later at the bedside.
import { readFileSync, realpathSync } from 'node:fs';
import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import { isAlias, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { configSchema, ENV_NAME_PATTERN } from './schema.js';
import type { DriverFactory } from '../../drivers/types.js';
import { alarmPolicyProblems, type AlarmPolicyConfig } from './alarm-policy.js';
import { GATEWAY_BED } from '../alarms/types.js';
import { bedOverrideKeys } from './bed-overrides.js';

export type Secret = string | { env: string } | { file: string };

export interface DriverEntry {
  name: string;
  type: string;
  enabled: boolean;
  options: Record<string, unknown>;
}

export interface AgentConfig {
  gateway: { id?: string; site?: string };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'; pretty: 'auto' | 'always' | 'never' };
  store: {
    path: string;
    synchronous: 'full' | 'normal';
    commitIntervalMs: number;
    maxBytes: number;
    maxAgeHours: number;
    requireEncryptedVolume: boolean;
    retainSentHours: number;
  };
  hub: {
    mode: 'auto' | 'off' | 'device' | 'module';
    connectionString?: Secret;
    caFile?: string;
    sasTokenTtlS: number;
    maxMessageBytes: number;
    batchDelayMs: number;
    sendTimeoutMs: number;
    retry: { initialDelayMs: number; maxDelayMs: number };
    forwardWaveforms: boolean;
    /** Messages in flight before the first is acknowledged (agent/forward/forwarder.ts). */
    maxInFlight: number;
    /** Message body format: schema 1 `records` (default) or schema 2 `compact` (agent/forward/compact.ts). */
    encoding: 'records' | 'compact';
    /** Telemetry bodies gzipped on the wire (opt-in); alarms never are. */
    compression: 'none' | 'gzip';
  };
  drivers: DriverEntry[];
  privacy: { pseudonymizePatientIds: boolean; pseudonymKey?: Secret };
  /** Module twin and direct methods (agent/control). */
  control: { enabled: boolean; reportIntervalS: number; resyncIntervalS: number; twinTimeoutMs: number; diagnosticsMaxBytes: number };
  /** The edge alarm-validation model (agent/inference/live.ts). */
  model: ModelConfig;
  alarms: AlarmPolicyConfig;
  display: DisplayConfig;
}

export interface ModelConfig {
  enabled: boolean;
  /** The .onnx file; relative paths are relative to the package root. Its card sits beside it. */
  path: string;
  /** Models the agent may load, by SHA-256 of the .onnx file. */
  approved: { sha256: string; label?: string }[];
  policy: { mode: 'annotate' | 'delay'; holdS: number; recheckS: number };
  maxBeds: number;
}

export type Role = 'viewer' | 'clinician' | 'admin';

export interface DisplayConfig {
  enabled: boolean;
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string };
  viewing: 'open' | 'authenticated';
  users: { name: string; role: Role; passwordHash: string }[];
  tokens: { name: string; role: Role; tokenHash: string }[];
  sessionTtlS: number;
  login: { maxFailures: number; maxFailuresPerUser: number; windowS: number; maxSessionsPerUser: number };
  allowedOrigins: string[];
  /** DNS names the display answers to besides IP addresses, localhost, `host` and the machine's name (DNS rebinding). */
  allowedHosts: string[];
  limits: {
    maxConnections: number;
    maxSseClients: number;
    maxSseClientsPerAddress: number;
    maxBodyBytes: number;
    maxHeaderBytes: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    sseMaxBufferedBytes: number;
    heartbeatS: number;
  };
  staleAfterS: number;
  intermittentStaleAfterS: number;
  trend: { intervalS: number; points: number };
  waveformSeconds: number;
  maxBeds: number;
  /** Ward screens expected to be connected (agent/http/screens.ts). */
  screens: { name: string; graceS: number }[];
}

export interface ConfigProblem {
  /** Dotted path to the field, e.g. `drivers[0].options.beds`; empty for the whole file. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(
      `invalid configuration in ${source}:\n` +
        problems.map((p) => `  - ${p.path || '(top level)'}: ${p.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true, verbose: true });
const validateTop = ajv.compile(configSchema);
const driverValidators = new WeakMap<DriverFactory, ReturnType<Ajv['compile']>>();

function toPath(instancePath: string, prefix = ''): string {
  const parts = instancePath.split('/').slice(1);
  let out = prefix;
  for (const raw of parts) {
    const p = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  }
  return out;
}

/** YAML's names for the numbers JSON has none for (`.inf`, `-.inf`, `.nan`). */
const yamlNumber = (n: number) => (Number.isNaN(n) ? '.nan' : n > 0 ? '.inf' : '-.inf');

function describe(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return yamlNumber(value);
  let s: string | undefined;
  try {
    // JSON.stringify writes .inf and .nan as null ("must be number,null (got null)"): marked, then unquoted below.
    s = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `\u0000${yamlNumber(v)}` : v));
  } catch {
    return '(a value that cannot be shown)';
  }
  if (s === undefined) return String(value);
  // A connection string, SAS token or private key in the wrong place (a whole `hub:` given as the connection string)
  // is never echoed: stderr ends up in the module log.
  if (HOLDS_KEY.test(s)) return `${kindOf(value)} that holds a key (not shown)`;
  s = s.replace(/"\\u0000(-?\.(?:inf|nan))"/g, '$1');
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const ENV_NAME = new RegExp(ENV_NAME_PATTERN);

/** Text of an IoT Hub credential: a connection string's key, a SAS token, a PEM private key. */
const HOLDS_KEY = /SharedAccessKey\s*=|SharedAccessSignature|sig=|-----BEGIN/i;

/** What a value is, in words that never include it: for a secret written in the wrong shape. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' ? 'a number' : typeof value === 'boolean' ? 'a boolean' : `a ${typeof value}`;
}

/**
 * Why a value is not a Secret, never quoting it (review rv60 M4: the schema error printed a connection string given
 * as a list, a key given as a number, and stderr ends up in the module log). `sub` extends the field's path.
 */
function secretShapeProblem(value: unknown): { sub: string; message: string } {
  const forms = 'must be a string, { env: NAME } or { file: PATH }';
  if (typeof value === 'string') return { sub: '', message: 'must not be empty' };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { sub: '', message: `${forms} (got ${kindOf(value)})` };
  const fields = Object.keys(value);
  if (fields.length === 1 && (fields[0] === 'env' || fields[0] === 'file')) {
    const key = fields[0];
    const v = (value as Record<string, unknown>)[key];
    if (typeof v !== 'string') return { sub: `.${key}`, message: `must be a string (got ${kindOf(v)})` };
    if (v === '') return { sub: `.${key}`, message: 'must not be empty' };
    if (key === 'env' && !ENV_NAME.test(v)) {
      return { sub: '.env', message: "must be the name of an environment variable (letters, digits and _, not starting with a digit), not the secret: this looks like a value pasted in (not shown); put the value in the variable and write the variable's name here" };
    }
  }
  if (fields.includes('env') && fields.includes('file')) return { sub: '', message: `${forms}, not both env and file` };
  // A field's name is shown only when it reads as one: YAML makes `{ HostName=…;SharedAccessKey=… }` a key.
  const named = fields.length > 0 && fields.every((f) => /^[A-Za-z_][A-Za-z0-9_]{0,19}$/.test(f));
  return { sub: '', message: `${forms} (got ${named ? `an object with ${fields.length > 1 ? 'fields' : 'field'} ${fields.join(', ')}` : fields.length ? 'an object' : 'an empty object'})` };
}

/** Path of the first place where a parsed document refers to itself (a YAML alias inside its own anchor), or null. */
function circularPath(value: unknown, path: string, ancestors: Set<unknown>): string | null {
  if (value === null || typeof value !== 'object') return null;
  if (ancestors.has(value)) return path || '(top level)';
  ancestors.add(value);
  const entries = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v] as const) : Object.entries(value).map(([k, v]) => [path ? `.${k}` : k, v] as const);
  for (const [key, child] of entries) {
    const found = circularPath(child, path + key, ancestors);
    if (found) return found;
  }
  ancestors.delete(value);
  return null;
}

/** Turns ajv's errors into one line per field, naming allowed values where the schema lists them. */
export function formatAjvErrors(errors: ErrorObject[], data: unknown, prefix = ''): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  errors = chooseOneOfBranches(errors);
  // `oneOf` failures produce one error per branch plus a summary; the summary alone reads better.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  for (const e of errors) {
    if (e.keyword !== 'oneOf' && [...oneOfPaths].some((p) => e.instancePath.startsWith(p))) continue;
    let path = toPath(e.instancePath, prefix);
    let message: string;
    const got = describe(valueAt(data, e.instancePath));
    switch (e.keyword) {
      case 'enum':
        message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')} (got ${got})`;
        break;
      case 'additionalProperties': {
        const extra = (e.params as { additionalProperty: string }).additionalProperty;
        const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
        message = `unknown field${allowed.length ? `; allowed here: ${allowed.join(', ')}` : ''}`;
        // YAML makes `hub: {HostName=…;SharedAccessKey=…}` (or the string followed by a colon) a field name: the
        // name is never echoed then either (review rv73 H1).
        if (HOLDS_KEY.test(extra)) {
          message = `a field whose name holds a key (not shown): ${message}${path === 'hub' ? '; a connection string goes in hub.connectionString' : ''}`;
        } else path = path ? `${path}.${extra}` : extra;
        break;
      }
      case 'required': {
        const missing = (e.params as { missingProperty: string }).missingProperty;
        path = path ? `${path}.${missing}` : missing;
        message = 'is required';
        break;
      }
      case 'oneOf':
        if (isSecretSchema(e.schema)) {
          const secret = secretShapeProblem(valueAt(data, e.instancePath));
          path += secret.sub;
          message = secret.message;
        } else {
          // Shapes told apart by a field (a Modbus bus's transport) that is missing or matches none: name it (review rv120 L3).
          const value = valueAt(data, e.instancePath);
          const d = discriminator(e.schema);
          if (d && value !== null && typeof value === 'object' && !Array.isArray(value) && !d.values.includes((value as Record<string, unknown>)[d.field])) {
            const allowed = d.values.map((v) => JSON.stringify(v)).join(', ');
            message = d.field in value ? `must be one of ${allowed} (got ${describe((value as Record<string, unknown>)[d.field])})` : `is required: one of ${allowed}`;
            path = path ? `${path}.${d.field}` : d.field;
          } else message = `must take one of the allowed forms (got ${got})`;
        }
        break;
      default: {
        const value = valueAt(data, e.instancePath);
        const finite = e.keyword === 'type' && typeof value === 'number' && !Number.isFinite(value) ? ': must be a finite number' : '';
        // The usual slip: the connection string given as `hub:` itself.
        let hint = path === 'hub' && typeof value === 'string' ? '; a connection string goes in hub.connectionString' : '';
        // The twin's form of drivers, a map by name, written in the file (review rv120 L3).
        if (path === 'drivers' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
          const first = Object.keys(value)[0];
          const name = first !== undefined && /^[A-Za-z0-9._-]{1,64}$/.test(first) ? first : 'a';
          hint = `; in the file \`drivers\` is a list of entries, each with its name (- name: ${name}), not a map by name (the form the twin's desired properties take)`;
        }
        message = `${e.message ?? 'is invalid'} (got ${got}${finite})${hint}`;
      }
    }
    const key = `${path}|${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      problems.push({ path, message });
    }
  }
  return problems;
}

/** The field every branch of a `oneOf` gives a `const` (a Modbus bus's `transport`), with those values; else undefined. */
function discriminator(branches: unknown): { field: string; values: unknown[] } | undefined {
  if (!Array.isArray(branches) || branches.length < 2) return undefined;
  const props = branches.map((b) => ((b as { properties?: Record<string, unknown> } | null)?.properties ?? {}) as Record<string, { const?: unknown } | undefined>);
  const field = Object.keys(props[0]!).find((k) => props.every((p) => p[k] !== undefined && 'const' in p[k]!));
  return field === undefined ? undefined : { field, values: props.map((p) => p[field]!.const) };
}

/** A Secret's schema: a string, { env } or { file }. */
function isSecretSchema(branches: unknown): boolean {
  return Array.isArray(branches) && branches.some((b) => (b as { type?: string }).type === 'string') && branches.some((b) => 'env' in ((b as { properties?: object }).properties ?? {}));
}

/**
 * A `oneOf` whose branches are object shapes told apart by a field (a Modbus bus: transport tcp or rtu) failed: the
 * shape the value chose is the one branch whose selecting field matched, so its own errors are the useful ones
 * (e.g. a bad point address), not "matches no branch". Other `oneOf` failures are left as they are.
 */
function chooseOneOfBranches(errors: ErrorObject[]): ErrorObject[] {
  let out = errors;
  // A secret's shapes are told apart by its value, which its own message describes (secretShapeProblem).
  for (const o of errors.filter((e) => e.keyword === 'oneOf' && !isSecretSchema(e.schema))) {
    const under = out.filter((e) => e !== o && e.schemaPath.startsWith(`${o.schemaPath}/`));
    const byBranch = new Map<string, ErrorObject[]>();
    for (const e of under) {
      const i = e.schemaPath.slice(o.schemaPath.length + 1).split('/')[0]!;
      byBranch.set(i, [...(byBranch.get(i) ?? []), e]);
    }
    const branches = Array.isArray(o.schema) ? o.schema.length : 0;
    const selected = [...Array(branches).keys()]
      .map(String)
      .filter((i) => !(byBranch.get(i) ?? []).some((e) => (e.keyword === 'const' || e.keyword === 'type') && e.instancePath.startsWith(o.instancePath) && e.instancePath.split('/').length <= o.instancePath.split('/').length + 1));
    if (selected.length !== 1 || !(byBranch.get(selected[0]!) ?? []).length) continue;
    const keep = new Set(byBranch.get(selected[0]!));
    // Re-parent the chosen branch's errors: drop the summary and the other branches' errors.
    out = out.filter((e) => e !== o && (!under.includes(e) || keep.has(e)));
  }
  return out;
}

function valueAt(data: unknown, pointer: string): unknown {
  let cur: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

/**
 * YAML errors whose parser message quotes the file's text (a tag, an alias or anchor name, a directive, an escape):
 * worded here instead, as a literal secret starting with !, *, % or holding a \\ would be quoted (review rv96 L3).
 */
const YAML_SOURCE_QUOTING: Readonly<Record<string, string>> = {
  TAG_RESOLVE_FAILED: 'an unknown tag (a value starting with !): quote the value if the ! is part of it',
  BAD_COLLECTION_TYPE: 'a tag (!…) that does not fit its value: quote the value if the ! is part of it',
  BAD_ALIAS: 'a bad alias or anchor (a value starting with * or &): quote the value if the * or & is part of it',
  BAD_DIRECTIVE: 'an unknown or unsupported directive (a line starting with %)',
  BAD_DQ_ESCAPE: 'an invalid escape (\\) in a double-quoted value: write \\\\ for a backslash, or use single quotes',
};

/** Codes whose parser messages are fixed texts (or name only an indicator, a token type or a reserved character). */
const YAML_FIXED_TEXT = new Set([
  'ALIAS_PROPS', 'BAD_INDENT', 'BAD_PROP_ORDER', 'BAD_SCALAR_START', 'BLOCK_AS_IMPLICIT_KEY', 'BLOCK_IN_FLOW', 'DUPLICATE_KEY',
  'IMPOSSIBLE', 'KEY_OVER_1024_CHARS', 'MISSING_CHAR', 'MULTILINE_IMPLICIT_KEY', 'MULTIPLE_ANCHORS', 'MULTIPLE_TAGS',
  'NON_STRING_KEY', 'RESOURCE_EXHAUSTION', 'TAB_AS_INDENT',
]);

/**
 * A YAML error as the engineer needs it: the message with its line and column, the multi-document case in words
 * rather than the parser's API (review rv91 L2). The parser's code frame is dropped: it quotes the file's lines, the
 * one in error and often the one before, which may hold a literal secret (a pseudonym key, a connection string), and
 * this text goes to stderr, the log and the reloadConfig answer sent to the cloud (review rv94 M1). Messages that
 * quote the offending token are worded by code, or cut at the token (review rv96 L3).
 */
function yamlErrorText(err: unknown): string {
  const e = err as { message: string; code?: string; linePos?: readonly { line: number; col: number }[] };
  const pos = e.linePos?.[0];
  const at = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
  const worded = e.code === undefined ? undefined : YAML_SOURCE_QUOTING[e.code];
  if (worded) return `${worded}${at}`;
  const [head = ''] = String(e.message).split('\n');
  // prettyErrors appends " at line L, column C:" to the parser's own message.
  const message = head.replace(/ at line \d+, column \d+:?\s*$/, '').replace(/:\s*$/, '');
  if (e.code === 'MULTIPLE_DOCS') return `the file holds more than one YAML document (---): one is expected; the second starts${at}`;
  if (e.code !== undefined && YAML_FIXED_TEXT.has(e.code)) return `${message}${at}`;
  // UNEXPECTED_TOKEN (a block scalar header, a lexer error), errors from outside the parser and codes added later:
  // the parser puts any quoted text after ": ".
  const colon = message.indexOf(': ');
  return `${colon < 0 ? message : message.slice(0, colon)}${at}`;
}

/**
 * An alias (`*name`) with no anchor set before it fails only when the document is turned into values, with no line
 * and quoting the name, which may be a literal secret starting with * (review rv96 L3): found here with its line.
 */
function unresolvedAlias(doc: Document.Parsed, lines: LineCounter): ConfigProblem | null {
  const anchors = new Set<string>();
  let found: ConfigProblem | null = null;
  // visit goes in document order, as the parser resolves aliases (the last anchor before the alias).
  visit(doc, {
    Node(_, node) {
      if (isAlias(node)) {
        if (anchors.has(node.source)) return;
        const { line, col } = lines.linePos(node.range?.[0] ?? 0);
        found = { path: '', message: `cannot parse: an alias (a value starting with *) to no anchor set before it: quote the value if the * is part of it at line ${line}, column ${col}` };
        return visit.BREAK;
      }
      if (node.anchor) anchors.add(node.anchor);
    },
  });
  return found;
}

/**
 * `<<` keys: YAML 1.2 (what the agent reads) has no merge keys, so `<<: *common` would be a field named `<<` and
 * be reported as an unknown field with no hint why (review rv91 L2). Named with their field path and line.
 */
function mergeKeyProblems(doc: Document.Parsed, lines: LineCounter): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  visit(doc, {
    Pair(_, pair, ancestors) {
      if (!isScalar(pair.key) || pair.key.value !== '<<') return;
      const chain = [...ancestors, pair];
      let field = '';
      chain.forEach((node, i) => {
        if (isPair(node) && isScalar(node.key)) field += field ? `.${String(node.key.value)}` : String(node.key.value);
        else if (isSeq(node)) field += `[${node.items.indexOf(chain[i + 1] as never)}]`;
      });
      const { line, col } = lines.linePos(pair.key.range?.[0] ?? 0);
      out.push({ path: field, message: `YAML merge keys (<<) are not supported (line ${line}, column ${col}): write the keys out in each entry` });
    },
  });
  return out;
}

export function parseConfigText(text: string, source: string): unknown {
  let data: unknown;
  const lines = new LineCounter();
  let doc: Document.Parsed;
  try {
    // YAML is a superset of JSON, so one parser reads both. Warnings (e.g. an unknown !tag) count as errors: a
    // config that does not mean exactly what it says must not start.
    doc = parseDocument(text, { prettyErrors: true, lineCounter: lines });
    const first = doc.errors[0] ?? doc.warnings[0];
    if (first) throw first;
  } catch (err) {
    throw new ConfigError(source, [{ path: '', message: `cannot parse: ${yamlErrorText(err)}` }]);
  }
  const merges = mergeKeyProblems(doc, lines);
  if (merges.length) throw new ConfigError(source, merges);
  const alias = unresolvedAlias(doc, lines);
  if (alias) throw new ConfigError(source, [alias]);
  try {
    // maxAliasCount bounds alias expansion.
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new ConfigError(source, [{ path: '', message: `cannot parse: ${yamlErrorText(err)}` }]);
  }
  const loop = circularPath(data, '', new Set());
  if (loop) throw new ConfigError(source, [{ path: loop, message: 'refers to itself (a YAML alias inside its own anchor)' }]);
  return data;
}

/**
 * Validates a parsed config against the agent schema and each driver's own option schema.
 * Fills in defaults. Throws ConfigError listing every problem.
 */
export function validateConfig(
  data: unknown,
  registry: ReadonlyMap<string, DriverFactory>,
  source: string,
): AgentConfig {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(source, [{ path: '', message: 'must be a mapping (YAML) or object (JSON)' }]);
  }
  const problems: ConfigProblem[] = [];
  const written = writtenPairFields(data);
  if (!validateTop(data)) problems.push(...formatAjvErrors(validateTop.errors ?? [], data));
  // The alarm policy's own checks (unknown rule ids…) as soon as its section is well formed, so that one run lists
  // them with the rest of the file's problems, not only after those are fixed.
  if (!problems.some((p) => p.path === 'alarms' || p.path.startsWith('alarms.'))) problems.push(...alarmPolicyProblems((data as Partial<AgentConfig>).alarms));
  const privacy = (data as Partial<AgentConfig>).privacy;
  if (privacy?.pseudonymizePatientIds && privacy.pseudonymKey === undefined) {
    problems.push({ path: 'privacy.pseudonymKey', message: 'is required when privacy.pseudonymizePatientIds is true' });
  }
  // Pairs of settings the schema cannot relate: Node refuses a headers timeout above the request timeout at start,
  // and the alarm engine refuses the edge model's audio holds longer than the longest pause.
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const limits = (data as { display?: { limits?: { headersTimeoutMs?: unknown; requestTimeoutMs?: unknown } } }).display?.limits;
  const headersMs = num(limits?.headersTimeoutMs);
  const requestMs = num(limits?.requestTimeoutMs);
  if (headersMs !== undefined && requestMs !== undefined && requestMs > 0 && headersMs > requestMs) {
    problems.push({ path: 'display.limits.headersTimeoutMs', message: `must not exceed display.limits.requestTimeoutMs (${requestMs})` });
  }
  problems.push(...orderedPairProblems(data, written));
  const model = (data as { model?: { enabled?: unknown; policy?: { mode?: unknown; recheckS?: unknown } } }).model;
  const recheckS = num(model?.policy?.recheckS);
  const pauseMaxS = num((data as { alarms?: { audioPause?: { maxS?: unknown } } }).alarms?.audioPause?.maxS);
  if (model?.enabled !== false && model?.policy?.mode !== 'annotate' && recheckS !== undefined && pauseMaxS !== undefined && pauseMaxS < recheckS) {
    problems.push({ path: 'alarms.audioPause.maxS', message: `must be at least model.policy.recheckS (${recheckS}) while the edge model may hold alarms (policy ${String(model?.policy?.mode)})` });
  }
  const display = (data as { display?: { screens?: unknown; enabled?: unknown; viewing?: unknown; users?: unknown; tokens?: unknown } }).display;
  const count = (v: unknown) => (Array.isArray(v) ? v.length : 0);
  if (display?.enabled === true && display.viewing === 'authenticated' && count(display.users) + count(display.tokens) === 0) {
    problems.push({ path: 'display.viewing', message: 'is authenticated but there are no display.users or display.tokens: nobody could see the ward; add users, or set viewing: open' });
  }
  const screens = display?.screens;
  if (Array.isArray(screens) && screens.length > 0 && display?.enabled !== true) {
    problems.push({ path: 'display.screens', message: 'has no effect while display.enabled is not true: turn the display on, or remove the list' });
  }
  if (Array.isArray(screens)) {
    // Two entries with one name would be one screen watched with two graces.
    const seen = new Set<unknown>();
    screens.forEach((s: unknown, i) => {
      const name = (s as { name?: unknown } | null)?.name;
      if (typeof name === 'string' && seen.has(name)) problems.push({ path: `display.screens[${i}].name`, message: `duplicate name "${name}"` });
      seen.add(name);
    });
  }
  const drivers = (data as { drivers?: unknown }).drivers;
  if (Array.isArray(drivers)) {
    const names = new Set<string>();
    drivers.forEach((d: unknown, i) => {
      if (d === null || typeof d !== 'object') return;
      const entry = d as Partial<DriverEntry>;
      if (typeof entry.name === 'string') {
        if (names.has(entry.name)) problems.push({ path: `drivers[${i}].name`, message: `duplicate name "${entry.name}"` });
        names.add(entry.name);
      }
      if (typeof entry.type !== 'string') return;
      const factory = registry.get(entry.type);
      if (!factory) {
        problems.push({
          path: `drivers[${i}].type`,
          message: `unknown driver type "${entry.type}"; available: ${[...registry.keys()].join(', ')}`,
        });
        return;
      }
      let validate = driverValidators.get(factory);
      if (!validate) {
        validate = ajv.compile(factory.configSchema);
        driverValidators.set(factory, validate);
      }
      entry.options ??= {};
      // Not a mapping: the agent's schema has said so; the driver's would say it again (review rv120 L3).
      if (typeof entry.options !== 'object' || Array.isArray(entry.options)) return;
      if (!validate(entry.options)) {
        problems.push(...formatAjvErrors(validate.errors ?? [], entry.options, `drivers[${i}].options`));
      }
    });
  }
  // Only on an otherwise valid file: the drivers' claims are read from options that passed their schemas.
  if (!problems.length) problems.push(...sharedResourceProblems(data as AgentConfig, registry));
  if (problems.length) throw new ConfigError(source, problems);
  return data as AgentConfig;
}

type PairField = 'initialDelayMs' | 'maxDelayMs' | 'maxConnections' | 'maxSseClients';

/** Which fields of the ordered pairs the file itself writes: read before the schema fills in their defaults. */
function writtenPairFields(data: object): Set<PairField> {
  const section = (v: unknown) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {});
  const retry = section(section(section(data).hub).retry);
  const limits = section(section(section(data).display).limits);
  const fields: Array<[PairField, Record<string, unknown>]> = [['initialDelayMs', retry], ['maxDelayMs', retry], ['maxConnections', limits], ['maxSseClients', limits]];
  return new Set(fields.filter(([f, s]) => f in s).map(([f]) => f));
}

/**
 * Pairs the docs ask to keep in order, which the schema cannot relate (review rv60 L4): a hub retry whose first wait
 * is above its longest (every wait is then cut to maxDelayMs: 60000 with 10 retried the hub every 5-10 ms), and a
 * display whose connections are not above its live streams (each open page holds one: 1 with 1000 refused every
 * screen past the first). Named on the field whose description states the rule (as a driver's backoff.maxMs), or on
 * the other when only that one is written, with the other's value.
 */
function orderedPairProblems(data: object, written: ReadonlySet<PairField>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const finite = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const other = (field: PairField, value: number) => `${value}${written.has(field) ? '' : ', the default'}`;
  const retry = (data as { hub?: { retry?: { initialDelayMs?: unknown; maxDelayMs?: unknown } } }).hub?.retry;
  const initialMs = finite(retry?.initialDelayMs);
  const maxMs = finite(retry?.maxDelayMs);
  if (initialMs !== undefined && maxMs !== undefined && initialMs > maxMs) {
    const effect = `maxDelayMs caps every wait, so the hub would be retried every ${maxMs / 2}-${maxMs} ms from the first failure`;
    problems.push(
      written.has('initialDelayMs') && !written.has('maxDelayMs')
        ? { path: 'hub.retry.initialDelayMs', message: `must not exceed hub.retry.maxDelayMs (${other('maxDelayMs', maxMs)}): ${effect}; lower it or raise maxDelayMs` }
        : { path: 'hub.retry.maxDelayMs', message: `must be at least hub.retry.initialDelayMs (${other('initialDelayMs', initialMs)}): ${effect}; raise it or lower initialDelayMs` },
    );
  }
  const limits = (data as { display?: { limits?: { maxConnections?: unknown; maxSseClients?: unknown } } }).display?.limits;
  const connections = finite(limits?.maxConnections);
  const streams = finite(limits?.maxSseClients);
  if (connections !== undefined && streams !== undefined && connections <= streams) {
    const effect = 'every open display page holds one connection for its live stream and needs more to load';
    problems.push(
      written.has('maxSseClients') && !written.has('maxConnections')
        ? { path: 'display.limits.maxSseClients', message: `must be below display.limits.maxConnections (${other('maxConnections', connections)}), well below: ${effect}; lower it or raise maxConnections` }
        : { path: 'display.limits.maxConnections', message: `must be above display.limits.maxSseClients (${other('maxSseClients', streams)}), well above: ${effect}; raise it or lower maxSseClients` },
    );
  }
  return problems;
}

/**
 * Whether two listeners on one port clash: the same address, or a wildcard covering the other. '::' (and an empty
 * host) takes every address, IPv4 too (dual stack); '0.0.0.0' only the IPv4 ones, so '[::1]' beside it is allowed.
 */
function sameListenAddress(a: string, b: string): boolean {
  const v6 = (h: string) => h.includes(':');
  const covers = (w: string, h: string) => w === '::' || w === '' || (w === '0.0.0.0' && !v6(h));
  // 'localhost' is whichever loopback address the resolver gives first: it may clash with either.
  const addresses = (h: string) => (h.toLowerCase() === 'localhost' ? ['127.0.0.1', '::1'] : [listenAddress(h)]);
  return addresses(a).some((x) => addresses(b).some((y) => x === y || covers(x, y) || covers(y, x)));
}

/**
 * An address as the kernel binds it, whatever its spelling (review rv120 L1): IPv6 compressed and lower case
 * (`0:0:0:0:0:0:0:1` is `::1`), an IPv4-mapped one as its IPv4 address (`::ffff:127.0.0.1` binds 127.0.0.1). As
 * agent/control/overlay.ts hostReach reads it; that one gives a reach, not an address, and overlay.ts imports this file.
 */
function listenAddress(host: string): string {
  const h = host.trim().toLowerCase();
  if (isIP(h) !== 6) return h;
  let n: string;
  try {
    n = new URL(`http://[${h}]`).hostname.slice(1, -1);
  } catch {
    return h; // with a zone id (fe80::1%eth0): compared as written
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(n);
  if (!mapped) return n;
  const [hi, lo] = [Number.parseInt(mapped[1]!, 16), Number.parseInt(mapped[2]!, 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** host:port as written in a URL: an IPv6 address in brackets. */
const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** One name for a port however it is written (a /dev/serial/by-id link and the ttyUSB it points to). */
function serialPortName(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path; // not there (yet): compared as written
  }
}

/**
 * What no two enabled drivers may share, each refused naming both fields: a device id (alarms, the store and the hub
 * tell devices apart by id alone, so one device's silence would be hidden by the other's data), a serial port (only
 * one opener gets it), a TCP listening port (the second listener fails at start), also against the display's port.
 * Within one driver its own checks report such clashes, with advice of their own.
 */
export function sharedResourceProblems(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const ids = new Map<string, { field: string; driver: number }>();
  const ports = new Map<string, { field: string; driver: number; path: string }>();
  const listens: Array<{ host: string; port: number; field: string; driver: number }> = [];
  if (config.display.enabled && config.display.port !== 0) listens.push({ host: config.display.host, port: config.display.port, field: 'display.port', driver: -1 });
  const owner = (field: string, driver: number) => (driver < 0 ? field : `drivers[${driver}].${field} (driver "${config.drivers[driver]!.name}")`);
  config.drivers.forEach((entry, i) => {
    if (!entry.enabled) return;
    const claims = registry.get(entry.type)?.claims?.(entry.options);
    if (!claims) return;
    for (const { id, field } of claims.deviceIds ?? []) {
      const first = ids.get(id);
      if (!first) ids.set(id, { field, driver: i });
      else if (first.driver !== i) problems.push({ path: `drivers[${i}].${field}`, message: `device id "${id}" is already used by ${owner(first.field, first.driver)}; give every device its own id` });
    }
    for (const { path, field } of claims.serialPorts ?? []) {
      const name = serialPortName(path);
      const first = ports.get(name);
      if (!first) ports.set(name, { field, driver: i, path });
      else if (first.driver !== i) {
        const same = first.path === path ? '' : ` (both are ${name})`;
        problems.push({ path: `drivers[${i}].${field}`, message: `${path} is already used by ${owner(first.field, first.driver)}${same}; a serial port can be opened by one driver only` });
      }
    }
    for (const l of claims.listens ?? []) {
      const first = listens.find((o) => o.port === l.port && o.driver !== i && sameListenAddress(o.host, l.host));
      if (first) problems.push({ path: `drivers[${i}].${l.field}`, message: `${hostPort(l.host, l.port)} is already listened on by ${owner(first.field, first.driver)} (${hostPort(first.host, first.port)}); use another port` });
      else listens.push({ ...l, driver: i });
    }
  });
  return problems;
}

/**
 * Beds named "*", the id of the gateway's own alarms (review rv121 M4): a patient's data or settings under it would be
 * shown and judged as the gateway's. Warned of (configWarnings) wherever the config names a bed: a driver's bed (from
 * its claims), an expected device's bed, a per-bed limit or NEWS2 key. Not refused: a file that started before must
 * still start (review rv123 M1); ingest takes such a bed as none, and no event carries "*" to match a per-bed key.
 */
export function reservedBedProblems(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>): ConfigProblem[] {
  const message = `"${GATEWAY_BED}" is the bed id reserved for the gateway's own alarms (store, hub, screens): it is used as no bed (a device's data goes to "unassigned", a per-bed setting applies to no bed); use the bed's real name`;
  const fields = new Set<string>();
  config.drivers.forEach((entry, i) => {
    const claims = registry.get(entry.type)?.claims?.(entry.options);
    for (const { bed, field } of [...(claims?.beds ?? []), ...(claims?.monitorBeds ?? []), ...(claims?.deviceBeds ?? [])]) {
      if (bed === GATEWAY_BED) fields.add(`drivers[${i}].${field}`);
    }
  });
  for (const [id, d] of Object.entries(config.alarms.devices)) if (d.bed === GATEWAY_BED) fields.add(`alarms.devices.${id}.bed`);
  for (const key of bedOverrideKeys(config.alarms)) if (key.bed === GATEWAY_BED) fields.add(key.field);
  return [...fields].map((path) => ({ path, message }));
}

/**
 * The origin a browser sends in `Origin` for a display.allowedOrigins entry (lower-case host, no default port), or null
 * when the entry is no origin at all. The display compares these (review rv121 L2); --check warns of entries written
 * otherwise (check.ts).
 */
export function canonicalOrigin(entry: string): string | null {
  try {
    const origin = new URL(entry).origin;
    return origin === 'null' ? null : origin;
  } catch {
    return null;
  }
}

/**
 * Beds whose whole monitor two enabled drivers claim (two simulated wards with one bed name, an IntelliVue entry copied
 * with its bed left as it was): accepted, since a test
 * ward or a twin change may do it on purpose, but warned about, as the display then shows one patient's vitals of
 * the two on that bed (review rv41 §5). One warning per driver, naming its first shared bed.
 */
export function sharedBedWarnings(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  const beds = new Map<string, number>();
  config.drivers.forEach((entry, i) => {
    if (!entry.enabled) return;
    // "*" is no bed (reservedBedProblems warns of it): two entries there share nothing (review rv124 L1).
    const claims = (registry.get(entry.type)?.claims?.(entry.options)?.monitorBeds ?? []).filter(({ bed }) => bed !== GATEWAY_BED);
    const shared = claims.filter(({ bed }) => beds.has(bed) && beds.get(bed) !== i);
    if (shared.length > 0) {
      const other = config.drivers[beds.get(shared[0]!.bed)!]!.name;
      const more = shared.length > 1 ? ` and ${shared.length - 1} more` : '';
      warnings.push({ path: `drivers[${i}].${shared[0]!.field}`, message: `bed "${shared[0]!.bed}"${more} already has its monitor from driver "${other}": the display shows one patient of the two there, and their alarms as one bed's; give each monitor its own bed (a copied entry?), each simulated ward its own bed names` });
    }
    for (const { bed } of claims) if (!beds.has(bed)) beds.set(bed, i);
  });
  return warnings;
}

/**
 * The display's port moved without editing the file (`AGENT_DISPLAY_PORT`: a busy 8080, a container port mapping),
 * applied to a config loaded from the file: at start and at every reload (review rv41 §4), so that a reload of an
 * unchanged file changes nothing. Throws ConfigError (naming the variable) for a bad value or a port a driver listens on.
 * It wins over the twin too: the twin may not set `display.port` (agent/control/overlay.ts, review rv91 M5).
 * Unset, empty or blank: the file's port.
 */
export function applyEnvOverrides(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>, source: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  // Whitespace around it (a trailing newline from a secrets file or an env file) was taken before 5db4b97 (review rv94 L2).
  const displayPort = env.AGENT_DISPLAY_PORT?.trim();
  if (!displayPort) return config;
  // Digits only: Number() reads ' ' as 0 and takes '0x1F91', '1e3' and '-0' (review rv91 L1).
  const port = /^\d{1,5}$/.test(displayPort) ? Number(displayPort) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new ConfigError(source, [{ path: 'display.port', message: `AGENT_DISPLAY_PORT must be a port number 1-65535, digits only (got ${JSON.stringify(displayPort)})` }]);
  }
  if (port === 0) {
    // The file may say 0 (tests); from the deployment's environment it would leave the screens, the published port and
    // the health check on nothing.
    throw new ConfigError(source, [{ path: 'display.port', message: 'AGENT_DISPLAY_PORT=0 (any free port) is refused: the ward screens, the published port and the health check would not know where the display listens; set a port 1-65535, or unset it to use the file\'s' }]);
  }
  config.display.port = port;
  // The file was checked with its own port: the new one must not be a driver's listening port either.
  const clashes = sharedResourceProblems(config, registry).map((p) => ({ ...p, message: `${p.message} (display.port set by AGENT_DISPLAY_PORT=${port})` }));
  if (clashes.length) throw new ConfigError(source, clashes);
  return config;
}

/** What --check says about values the environment sets over the file (review rv91 L1). */
export function envOverrideNotes(config: AgentConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  if (!env.AGENT_DISPLAY_PORT?.trim()) return [];
  return [`display.port is ${config.display.port}, set by the environment variable AGENT_DISPLAY_PORT (it overrides this file, and the twin may not change it)`];
}

export function loadConfigFile(path: string, registry: ReadonlyMap<string, DriverFactory>): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [{ path: '', message: `cannot read file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  return validateConfig(parseConfigText(text, path), registry, path);
}

/**
 * Whether a `{ file }` value may be printed: it reads as a path (a folder, then a name), not as a secret pasted in
 * its place (review rv60 M4). A segment of 20 or more letters and digits of both cases, with no separator, reads as
 * a key (base64 has `/` too).
 */
function printablePath(path: string): boolean {
  const keyLike = (seg: string) => seg.length > 64 || (seg.length >= 20 && !/[._ -]/.test(seg) && /[a-z]/.test(seg) && /[A-Z]/.test(seg) && /\d/.test(seg));
  return path.includes('/') && /^[\w./@~ -]+$/.test(path) && !path.split('/').some(keyLike);
}

/** A secret file as messages name it: its path when it reads as one, never what may be the secret itself. */
const secretFile = (path: string) => (printablePath(path) ? `secret file ${path}` : 'the secret file (its name is not shown: it does not look like a path)');

/** An environment variable's name as they are written (UPPER_CASE, digits, _), short enough not to be a key. */
const PRINTABLE_ENV_NAME = /^[A-Z_][A-Z0-9_]{0,63}$/;

/** Resolves a Secret that must have a value: an unset environment variable is an error naming it. */
export function requireSecret(secret: Secret, field: string, env: NodeJS.ProcessEnv = process.env): string {
  const v = resolveSecret(secret, field, env);
  if (v) return v;
  let why = 'is empty';
  if (typeof secret === 'object' && 'env' in secret) {
    // Printed only when it reads as a variable's name is written (UPPER_CASE): a key pasted in its place may pass the
    // schema's name pattern (hex from `openssl rand -hex`, base64 without + / =) and must not be printed (review rv62 M2).
    const name = PRINTABLE_ENV_NAME.test(secret.env) ? `environment variable ${secret.env}` : 'the environment variable named in the file (its name is not shown: it is not in UPPER_CASE, and may be a secret pasted in its place)';
    why = env[secret.env] === '' ? `${name} is set but empty` : `${name} is not set`;
  } else if (typeof secret === 'object') {
    // Read as blank: it would be judged as the secret itself ("must contain HostName and DeviceId").
    why = `${secretFile(secret.file)} is empty`;
  }
  throw new ConfigError(field, [{ path: field, message: why }]);
}

/** Resolves a Secret to its value. Errors name the field but never print the value. */
export function resolveSecret(secret: Secret, field: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (typeof secret === 'string') return secret;
  if ('env' in secret) return env[secret.env] || undefined;
  try {
    return readFileSync(secret.file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(field, [
      { path: field, message: `cannot read ${secretFile(secret.file)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` },
    ]);
  }
}

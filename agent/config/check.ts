// What `--check` verifies beyond the schema: what the agent would otherwise find only when it starts (and then
// restart over and over under IoT Edge): secrets that cannot be read, TLS files that are not there, and each enabled
// driver's own checks (a Modbus register map, an IntelliVue plan, an HL7 listener's TLS), made by creating the
// driver without starting it. Nothing is opened, listened on or sent.
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pino } from 'pino';
import type { DriverFactory } from '../../drivers/types.js';
import { examplePasswordProblems } from '../http/passwords.js';
import { pseudonymizer } from '../privacy.js';
import { readCaFile } from '../forward/azure.js';
import { readDisplayTls } from '../http/tls-files.js';
import { ConfigError, requireSecret, type AgentConfig, type ConfigProblem, type Secret } from './load.js';

/** Runs a check the agent makes at start; its ConfigError becomes problems (anything else is a bug: thrown). */
function collect<T>(check: () => T, problems: ConfigProblem[]): T | undefined {
  try {
    return check();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
    return undefined;
  }
}

/** A secret's value, or a problem naming the field and why (never the value). */
function secret(s: Secret, field: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): string | undefined {
  return collect(() => requireSecret(s, field, env), problems);
}

export async function checkBeyondSchema(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>, env: NodeJS.ProcessEnv = process.env): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  if (config.display.enabled) problems.push(...(await examplePasswordProblems(config.display.users)));
  if (config.hub.mode !== 'off' && config.hub.connectionString !== undefined) {
    const cs = secret(config.hub.connectionString, 'hub.connectionString', env, problems);
    if (cs !== undefined && !/HostName=[^;]+/.test(cs)) problems.push({ path: 'hub.connectionString', message: 'has no HostName=…' });
  }
  if (config.hub.caFile) {
    const caFile = config.hub.caFile;
    collect(() => readCaFile(caFile), problems);
  }
  if (config.privacy.pseudonymizePatientIds && config.privacy.pseudonymKey !== undefined) {
    const key = secret(config.privacy.pseudonymKey, 'privacy.pseudonymKey', env, problems);
    if (key !== undefined) collect(() => pseudonymizer(key), problems);
  }
  if (config.display.enabled && config.display.tls) {
    const tls = config.display.tls;
    collect(() => readDisplayTls(tls), problems);
  }
  problems.push(...driverProblems(config, registry));
  problems.push(...storeProblems(config));
  return problems;
}

/**
 * The store's folder must be writable by the user the agent runs as (IoT Edge: uid 10001, the bind-mounted folder
 * chown'ed to it): SQLite only says "unable to open database file". A folder that does not exist is not a problem
 * (the agent creates it, and a check run away from the gateway must not fail on it). Run by --check and every start.
 */
export function storeProblems(config: AgentConfig): ConfigProblem[] {
  const path = config.store.path;
  if (path === ':memory:') return [];
  const dir = dirname(resolve(path));
  const uid = typeof process.getuid === 'function' ? ` as uid ${process.getuid()}` : '';
  const fix = 'make it writable by the user the agent runs as (docs/deploy-guide.md: the store folder)';
  for (const [target, what] of [[dir, 'folder'], [resolve(path), 'file']] as const) {
    if (!existsSync(target)) continue;
    try {
      accessSync(target, what === 'folder' ? constants.W_OK | constants.X_OK : constants.R_OK | constants.W_OK);
    } catch (err) {
      return [{ path: 'store.path', message: `cannot write the store ${what} ${target}${uid} (${(err as NodeJS.ErrnoException).code}): ${fix}` }];
    }
  }
  return [];
}

/**
 * Each enabled driver's own checks (a Modbus register map, a Medibus timer pair, an IntelliVue plan), made by creating
 * the driver without starting it: what its create() refuses, one problem per field, under its driver entry. Run by
 * --check and, before anything is opened, by every start.
 */
export function driverProblems(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const quiet = pino({ level: 'silent' });
  config.drivers.forEach((entry, i) => {
    if (!entry.enabled) return;
    const factory = registry.get(entry.type);
    if (!factory) return; // the schema check reported it
    try {
      factory.create(entry.options, { name: entry.name, log: quiet, emit: () => Promise.resolve(), count: () => {} });
    } catch (err) {
      problems.push(...createProblems(err, `drivers[${i}]`));
    }
  });
  return problems;
}

/** A driver's create() error as problems: its `problems` list when it has one, else its message. */
function createProblems(err: unknown, entry: string): ConfigProblem[] {
  // Drivers name the option in their problems ("options.buses[0]…"), as `{ field, message }` or as "field: why".
  const listed = (err as { problems?: unknown } | null)?.problems;
  if (Array.isArray(listed) && listed.length > 0) {
    return listed.map((p: unknown) => {
      if (typeof p === 'object' && p !== null && typeof (p as { field?: unknown }).field === 'string') {
        const { field, message } = p as { field: string; message?: unknown };
        return { path: `${entry}.${field}`, message: String(message) };
      }
      const m = /^([\w.[\]]+):\s*([\s\S]*)$/.exec(String(p));
      if (!m) return { path: entry, message: String(p) };
      return { path: `${entry}.${m[1]!.startsWith('options') ? m[1] : `options.${m[1]}`}`, message: m[2]! };
    });
  }
  const text = (err as Error).message.replace(/^(?:invalid )?[\w-]+ config:\s*/, '');
  const m = /^(options(?:\.|\[)[^:]*):\s*([\s\S]*)$/.exec(text);
  return [m ? { path: `${entry}.${m[1]}`, message: m[2]! } : { path: entry, message: text }];
}

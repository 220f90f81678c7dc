// What `--check` verifies beyond the schema: what the agent would otherwise find only when it starts (and then
// restart over and over under IoT Edge): secrets that cannot be read, TLS files that are not there, and each enabled
// driver's own checks (a Modbus register map, an IntelliVue plan, an HL7 listener's TLS), made by creating the
// driver without starting it. Nothing is opened, listened on or sent.
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
  return problems;
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

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
  const quiet = pino({ level: 'silent' });
  config.drivers.forEach((entry, i) => {
    if (!entry.enabled) return;
    const factory = registry.get(entry.type);
    if (!factory) return; // the schema check reported it
    try {
      factory.create(entry.options, { name: entry.name, log: quiet, emit: () => Promise.resolve(), count: () => {} });
    } catch (err) {
      // Drivers name the option in their messages ("options.buses[0]…: why"); put it under its driver entry.
      const text = (err as Error).message.replace(/^invalid \w+ config:\s*/, '');
      const m = /^(options(?:\.|\[)[^:]*):\s*([\s\S]*)$/.exec(text);
      problems.push(m ? { path: `drivers[${i}].${m[1]}`, message: m[2]! } : { path: `drivers[${i}]`, message: text });
    }
  });
  return problems;
}

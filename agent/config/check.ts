// What `--check` verifies beyond the schema: what the agent would otherwise find only when it starts (and then
// restart over and over under IoT Edge): secrets that cannot be read, TLS files that are not there, and each enabled
// driver's own checks (a Modbus register map, an IntelliVue plan, an HL7 listener's TLS), made by creating the
// driver without starting it. Nothing is opened, listened on or sent.
import { accessSync, constants } from 'node:fs';
import { pino } from 'pino';
import type { DriverFactory } from '../../drivers/types.js';
import { EXAMPLE_PASSWORD, usersWithExamplePassword } from '../http/passwords.js';
import { ConfigError, requireSecret, type AgentConfig, type ConfigProblem, type Secret } from './load.js';

/** A secret's value, or a problem naming the field and why (never the value). */
function secret(s: Secret, field: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): string | undefined {
  try {
    return requireSecret(s, field, env);
  } catch (err) {
    if (err instanceof ConfigError) problems.push(...err.problems);
    else problems.push({ path: field, message: (err as Error).message });
    return undefined;
  }
}

function readable(file: string, field: string, problems: ConfigProblem[]): void {
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    problems.push({ path: field, message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
  }
}

export async function checkBeyondSchema(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>, env: NodeJS.ProcessEnv = process.env): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  if (config.display.enabled) {
    for (const u of await usersWithExamplePassword(config.display.users)) {
      problems.push({ path: `display.users[${u.index}].passwordHash`, message: `is a hash of the examples' published password "${EXAMPLE_PASSWORD}"; make a new one with \`npx tsx agent/http/hash-password.ts\`` });
    }
  }
  if (config.hub.mode !== 'off' && config.hub.connectionString !== undefined) {
    const cs = secret(config.hub.connectionString, 'hub.connectionString', env, problems);
    if (cs !== undefined && !/HostName=[^;]+/.test(cs)) problems.push({ path: 'hub.connectionString', message: 'has no HostName=…' });
  }
  if (config.hub.caFile) readable(config.hub.caFile, 'hub.caFile', problems);
  if (config.privacy.pseudonymizePatientIds && config.privacy.pseudonymKey !== undefined) {
    const key = secret(config.privacy.pseudonymKey, 'privacy.pseudonymKey', env, problems);
    if (key !== undefined && key.length < 32) problems.push({ path: 'privacy.pseudonymKey', message: `must be at least 32 characters (it has ${key.length})` });
  }
  if (config.display.enabled && config.display.tls) {
    readable(config.display.tls.certFile, 'display.tls.certFile', problems);
    readable(config.display.tls.keyFile, 'display.tls.keyFile', problems);
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

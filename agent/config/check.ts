// What `--check` verifies beyond the schema: what the agent would otherwise find only when it starts (and then
// restart over and over under IoT Edge): secrets that cannot be read, TLS files that are not there, and each enabled
// driver's own checks (a Modbus register map, an IntelliVue plan, an HL7 listener's TLS), made by creating the
// driver without starting it. Nothing is opened, listened on or sent.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pino } from 'pino';
import type { DriverFactory } from '../../drivers/types.js';
import { examplePasswordProblems, weakHashMessage, weakPasswordHashes } from '../http/passwords.js';
import { pseudonymizer } from '../privacy.js';
import { AzureIotTransport, readCaFile, SDK_SEND_TIMEOUT_MS } from '../forward/azure.js';
import { hubRoute } from '../forward/choose.js';
import { storeMountPoint, storeVolumeEncryption } from '../store/volume.js';
import { readDisplayTls } from '../http/tls-files.js';
import { ConfigError, requireSecret, sharedBedWarnings, type AgentConfig, type ConfigProblem, type Secret } from './load.js';

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

/**
 * Everything the schema cannot see that would stop the agent: --check runs it, and so does every start before anything
 * opens (`atStart`: the environment is the module's own; review rv41 §2: the start used to find some of these only
 * while building the agent, exit 1 with a stack, after the store was created).
 */
export async function checkBeyondSchema(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>, env: NodeJS.ProcessEnv = process.env, atStart = false): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  if (config.display.enabled) problems.push(...(await examplePasswordProblems(config.display.users)));
  problems.push(...buildProblems(config, registry, env, atStart));
  problems.push(...storeProblems(config, atStart));
  problems.push(...storeMountProblems(config, env));
  problems.push(...timeZoneProblems(env));
  return problems;
}

/**
 * What would stop the agent from being built with this config: secrets that cannot be read, TLS and CA files, the
 * pseudonym key, each enabled driver's own checks. Also run on a twin overlay merged with the local file, before it
 * is applied or saved: a saved overlay must never stop a start (the hub could not undo it then).
 */
export function buildProblems(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>, env: NodeJS.ProcessEnv = process.env, atStart = false): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  // How the hub would be reached, as the start decides it; nothing connects.
  problems.push(...hubRoute(config, env, atStart).problems);
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
 * The store's folder must be writable by the user the agent runs as (IoT Edge: uid 10001, the bind-mounted folder
 * chown'ed to it): SQLite only says "unable to open database file". Run by --check and every start. A folder that
 * does not exist is made by the agent; `atStart`, its nearest existing parent must then be writable (a check run
 * away from the gateway, where the folder exists only inside the module, must not fail on it).
 */
export function storeProblems(config: AgentConfig, atStart = false): ConfigProblem[] {
  const path = config.store.path;
  if (path === ':memory:') return [];
  const dir = dirname(resolve(path));
  const uid = typeof process.getuid === 'function' ? ` as uid ${process.getuid()}` : '';
  const fix = 'make it writable by the user the agent runs as (docs/deploy-guide.md: the store folder)';
  // A folder that does not exist is made by the agent inside its nearest existing ancestor, which must be writable
  // (a config without store.path in the container: ./data under WORKDIR /app, which is root's).
  let ancestor = dir;
  while (!existsSync(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
  if (atStart && ancestor !== dir) {
    try {
      accessSync(ancestor, constants.W_OK | constants.X_OK);
    } catch (err) {
      return [{ path: 'store.path', message: `cannot create the store folder ${dir}: ${ancestor} is not writable${uid} (${(err as NodeJS.ErrnoException).code}): create the folder and ${fix}` }];
    }
  }
  for (const [target, what] of [[dir, 'folder'], [resolve(path), 'file']] as const) {
    if (!existsSync(target)) continue;
    try {
      accessSync(target, what === 'folder' ? constants.W_OK | constants.X_OK : constants.R_OK | constants.W_OK);
    } catch (err) {
      return [{ path: 'store.path', message: `cannot write the store ${what} ${target}${uid} (${(err as NodeJS.ErrnoException).code}): ${fix}` }];
    }
  }
  const file = resolve(path);
  // A file that does not exist yet the agent makes.
  if (existsSync(file) && statSync(file).isDirectory()) {
    return [{ path: 'store.path', message: `${file} is a folder: store.path names the store's file (e.g. ${join(file, 'agent.db')})` }];
  }
  // A file that is not SQLite's is not refused here: a store whose first page was damaged looks the same, and the
  // agent must then start (moving it aside, alarmed) rather than leave the ward without its alarms.
  // Away from the gateway (--check on the host), the store's folder may exist only inside the module, bound from a
  // data partition: the host's own volume says nothing then (review rv43 §3). Judged where the folder exists.
  if (config.store.requireEncryptedVolume && (atStart || existsSync(dirname(file)))) {
    const volume = storeVolumeEncryption(file);
    if (volume.state !== 'encrypted') {
      const where = volume.state === 'unknown' ? `on a volume whose encryption cannot be verified (${volume.why})` : `on ${volume.device}, which is not encrypted`;
      return [{ path: 'store.requireEncryptedVolume', message: `${file} is ${where}; see docs/security.md` }];
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

/** TZ values that mean UTC. */
const UTC_MEANT = /^:?(?:Etc\/)?(?:UTC|UCT|GMT|Zulu|Universal)?(?:[+-]?0)?$/i;

/**
 * The process's time zone (TZ; the IoT Edge manifest sets it from GATEWAY_TIME_ZONE). Clocks without a zone (an
 * IntelliVue monitor, HL7 times without an offset) are read in it. A TZ that Node.js does not know is taken as UTC
 * without a word, which shifts every such reading by the zone's offset while it stays marked valid: refused.
 */
export function timeZoneProblems(
  env: NodeJS.ProcessEnv = process.env,
  // The zone ICU resolved TZ to (undefined, or Etc/Unknown, when it could not); a parameter for tests.
  zone: () => string | undefined = () => Intl.DateTimeFormat().resolvedOptions().timeZone,
): ConfigProblem[] {
  const tz = env.TZ;
  // Unset or empty is UTC (as the manifest's empty GATEWAY_TIME_ZONE gives), and so is a name that means UTC.
  if (tz === undefined || UTC_MEANT.test(tz)) return [];
  // Anything else must resolve to a zone other than UTC: Node.js takes what it cannot read (a typo, a POSIX rule
  // such as CET-1CEST,M3.5.0,M10.5.0/3, :/etc/localtime) as UTC.
  const resolved = zone();
  if (resolved !== undefined && resolved !== 'Etc/Unknown' && !UTC_MEANT.test(resolved)) return [];
  return [
    {
      path: 'TZ (environment)',
      message:
        `${JSON.stringify(tz)} is not an IANA time zone Node.js knows (it would be taken as UTC, shifting the times of devices whose clocks carry no zone): ` +
        'set an IANA name such as Europe/Berlin (GATEWAY_TIME_ZONE in the IoT Edge deployment), or leave TZ unset for UTC',
    },
  ];
}

/**
 * What the agent can run with but people at the bedside would find out the hard way: printed by --check after
 * "valid" and logged at every start (`atStart`: less what the parts say themselves as they start).
 */
export function configWarnings(config: AgentConfig, registry?: ReadonlyMap<string, DriverFactory>, atStart = false): ConfigProblem[] {
  const warnings: ConfigProblem[] = registry ? sharedBedWarnings(config, registry) : [];
  // A display certificate browsers refuse (or soon will): said, not refused, since only the screens suffer from it.
  if (config.display.enabled && config.display.tls) {
    try {
      for (const message of readDisplayTls(config.display.tls).warnings) warnings.push({ path: 'display.tls.certFile', message });
    } catch {
      // unreadable: a problem of buildProblems, not a warning
    }
  }
  // An empty or all-commented file is valid, and would run an agent that watches nothing, looking healthy (review rv41 §6).
  if (!config.drivers.some((d) => d.enabled)) {
    warnings.push({ path: 'drivers', message: 'no enabled driver: nothing is monitored (an empty or all-commented config file?); see config/examples/' });
  }
  if (config.hub.mode !== 'off' && config.hub.sendTimeoutMs > SDK_SEND_TIMEOUT_MS) {
    // Accepted (a file that started before must still start: its bedside alarms depend on it), but said.
    warnings.push({ path: 'hub.sendTimeoutMs', message: `${config.hub.sendTimeoutMs} has no effect beyond ${SDK_SEND_TIMEOUT_MS}: the Azure IoT SDK gives a send up after 30 s of its own; ${SDK_SEND_TIMEOUT_MS} is used` });
  }
  const d = config.display;
  if (!d.enabled) return warnings;
  // Accepted (deployments made with the old default keep working), but --check is where an engineer looks for it
  // (review rv48 L5). At start the display says it as it starts (agent/http/server.ts), also when embedded.
  if (!atStart) d.users.forEach((u, i) => {
    for (const weak of weakPasswordHashes([u])) warnings.push({ path: `display.users[${i}] (${u.name})`, message: weakHashMessage(weak) });
  });
  const acting = [...d.users, ...d.tokens].some((u) => u.role === 'clinician' || u.role === 'admin');
  if (acting) return warnings;
  warnings.push({
    path: 'display.users',
    message:
      'no clinician or admin user (or token): nobody can acknowledge an alarm, pause audio or record NEWS2 observations ' +
      'at the screens, and alarms that latch until acknowledged (data lost, alarms open at a restart) stay for good; ' +
      'add one (npx tsx agent/http/hash-password.ts; docs/deploy-guide.md)',
  });
  return warnings;
}

/**
 * Under IoT Edge the store must be on a mounted volume (the deployment's bind of /srv/bedside-agent/data): in the
 * container's own file system it is lost at the next module update, and IoT Edge drops binds it does not allow with
 * only a warning in its own log (allowed_bind_sources). Outside IoT Edge nothing is said: any folder will do.
 */
export function storeMountProblems(config: AgentConfig, env: NodeJS.ProcessEnv = process.env, mountPoint = storeMountPoint): ConfigProblem[] {
  if (config.store.path === ':memory:' || !AzureIotTransport.edgeEnvironmentPresent(env)) return [];
  const point = mountPoint(resolve(config.store.path));
  if (point !== '/') return [];
  return [
    {
      path: 'store.path',
      message:
        `${resolve(config.store.path)} is not on a mounted volume but in the container's own file system, lost at the next update: ` +
        'bind the host folder in the deployment (HostConfig.Binds; docs/deploy-guide.md §3, allowed_bind_sources) and keep store.path inside it',
    },
  ];
}

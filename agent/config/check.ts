// What `--check` verifies beyond the schema: what the agent would otherwise find only when it starts (and then
// restart over and over under IoT Edge): secrets that cannot be read, TLS files that are not there, and each enabled
// driver's own checks (a Modbus register map, an IntelliVue plan, an HL7 listener's TLS), made by creating the
// driver without starting it. Nothing is opened, listened on or sent (--check resolves a display.host given as a name).
import { lookup } from 'node:dns/promises';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { isLoopbackHost } from '../loopback.js';
import { networkInterfaces } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pino } from 'pino';
import type { DriverFactory } from '../../drivers/types.js';
import { serialPathWarning } from '../../drivers/serial/serialport-link.js';
import { examplePasswordProblems, weakHashMessage, weakPasswordHashes } from '../http/passwords.js';
import { pseudonymizer } from '../privacy.js';
import { AzureIotTransport, connectionStringWarning, readCaFile, SDK_SEND_TIMEOUT_MS } from '../forward/azure.js';
import { hubRoute } from '../forward/choose.js';
import { storeMountPoint, storeVolumeEncryption } from '../store/volume.js';
import { storeReadOnly } from '../store/outbox.js';
import { deniedTo, ownerFix, realStorePath } from '../store/lock.js';
import { readDisplayTls } from '../http/tls-files.js';
import { UNASSIGNED_BED } from '../alarms/types.js';
import { modelFilePath, ModelNotApprovedError, requireApproved } from '../inference/approval.js';
import { canonical, isObject } from '../control/overlay.js';
import { overlayPath, setAsidePath, startingMarkerPath } from '../control/persist.js';
import type { StartupDecision } from '../control/control.js';
import { bedOverrideKeys, unmatchedBedOverrides } from './bed-overrides.js';
import { limitRangeWarnings } from './alarm-policy.js';
import { canonicalOrigin, ConfigError, envOverrideNotes, requireSecret, reservedBedProblems, sharedBedWarnings, type AgentConfig, type ConfigProblem, type Secret } from './load.js';
import { DEFAULT_TECHNICAL_CONFIG } from '../alarms/technical.js';
import { SECRET_FIELDS } from './schema.js';


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
export async function checkBeyondSchema(
  config: AgentConfig,
  registry: ReadonlyMap<string, DriverFactory>,
  env: NodeJS.ProcessEnv = process.env,
  atStart = false,
  // The configuration file, when there is one: a store.path naming it is refused (review rv144 F2).
  configPath?: string,
): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  // Refused by --check only: at start a file that started before must still start (configWarnings says it then).
  if (!atStart) problems.push(...pathExpansionProblems(config));
  if (config.display.enabled) problems.push(...(await examplePasswordProblems(config.display.users)));
  if (config.display.enabled) problems.push(...displayHostProblems(config.display.host));
  problems.push(...buildProblems(config, registry, env, atStart));
  problems.push(...storeProblems(config, atStart, configPath));
  problems.push(...captureFileProblems(config, configPath));
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
 * away from the gateway, where the folder exists only inside the module, must not fail on it). A folder on a filesystem
 * mounted read-only (EROFS: Linux's answer to a disk error) is no configuration problem at start but a failing disk:
 * the agent runs on the store in memory, alarmed (Outbox.open; review rv133 H2). --check still says it, for a folder
 * still to be made too (its nearest existing parent; rv136 L1). A read-only mount of a writable filesystem (a `:ro`
 * bind, a container's read-only root) is a set-up mistake, refused at start too, naming the mount (rv136 M1).
 */
export function storeProblems(config: AgentConfig, atStart = false, configPath?: string): ConfigProblem[] {
  const path = config.store.path;
  if (path === ':memory:') return [];
  // A swapped or pasted path: the start would take the config file for a damaged store, move it aside and write a
  // database in its place, and no later start could read its configuration (review rv144 F2). Certain: refused.
  if (configPath !== undefined && sameFile(path, configPath)) {
    return [{ path: 'store.path', message: `${resolve(path)} is this configuration file: the start would take it for a damaged store, move it aside and write a database in its place; give the store a file of its own (e.g. ${join(dirname(resolve(configPath)), 'data', 'agent.db')})` }];
  }
  const dir = dirname(resolve(path));
  const uid = typeof process.getuid === 'function' ? ` as uid ${process.getuid()}` : '';
  const fix = 'make it writable by the user the agent runs as (docs/deploy-guide.md: the store folder)';
  // A folder that does not exist is made by the agent inside its nearest existing ancestor, which must be writable
  // (a config without store.path in the container: ./data under WORKDIR /app, which is root's).
  let ancestor = dir;
  while (!existsSync(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
  const readOnly = storeReadOnly(resolve(path));
  if (readOnly && 'mount' in readOnly) {
    return [{ path: 'store.path', message: `the store folder ${dir} is on a read-only mount (${readOnly.mount}): mount the store volume read-write` }];
  }
  // Away from the gateway only a read-only filesystem is certain about a parent (the owner there may differ).
  if ((atStart || readOnly) && ancestor !== dir) {
    try {
      accessSync(ancestor, constants.W_OK | constants.X_OK);
    } catch (err) {
      // A read-only filesystem is a failing disk: Outbox.open runs the agent on the store in memory then, alarmed.
      if (!atStart || (err as NodeJS.ErrnoException).code !== 'EROFS') return [{ path: 'store.path', message: `cannot create the store folder ${dir}: ${ancestor} is not writable${uid} (${(err as NodeJS.ErrnoException).code}): create the folder and ${fix}` }];
    }
  }
  for (const [target, what] of [[dir, 'folder'], [resolve(path), 'file']] as const) {
    if (!existsSync(target)) continue;
    try {
      accessSync(target, what === 'folder' ? constants.W_OK | constants.X_OK : constants.R_OK | constants.W_OK);
    } catch (err) {
      if (atStart && (err as NodeJS.ErrnoException).code === 'EROFS') continue;
      return [{ path: 'store.path', message: `cannot write the store ${what} ${target}${uid} (${(err as NodeJS.ErrnoException).code}): ${fix}` }];
    }
  }
  const file = resolve(path);
  // A file that does not exist yet the agent makes.
  if (existsSync(file) && statSync(file).isDirectory()) {
    return [{ path: 'store.path', message: `${file} is a folder: store.path names the store's file (e.g. ${join(file, 'agent.db')})` }];
  }
  const companions = storeCompanionProblems(file);
  if (companions.length) return companions;
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
 * The files beside the store that the agent writes as well as the store's folder and file: the lock (lock.ts), the
 * write-ahead log and its index. A run as root leaves them root's (the lock file always, the -wal and -shm after a
 * kill -9), and handing the folder and agent.db to the agent's user, as above, leaves them so. SQLite then opens the
 * lock read-only (a lock that keeps no second agent out) and fails on a -wal or -shm with a bare "unable to open
 * database file" (review rv182 H1, M1). Each is named with its owner and the chown; never "delete" for the -wal: it
 * may hold committed data. Where they are: beside the store's real file (symlinks resolved), as SQLite and the lock
 * make them. EROFS is the read-only filesystem's, judged above.
 */
function storeCompanionProblems(file: string): ConfigProblem[] {
  let real: string;
  try {
    real = realStorePath(file);
  } catch {
    return []; // no folder yet: nothing beside the store
  }
  const problems: ConfigProblem[] = [];
  for (const suffix of ['.lock', '-wal', '-shm'] as const) {
    const f = real + suffix;
    let code: string;
    try {
      accessSync(f, constants.R_OK | constants.W_OK);
      continue;
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code ?? '';
      if (code === 'ENOENT' || code === 'EROFS') continue;
    }
    const as = `${f} as ${deniedTo(f, code)}`;
    const fix = ownerFix(f);
    const message =
      suffix === '.lock'
        ? `cannot write the store's lock ${as}, so it would keep no other agent out: ${fix}, or delete it while no agent runs`
        : suffix === '-wal'
          ? `cannot write the store's write-ahead log ${as}, so SQLite cannot open the store: ${fix}; do not delete it, it may hold data not yet in ${basename(real)}`
          : `cannot write the store's shared-memory index ${as}, so SQLite cannot open the store: ${fix}`;
    problems.push({ path: 'store.path', message });
  }
  return problems;
}

/** Files SQLite and the store keep beside the store's file (the lock, the disk reserve, the damaged-file marks). */
const STORE_COMPANIONS = ['-wal', '-shm', '-journal', '.lock', '.reserve', '.damaged-reported.json'];

/**
 * A driver's capture appends every byte from the device to the file it names: naming the store (or a file SQLite keeps
 * beside it) would damage the store, naming this configuration file would stop every later start, naming the saved
 * twin overlay would have the next start ignore it (the twin's changes lost in a hub outage), and two drivers sharing
 * one file would mix two devices' bytes, each writer bounding only its own (review rv163 F2). Certain: refused.
 */
export function captureFileProblems(config: AgentConfig, configPath?: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const store = config.store.path === ':memory:' ? null : resolve(config.store.path);
  const overlay = store === null ? null : overlayPath(store);
  const overlayFiles = overlay === null ? [] : [overlay, `${overlay}.tmp`, startingMarkerPath(overlay), setAsidePath(overlay)];
  const taken = new Map<string, number>();
  config.drivers.forEach((entry, i) => {
    const file = (entry.options as { captureFile?: unknown } | undefined)?.captureFile;
    if (!entry.enabled || typeof file !== 'string' || file === '') return;
    const path = `drivers[${i}].options.captureFile`;
    const named = resolve(file);
    const own = store === null ? 'a file of its own' : `a file of its own (e.g. ${join(dirname(store), 'captures', `${entry.name}.jsonl`)})`;
    const first = taken.get(named);
    if (configPath !== undefined && (named === resolve(configPath) || sameFile(file, configPath))) {
      problems.push({ path, message: `${named} is this configuration file: the capture would append the device's bytes to it and no later start could read it; give the capture a file of its own` });
    } else if (store !== null && (named === store || sameFile(file, store) || STORE_COMPANIONS.some((suffix) => named === store + suffix))) {
      problems.push({ path, message: `${named} is the store's file or one SQLite keeps beside it: the capture would append the device's bytes to it and damage the store; give the capture ${own}` });
    } else if (overlayFiles.includes(named)) {
      problems.push({ path, message: `${named} is where the agent keeps the twin's configuration (saved overlay): the capture would append the device's bytes to it and the next start would ignore it; give the capture ${own}` });
    } else if (first !== undefined) {
      problems.push({ path, message: `${named} is already the capture file of drivers[${first}] (driver "${config.drivers[first]!.name}"): two devices' bytes would be mixed in one file; give each capture ${own.replace('a file of its own', 'its own file')}` });
    } else taken.set(named, i);
  });
  return problems;
}

/** Whether two paths name one existing file (through symlinks too). */
function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false; // one is not there: a store still to be made is not the config file
  }
}

/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * --check's word on an existing store.path that is not an SQLite store (review rv144 F2): the start takes such a file
 * for a damaged store, moves it aside and starts an empty one, which is right for a damaged store but loses the place of
 * any other file named by mistake. Not at start (storeProblems says why): there a damaged store must be recovered.
 */
export function storeFileWarnings(config: AgentConfig): ConfigProblem[] {
  if (config.store.path === ':memory:') return [];
  const file = resolve(config.store.path);
  const head = Buffer.alloc(SQLITE_HEADER.length);
  let read: number;
  try {
    const st = statSync(file);
    // An empty file is what SQLite itself makes of a new store.
    if (!st.isFile() || st.size === 0) return [];
    const fd = openSync(file, 'r');
    try {
      read = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return []; // not there, or not readable here: storeProblems says what matters
  }
  if (read === head.length && head.equals(SQLITE_HEADER)) return [];
  return [
    {
      path: 'store.path',
      message:
        `${file} is not an SQLite store (it does not begin as one): the start would take it for a damaged store, move it aside as damaged ` +
        `(${basename(file)}.corrupt-<time>) and start an empty store here; if store.path names another file by mistake, give the store's own file`,
    },
  ];
}

/** What a shell expands and YAML does not: `~` at the start (a home folder), `$` anywhere (a variable). */
const SHELL_EXPANSION = /^~|\$/;

/** Keys of driver options that hold a file or device path (serial ports, captures, replays, TLS files). */
const DRIVER_PATH_KEY = /^(?:path|file|record)$|File$/;

/**
 * Path fields written as for a shell (review rv144 F3): `store.path: ~/bedside/agent.db` made a folder named `~` in
 * the working directory, `$HOME/…` was read with the `$` in it. Refused by --check, warned at start (configWarnings).
 */
export function pathExpansionProblems(config: AgentConfig): ConfigProblem[] {
  const fields: [string, unknown][] = [
    ['store.path', config.store.path],
    ['hub.caFile', config.hub.caFile],
    ['display.tls.certFile', config.display.tls?.certFile],
    ['display.tls.keyFile', config.display.tls?.keyFile],
    ['model.path', config.model.enabled ? config.model.path : undefined],
  ];
  for (const [field, s] of [['hub.connectionString', config.hub.connectionString], ['privacy.pseudonymKey', config.privacy.pseudonymKey]] as const) {
    if (typeof s === 'object' && 'file' in s) fields.push([`${field}.file`, s.file]);
  }
  const walk = (value: unknown, at: string): void => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${at}[${i}]`));
    else if (isObject(value)) for (const [k, v] of Object.entries(value)) (typeof v === 'string' && DRIVER_PATH_KEY.test(k) ? fields.push([`${at}.${k}`, v]) : walk(v, `${at}.${k}`));
  };
  config.drivers.forEach((entry, i) => entry.enabled && walk(entry.options, `drivers[${i}].options`));
  return fields
    .filter((f): f is [string, string] => typeof f[1] === 'string' && SHELL_EXPANSION.test(f[1]))
    .map(([path, value]) => ({ path, message: `${JSON.stringify(value)}: YAML does not expand ~ or $VAR: write the absolute path (the agent would take it literally${value.startsWith('~') ? ': a folder named ~ in the working directory' : ''})` }));
}

/**
 * Enabled drivers whose patients are not real (DriverFactory.simulated) while the agent forwards (review rv144 F1):
 * nothing in a message marks a record as simulated, so the cloud files them as the ward's. Not when the mode is off,
 * nor at start when hub.mode auto found no hub (--check may run away from the gateway, where it would find one).
 */
export function simulatedForwardWarnings(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>, atStart: boolean, env: NodeJS.ProcessEnv): ConfigProblem[] {
  const mode = config.hub.mode;
  if (mode === 'off' || (atStart && hubRoute(config, env, atStart).route.via === 'off')) return [];
  const warnings: ConfigProblem[] = [];
  config.drivers.forEach((entry, i) => {
    if (!entry.enabled || !registry.get(entry.type)?.simulated) return;
    const what = entry.type === 'wfdb-replay' ? 'replays a recording as a live patient' : 'makes up its patients';
    warnings.push({
      path: `drivers[${i}]`,
      message:
        `${entry.type} "${entry.name}" ${what}, and hub.mode is ${mode}${mode === 'auto' ? ' (forwarding whenever a hub is found)' : ''}: ` +
        "their readings, NEWS2 scores and alarms go to the hub as this ward's data, and nothing in the messages marks them as simulated " +
        '(a cloud consumer or the FHIR mapping files them as real observations on these beds); for a ward, remove this entry (or set enabled: false); for a demo, set hub.mode: off',
    });
  });
  return warnings;
}

/** Secret fields (SECRET_FIELDS) written as a literal in the config, with their dotted paths. */
function literalSecrets(value: unknown, at = ''): string[] {
  if (!isObject(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const path = at ? `${at}.${k}` : k;
    if (SECRET_FIELDS.has(k)) return typeof v === 'string' ? [path] : [];
    // Driver options have schemas of their own, with no field of the secret type.
    return k === 'drivers' ? [] : literalSecrets(v, path);
  });
}

/**
 * Secrets written into the config file itself (review rv144 F4): the pseudonym key always (docs/security.md: never in
 * the file; with it the pseudonyms link back to patients), the others (the hub's connection string) when other local
 * users can read the file. Warned, not refused: files that start now must keep starting.
 */
export function literalSecretWarnings(config: AgentConfig, configPath?: string): ConfigProblem[] {
  let mode: number | undefined;
  try {
    if (configPath !== undefined) mode = statSync(configPath).mode & 0o777;
  } catch {
    // not there any more: nothing to say of its mode
  }
  const readable = mode !== undefined && (mode & 0o044) !== 0 ? `${configPath}, which other local users can read (mode ${mode.toString(8)})` : undefined;
  const move = "move it to { file: PATH } (a file only the agent's user can read, mode 0400; uid 10001 under IoT Edge) or { env: NAME }";
  const warnings: ConfigProblem[] = [];
  for (const path of literalSecrets(config)) {
    if (path === 'privacy.pseudonymKey') {
      warnings.push({
        path,
        message: `is written in the configuration file itself${readable ? ` (${readable})` : ''}: whoever reads the file, or a copy sent in for support, can link the pseudonyms back to patients (docs/security.md: never in the file); ${move}`,
      });
    } else if (readable) {
      warnings.push({ path, message: `is written in ${readable}: whoever reads it can act as this gateway; ${move}, or make this file readable by the agent's user only (chmod 600)` });
    }
  }
  return warnings;
}

/** What the display should listen on instead, said with every refusal of display.host. */
const DISPLAY_HOST_FIX = '0.0.0.0 (every interface; inside the IoT Edge module keep it and choose the address in the deployment\'s PortBindings) or 127.0.0.1 (this machine only)';

/** An address as the interfaces list it: an IPv6 address without its zone, compressed, lower case. */
function canonicalAddress(address: string): string {
  const bare = address.replace(/%.*$/, '');
  return isIP(bare) === 6 ? new URL(`http://[${bare}]`).hostname.slice(1, -1) : bare;
}

/** Whether the display could listen on this IP address here: a wildcard, a loopback or an interface's address. */
function isLocalAddress(address: string, interfaces: ReturnType<typeof networkInterfaces>): boolean {
  const a = canonicalAddress(address);
  // Linux answers the whole 127.0.0.0/8 on the loopback interface, which lists 127.0.0.1 only.
  if (a === '0.0.0.0' || a === '::' || (isIP(a) === 4 && a.startsWith('127.'))) return true;
  return Object.values(interfaces).some((list) => list?.some((i) => canonicalAddress(i.address) === a));
}

/**
 * What is wrong with display.host wherever the agent runs: an IPv6 address in brackets (as in a URL), which no listen
 * takes. Checked by --check and every start. Whether it is an address of this machine is not (displayHostWarnings):
 * a link without carrier (a cable out, a switch still off after a power cut) is missing from the interface list, yet
 * the listen works, and a refusal would keep the whole agent from starting (review rv62 H1).
 */
export function displayHostProblems(host: string): ConfigProblem[] {
  const bracketed = /^\[(.*)\]$/.exec(host);
  if (!bracketed) return [];
  return [{ path: 'display.host', message: `${JSON.stringify(host)} is an IPv6 address written as in a URL: give it without the brackets (${JSON.stringify(bracketed[1])})` }];
}

/** How long --check waits for the resolver on display.host: a resolver that does not answer is no finding. */
const HOST_LOOKUP_TIMEOUT_MS = 3000;

/**
 * --check's word on display.host on the machine it runs on (review rv60 M1): a name that does not resolve, or an
 * address no interface here lists. Warnings, not problems: a config validated on a laptop for the ward's gateway is
 * valid, and the gateway's link may be down now. The start does not look (no DNS wait at boot); its listen decides,
 * and a listen that fails for display.host exits 2 naming it (displayListenProblem).
 */
export async function displayHostWarnings(host: string): Promise<ConfigProblem[]> {
  if (displayHostProblems(host).length) return [];
  const at = (message: string): ConfigProblem[] => [{ path: 'display.host', message }];
  const here = () => {
    const list = [...new Set(Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address)))];
    return `this machine's addresses: ${list.slice(0, 8).join(', ')}${list.length > 8 ? ', …' : ''}`;
  };
  let address = host;
  if (isIP(host) === 0) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const found = await Promise.race([lookup(host), new Promise<null>((r) => (timer = setTimeout(() => r(null), HOST_LOOKUP_TIMEOUT_MS)))]);
      if (found === null) return [];
      address = found.address;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTFOUND') return [];
      return at(`${JSON.stringify(host)} does not resolve here (${code}): the display cannot listen unless it does on the gateway; use an address of the gateway or a name that resolves to one (${here()}), or ${DISPLAY_HOST_FIX}`);
    } finally {
      clearTimeout(timer);
    }
  }
  if (isLocalAddress(address, networkInterfaces())) return [];
  const what = address === host ? address : `${JSON.stringify(host)} resolves to ${address}, which`;
  return at(`${what} is not an address of this machine now (${here()}): fine if this file is for another machine, or the link is down (a link without carrier is not listed); else the display cannot listen: use one of them, or ${DISPLAY_HOST_FIX}`);
}

/**
 * The display is the one listener whose failure stops the start (the bedside alarms are shown there): its failure
 * as a problem naming the field at fault, and the way round a busy port; undefined for any other failure. Used by
 * main.ts, which exits 2 for display.host (the config's fault, review rv60 M1); --check warns of it beforehand
 * (displayHostWarnings).
 */
export function displayListenProblem(err: unknown, display: Pick<AgentConfig['display'], 'enabled' | 'host' | 'port'>): ConfigProblem | undefined {
  const e = err as (NodeJS.ErrnoException & { port?: number; hostname?: string }) | undefined;
  if (!display.enabled || !e) return undefined;
  const at = `${display.host}:${display.port}`;
  // The name is resolved before the listen: a name that resolves to nothing (a typo, "[::1]" with its brackets).
  if (e.syscall === 'getaddrinfo' && e.code === 'ENOTFOUND' && e.hostname === display.host) {
    return { path: 'display.host', message: `cannot listen on ${at}: ${JSON.stringify(display.host)} does not resolve (ENOTFOUND); give an address of this machine, or ${DISPLAY_HOST_FIX}` };
  }
  // Node leaves `port` out of the error for port 0.
  if (e.syscall !== 'listen' || (e.port ?? 0) !== display.port) return undefined;
  if (e.code === 'EADDRNOTAVAIL') {
    return { path: 'display.host', message: `cannot listen on ${at} (EADDRNOTAVAIL): ${display.host} is not an address of this machine (is that link up?); give one of its addresses, or ${DISPLAY_HOST_FIX}` };
  }
  return {
    path: 'display.port',
    message: `cannot listen on ${at} (${e.code})` + (e.code === 'EADDRINUSE' ? ': another program uses this port; choose another display.port, or set AGENT_DISPLAY_PORT' : ''),
  };
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

/**
 * What an enabled driver says of its options beyond refusing them (a Modbus value no alarm rule will judge, review
 * rv89 H3/L2), from its factory's optional `warnings(options)` (fields relative to the driver entry, as in claims).
 */
export function driverWarnings(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  config.drivers.forEach((entry, i) => {
    if (!entry.enabled) return;
    for (const w of registry.get(entry.type)?.warnings?.(entry.options) ?? []) warnings.push({ path: `drivers[${i}].${w.field}`, message: w.message });
  });
  return warnings;
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

/**
 * An empty TZ (the manifest's TZ when GATEWAY_TIME_ZONE is left empty) runs the process in UTC, yet ICU names that
 * zone "Etc/Unknown", which the first log line showed where the guide says to look (review rv163 F4). Set to UTC,
 * which is what runs (not deleted: unset would read /etc/localtime, another zone on a host). Node.js re-reads TZ
 * when it is assigned. True when it was empty.
 */
export function emptyTimeZoneAsUtc(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.TZ !== '') return false;
  env.TZ = 'UTC';
  return true;
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
 * HL7 times without an offset (MSH-7 without one either) are read at the driver's defaultUtcOffsetMinutes, 0 unless
 * set, whatever the gateway's zone (IntelliVue reads its monitors' clocks in it): where that zone is not UTC, an
 * hl7-mllp entry with neither option stores and forwards such readings shifted by the zone's offset, counted valid
 * (review rv119 L2). The schema fills in the 0, so a 0 in the file is warned of too (defaultTimeZone: UTC says it).
 * Warned, not refused, and the driver's default is kept: a file that started before must still start.
 */
export function hl7TimeZoneWarnings(
  config: AgentConfig,
  // The process's zone, as the drivers read it (TZ, else the system's); a parameter for tests.
  zone: () => string | undefined = () => Intl.DateTimeFormat().resolvedOptions().timeZone,
): ConfigProblem[] {
  const gateway = zone();
  if (gateway === undefined || gateway === 'Etc/Unknown' || UTC_MEANT.test(gateway)) return [];
  const warnings: ConfigProblem[] = [];
  config.drivers.forEach((entry, i) => {
    if (!entry.enabled || entry.type !== 'hl7-mllp') return;
    if (entry.options.defaultTimeZone !== undefined || (entry.options.defaultUtcOffsetMinutes ?? 0) !== 0) return;
    warnings.push({
      path: `drivers[${i}].options.defaultTimeZone`,
      message:
        `not set, and defaultUtcOffsetMinutes is 0 (its default): HL7 times sent without an offset (when neither MSH-7 nor another time of the same device has one) are read as UTC, while this gateway's zone is ${gateway}: ` +
        `such readings would be stored and forwarded shifted by the zone's offset, still counted valid; set defaultTimeZone to the senders' zone (e.g. ${JSON.stringify(gateway)}), ` +
        'or defaultTimeZone: UTC if they send UTC',
    });
  });
  return warnings;
}

/**
 * The store's folder when other local users can list or read it: the store holds patient ids (review rv119 L3). A
 * folder the agent makes is 0750 and it restricts the store's files itself (Outbox); an existing folder is left to
 * the engineer, so said at each start. Not by --check, which may run away from the gateway.
 */
export function storeFolderWarnings(config: AgentConfig): ConfigProblem[] {
  if (config.store.path === ':memory:') return [];
  const dir = dirname(resolve(config.store.path));
  let mode: number;
  try {
    mode = statSync(dir).mode;
  } catch {
    return []; // not there yet: the agent makes it 0750
  }
  // Pass-through alone (o+x, 0751) lists nothing, but lets others open any file there they may read (files moved aside
  // or written before the agent restricted them): warned too, in words that say which (review rv123 L5).
  if ((mode & 0o007) === 0) return [];
  const shown = (mode & 0o7777).toString(8);
  const own = 'keep the store in a folder of its own (the agent makes a missing one with mode 750)';
  // A sticky folder (/tmp) is shared on purpose: no chmod of it would do.
  const message =
    mode & 0o1000
      ? `the store's folder ${dir} is a folder shared by every local user (mode ${shown}), and the store holds patient ids: ${own}, e.g. store.path: ${join(dir, 'bedside-agent', 'agent.db')}`
      : `the store's folder ${dir} can be ${mode & 0o004 ? 'listed' : 'entered (not listed)'} by every local user (mode ${shown}), and the store holds patient ids: run chmod 750 ${dir} as its owner, or ${own}`;
  return [{ path: 'store.path', message }];
}

/**
 * What the agent can run with but people at the bedside would find out the hard way: printed by --check after
 * "valid" and logged at every start (`atStart`: less what the parts say themselves as they start).
 */
export function configWarnings(
  config: AgentConfig,
  registry?: ReadonlyMap<string, DriverFactory>,
  atStart = false,
  env: NodeJS.ProcessEnv = process.env,
  // The configuration file, when there is one: its mode, for secrets written in it (review rv144 F4).
  configPath?: string,
): ConfigProblem[] {
  const warnings: ConfigProblem[] = registry ? [...reservedBedProblems(config, registry), ...sharedBedWarnings(config, registry), ...unclaimedKeyWarnings(config, registry), ...deviceClaimWarnings(config, registry), ...driverWarnings(config, registry), ...simulatedForwardWarnings(config, registry, atStart, env)] : [];
  // Refused by --check (checkBeyondSchema); said at start and on a live change, since a file that started must start.
  warnings.push(...pathExpansionProblems(config));
  warnings.push(...literalSecretWarnings(config, configPath));
  // Accepted (a file that started before must still start: its bedside alarms depend on it), but said, and alarmed at
  // the gateway while it runs (review rv94 H2).
  for (const w of limitRangeWarnings(config.alarms)) warnings.push({ path: w.path, message: w.message });
  warnings.push(...hl7TimeZoneWarnings(config));
  if (atStart) warnings.push(...storeFolderWarnings(config));
  // At start a damaged store must be recovered (storeProblems): only --check says it (review rv144 F2).
  else warnings.push(...storeFileWarnings(config));
  // At start only a plug-order name (review rv149 H1): what is at the path the driver says as it opens the port.
  if (registry) warnings.push(...serialPathWarnings(config, registry, env, atStart));
  // At start the edge model says it itself as it loads (a technical alarm), with the card checked too.
  if (!atStart) warnings.push(...modelWarnings(config));
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
  // Accepted for the same reason, but said: 0.001 h evicts unsent telemetry after 3.6 s of hub outage (review rv91 L4).
  if (config.store.maxAgeHours < 1) {
    warnings.push({ path: 'store.maxAgeHours', message: `${config.store.maxAgeHours} h: unsent telemetry older than ${Math.round(config.store.maxAgeHours * 3600)} s is evicted during a hub outage; keep it longer than the longest outage the ward must ride out (default 168)` });
  }
  if (config.hub.mode !== 'off' && config.hub.sendTimeoutMs > SDK_SEND_TIMEOUT_MS) {
    // Accepted (a file that started before must still start: its bedside alarms depend on it), but said.
    warnings.push({ path: 'hub.sendTimeoutMs', message: `${config.hub.sendTimeoutMs} has no effect beyond ${SDK_SEND_TIMEOUT_MS}: the Azure IoT SDK gives a send up after 30 s of its own; ${SDK_SEND_TIMEOUT_MS} is used` });
  }
  // A ready-made SharedAccessSignature cannot be renewed: said in time, before forwarding stops (review rv87 L2).
  const { route } = hubRoute(config, env, atStart);
  if (route.via === 'connection-string') {
    const message = connectionStringWarning(route.connectionString);
    const field = config.hub.connectionString !== undefined ? 'hub.connectionString' : 'IOTHUB_DEVICE_CONNECTION_STRING (environment)';
    if (message) warnings.push({ path: field, message });
  }
  warnings.push(...moduleDisplayWarnings(config, env));
  const d = config.display;
  if (!d.enabled) {
    // The display's POST /api/alarms/:id/ack is the only acknowledge path (no direct method has one); a latched alarm
    // ends only when acknowledged (review rv91 M4). With no driver the "no enabled driver" warning says enough.
    if (config.drivers.some((e) => e.enabled)) {
      warnings.push({
        path: 'display.enabled',
        message:
          'false: nobody can acknowledge an alarm on this gateway (the display is the only way; no direct method does), ' +
          'so alarms that latch until acknowledged stay latched for good, on the gateway and in the stream to the cloud: ' +
          'high-priority physiological ones (the limit rule spo2-desat, the rhythm check, a monitor\'s high alarm unless ' +
          'the monitor reports its own acknowledgement) and the gateway\'s latching technical ones (data lost, alarms open ' +
          'at a restart). Switch the display on with a clinician user (docs/deploy-guide.md) if alarms should be answered here',
      });
    }
    return warnings;
  }
  // Compared as the origin browsers send (lower-case host, no default port): an entry written otherwise matched no
  // request, and every action from the proxied page got 403 without a word (review rv121 L2).
  d.allowedOrigins.forEach((entry, i) => {
    const origin = canonicalOrigin(entry);
    if (origin === entry) return;
    warnings.push({
      path: `display.allowedOrigins[${i}]`,
      message: origin === null
        ? `${JSON.stringify(entry)} is not an origin a browser can send (scheme://host[:port]): it allows nothing; write the page's address as the browser shows it, e.g. https://ward3.example.org`
        : `${JSON.stringify(entry)} is compared as ${JSON.stringify(origin)}, the form browsers send in Origin (host in lower case, no default port); write ${JSON.stringify(origin)}`,
    });
  });
  // Accepted (deployments made with the old default keep working), but --check is where an engineer looks for it
  // (review rv48 L5). At start the display says it as it starts (agent/http/server.ts), also when embedded.
  if (!atStart) d.users.forEach((u, i) => {
    for (const weak of weakPasswordHashes([u])) warnings.push({ path: `display.users[${i}] (${u.name})`, message: weakHashMessage(weak) });
  });
  // At start the display says these as it starts listening (agent/http/server.ts); --check said nothing of them, so
  // the shipped module config met them first in its start log (review rv163 F3).
  if (!atStart) warnings.push(...displayExposureWarnings(d, env));
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
 * The display as run inside the IoT Edge module, or null: on a loopback host Docker's PortBindings (which forward to
 * the container's own address) reach nothing, so no screen shows and nobody can acknowledge, while the container's
 * health check (which calls 127.0.0.1 inside) passes (review rv103 M1). Also the text of the gateway alarm raised
 * while the agent runs so (agent.ts).
 */
export function moduleLoopbackDisplay(config: AgentConfig, env: NodeJS.ProcessEnv = process.env): string | null {
  if (!config.display.enabled || !isLoopbackHost(config.display.host) || !AzureIotTransport.edgeEnvironmentPresent(env)) return null;
  return `inside the module ${config.display.host} is the container's own loopback: the published port reaches nothing`;
}

/**
 * Under IoT Edge: the display unreachable from outside the container (above), and the container's health check
 * (deploy/iotedge/modules/bedside-agent/healthcheck.mjs: http://127.0.0.1:<AGENT_DISPLAY_PORT or 8080>/healthz
 * unless HEALTHCHECK_URL is set) calling where the display does not answer, which leaves the module unhealthy
 * (review rv103 L1). Warned, not refused: a file that started before must still start (its alarms depend on it).
 */
export function moduleDisplayWarnings(config: AgentConfig, env: NodeJS.ProcessEnv = process.env): ConfigProblem[] {
  if (!AzureIotTransport.edgeEnvironmentPresent(env)) return [];
  const warnings: ConfigProblem[] = [];
  const d = config.display;
  const loopback = moduleLoopbackDisplay(config, env);
  if (loopback) {
    warnings.push({
      path: 'display.host',
      message:
        `${d.host}: ${loopback} (neither the gateway nor the ward): no screen shows the alarms and nobody can acknowledge one, while the ` +
        "container's health check still passes; set display.host: 0.0.0.0 (docs/deploy-guide.md): the deployment's PortBindings choose the address",
    });
  }
  const health = (message: string) => warnings.push({ path: 'HEALTHCHECK_URL (environment)', message });
  // Set, it replaces the whole address the check calls: compared with the display as it runs, since healthcheck.mjs
  // and the deploy guide promise --check says when it misses (review rv163 F1: TLS switched off, or the port moved,
  // after the guide's https value was set left the module unhealthy for good without a word).
  if (env.HEALTHCHECK_URL && d.enabled) {
    const misses = healthUrlMisses(env.HEALTHCHECK_URL, d);
    if (misses) {
      health(
        `${misses}: the module's health check calls where the display does not answer and the container is reported unhealthy for good; ` +
          `set HEALTHCHECK_URL to ${healthUrlFor(d)} in the module's env (or remove it when the display is plain HTTP on AGENT_DISPLAY_PORT, else 8080)`,
      );
    }
    return warnings;
  }
  const rawPort = env.AGENT_DISPLAY_PORT?.trim() || '8080';
  // As the check's URL and the agent read it: `08080` is port 8080, not another port (review rv106 L2).
  const calledPort = /^\d+$/.test(rawPort) ? String(Number(rawPort)) : rawPort;
  const called = `http://127.0.0.1:${calledPort}/healthz`;
  if (!d.enabled) {
    health(
      "display.enabled is false: the module's health check (GET /healthz on the display) finds nothing and the container stays unhealthy for good; " +
        'set display.enabled: true with host: 0.0.0.0 (also needed to acknowledge alarms), or turn the health check off in the deployment (createOptions Healthcheck: {"Test": ["NONE"]})',
    );
  } else if (d.tls) {
    health(`display.tls is on: the module's health check calls ${called} (plain HTTP) and the container is reported unhealthy; set HEALTHCHECK_URL to https://127.0.0.1:${d.port}/healthz in the module's env`);
  } else if (String(d.port) !== calledPort) {
    health(
      `display.port is ${d.port}: the module's health check calls ${called} and the container is reported unhealthy; ` +
        `set AGENT_DISPLAY_PORT=${d.port} in the module's env (it moves the display and the check together), or HEALTHCHECK_URL to http://127.0.0.1:${d.port}/healthz`,
    );
  }
  return warnings;
}

/**
 * A display listening beyond loopback without TLS, or with open viewing: what it shows and takes travels to whoever
 * reaches the port. Where that is, the agent cannot see; in the module it is the deployment's choice.
 */
function displayExposureWarnings(d: AgentConfig['display'], env: NodeJS.ProcessEnv): ConfigProblem[] {
  if (isLoopbackHost(d.host)) return [];
  const where = AzureIotTransport.edgeEnvironmentPresent(env)
    ? "inside the IoT Edge module 0.0.0.0 is needed; who reaches it is decided by the deployment's PortBindings, as shipped the gateway's 127.0.0.1 only, and by the containers on the module's network"
    : 'wherever this port is reachable: in a container, where the deployment publishes it (PortBindings)';
  const warnings: ConfigProblem[] = [];
  // 0 is for tests on loopback; beyond it no screen could be pointed at a port that changes at each start (rv192 L1).
  if (d.port === 0) {
    warnings.push({ path: 'display.port', message: `0 while display.host ${d.host} listens beyond loopback: the system picks another free port at each start, which no ward screen or published port can be set to; set the port the screens use (default 8080)` });
  }
  if (!d.tls) {
    warnings.push({ path: 'display.tls', message: `not set while display.host ${d.host} listens beyond loopback: logins and tokens travel in clear on any network that reaches it (${where}); configure display.tls` });
  }
  if (d.viewing === 'open') {
    warnings.push({ path: 'display.viewing', message: `open while display.host ${d.host} listens beyond loopback: anyone on a network that reaches it sees the ward (${where}); set viewing: authenticated with display.users or tokens` });
  }
  return warnings;
}

/** Addresses a display.host listens on every interface with, loopback included. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0']);
/** The names deploy/iotedge/modules/bedside-agent/healthcheck.mjs calls without verifying the certificate. */
const HEALTHCHECK_UNVERIFIED = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * Whether a connection to loopback address `host` reaches a server listening on `displayHost` (Linux): 0.0.0.0 takes
 * IPv4 only (not ::1, review rv168 F6), :: both; a server on one loopback address takes that one only.
 */
function loopbackReaches(host: string, displayHost: string): boolean {
  // localhost is taken as 127.0.0.1, as the container's /etc/hosts gives it first (review rv169 F6).
  const h = host === 'localhost' ? '127.0.0.1' : host;
  const d = displayHost === 'localhost' ? '127.0.0.1' : displayHost;
  const v6 = isIP(h) === 6;
  if (d === '::' || d === '0:0:0:0:0:0:0:0') return true;
  if (d === '0.0.0.0') return !v6;
  return isLoopbackHost(d) && (isIP(d) === 6) === v6 && (v6 || h === d);
}

/** The URL the module's health check should call for this display: its scheme, its port, loopback unless bound to one address. */
function healthUrlFor(d: AgentConfig['display']): string {
  const host = d.host.trim();
  const at = WILDCARD_HOSTS.has(host) || isLoopbackHost(host) ? '127.0.0.1' : isIP(host) === 6 ? `[${host}]` : host;
  return `${d.tls ? 'https' : 'http'}://${at}:${d.port}/healthz`;
}

/**
 * What in a HEALTHCHECK_URL misses the display, or null when it reaches it: read as healthcheck.mjs reads it (new URL;
 * the default port of the scheme when none is written). Host judged cheaply: loopback reaches a display on every
 * interface or on loopback; otherwise only display.host itself does.
 */
function healthUrlMisses(raw: string, d: AgentConfig['display']): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${JSON.stringify(raw)} is not a URL the health check can call (http:// or https://, host, port, /healthz)`;
  url.username = url.password = ''; // not echoed into a log
  const misses: string[] = [];
  const scheme = url.protocol.slice(0, -1);
  if ((scheme === 'https') !== Boolean(d.tls)) misses.push(`${scheme} while display.tls is ${d.tls ? 'on' : 'off'}`);
  const port = url.port || (scheme === 'https' ? '443' : '80');
  if (port !== String(d.port)) misses.push(`port ${port} while display.port is ${d.port}`);
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const displayHost = d.host.trim().toLowerCase();
  if (host !== displayHost && isLoopbackHost(host) && !loopbackReaches(host, displayHost)) {
    misses.push(`host ${url.hostname} does not reach a display listening on ${d.host} (use 127.0.0.1)`);
  } else if (host !== displayHost && !isLoopbackHost(host)) {
    misses.push(`host ${url.hostname} is not the container's loopback (127.0.0.1) nor display.host (${d.host})`);
  }
  // healthcheck.mjs verifies the display's certificate (which names the gateway) except for these names.
  if (scheme === 'https' && !HEALTHCHECK_UNVERIFIED.has(host)) misses.push(`https to ${url.hostname}: the check verifies the certificate for any name but 127.0.0.1, localhost and ::1`);
  if (url.pathname !== '/healthz') misses.push(`path ${url.pathname} is not /healthz`);
  return misses.length ? `${url.href} (${misses.join('; ')})` : null;
}

/**
 * Serial ports (the drivers' claims) whose path does not exist or is not a character device now: a typo against the
 * deployment manifest's PathInContainer would otherwise show only at start (review rv90 L2). Warned, not refused: the
 * adapter may just be unplugged while --check runs. A plug-order name (/dev/ttyUSB0) is warned of too, also at start
 * (`nameOnly`), since it can bring another bed's device to this one after a reboot (review rv149 H1).
 */
export function serialPathWarnings(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>, env: NodeJS.ProcessEnv = process.env, nameOnly = false): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  config.drivers.forEach((entry, i) => {
    if (!entry.enabled) return;
    for (const { path, field } of registry.get(entry.type)?.claims?.(entry.options)?.serialPorts ?? []) {
      const message = serialPathWarning(path, env, nameOnly);
      if (message) warnings.push({ path: `drivers[${i}].${field}`, message });
    }
  });
  return warnings;
}

/** Levenshtein distance, for the nearest name to a key that names nothing. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length]!;
}

/** The configured name that differs from `key` only in case, separators or leading zeros ("ICU-07" for "ICU-7"), if any. */
function lookalike(key: string, names: ReadonlySet<string>): string | undefined {
  return unmatchedBedOverrides([{ field: '', bed: key }], names)[0]?.similar;
}

/**
 * The configured name nearest to `key`: one that looks like it (case, separators, leading zeros apart: "ICU-7" for
 * "ICU-07"), else the one closest in spelling (a digit dropped or doubled in a serial number), if a single one is.
 */
function nearestName(key: string, names: ReadonlySet<string>): string | undefined {
  const similar = lookalike(key, names);
  if (similar !== undefined) return similar;
  const within = Math.max(1, Math.floor(key.length / 5));
  let best: string | undefined;
  let bestDistance = within + 1;
  let tie = false;
  for (const name of names) {
    const d = editDistance(key.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) [best, bestDistance, tie] = [name, d, false];
    else if (d === bestDistance) tie = true;
  }
  return tie ? undefined : best;
}

/** Up to 8 names, for a message. */
function someNames(names: ReadonlySet<string>): string {
  const list = [...names].map((n) => JSON.stringify(n));
  return list.length > 8 ? `${list.slice(0, 8).join(', ')}, …` : list.join(', ');
}

/**
 * Per-bed alarm settings (alarms.limits.beds, alarms.news2.beds) and expected devices (alarms.devices) keyed to a bed
 * or a device id that no enabled driver names: a setting that silently applies to nobody (a tighter limit ordered for
 * a patient, missed), an expected device that alarms "no data" while the real one is not watched from the start
 * (review rv60 M2). Judged from the drivers' claims; when a driver learns its beds or ids from its data (HL7), only a
 * look-alike of a configured driver's own id or bed is said (rv170 M2); nothing with no driver at all (said on its own).
 */
export function unclaimedKeyWarnings(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>): ConfigProblem[] {
  const enabled = config.drivers.filter((d) => d.enabled);
  if (enabled.length === 0) return [];
  const beds = new Set<string>();
  const ids = new Set<string>();
  // The drivers that learn their beds or device ids from their data (an HL7 listener) rather than name them.
  const learnsBeds: string[] = [];
  const learnsIds: string[] = [];
  for (const entry of enabled) {
    const claims = registry.get(entry.type)?.claims?.(entry.options);
    if (claims?.beds) for (const { bed } of claims.beds) beds.add(bed);
    else learnsBeds.push(entry.name);
    if (claims?.deviceIds) for (const { id } of claims.deviceIds) ids.add(id);
    else learnsIds.push(entry.name);
  }
  const warnings: ConfigProblem[] = [];
  const devices = config.alarms.devices;
  // With a driver that learns its ids or beds, a key no driver names may be one it will send; but a key that differs
  // from a configured driver's own id or bed only in case, separators or leading zeros is most likely that one
  // mistyped (review rv170 M2: one listener switched every such check off). Not by edit distance: ward numbering puts
  // the listener's beds a digit from the others' (ICU-04 beside a ventilator on ICU-05; rv171 M2).
  const unlessLearnt = (learners: string[], what: string) =>
    `unless ${learners.length === 1 ? JSON.stringify(learners[0]) : `one of ${learners.map((n) => JSON.stringify(n)).join(', ')}`} sends it (${what} learnt from data)`;
  for (const id of Object.keys(devices)) {
    if (ids.has(id)) continue;
    if (learnsIds.length > 0) {
      const near = lookalike(id, ids);
      if (near !== undefined) {
        warnings.push({
          path: `alarms.devices.${id}`,
          message: `no driver names a device ${JSON.stringify(id)}; a configured driver's id ${JSON.stringify(near)} differs only in case, separators or leading zeros, ${unlessLearnt(learnsIds, 'ids')}`,
        });
      }
      continue;
    }
    const near = nearestName(id, ids);
    warnings.push({
      path: `alarms.devices.${id}`,
      message:
        `no enabled driver has a device with id ${JSON.stringify(id)}: it is expected from the start and alarms "no data" after its silentAfterS, ` +
        `while the driver's own device is watched only from its first event; ` +
        (near !== undefined ? `the nearest configured id is ${JSON.stringify(near)}` : `the configured ids are ${someNames(ids)}`),
    });
  }
  // A device given a bed here (one whose events carry none) brings that bed, unless it is no configured device.
  for (const [id, d] of Object.entries(devices)) if (d.bed !== undefined && (learnsIds.length > 0 || ids.has(id))) beds.add(d.bed);
  if (learnsBeds.length > 0) {
    for (const key of bedOverrideKeys(config.alarms)) {
      const near = beds.has(key.bed) || key.bed === UNASSIGNED_BED ? undefined : lookalike(key.bed, beds);
      if (near === undefined) continue;
      warnings.push({
        path: key.field,
        message:
          `no driver names a bed ${JSON.stringify(key.bed)} (bed names must match exactly); a configured driver's bed ${JSON.stringify(near)} differs only in case, separators or leading zeros, ` +
          unlessLearnt(learnsBeds, 'beds'),
      });
    }
    return warnings;
  }
  for (const key of bedOverrideKeys(config.alarms)) {
    // Data without a bed is judged under this name.
    if (beds.has(key.bed) || key.bed === UNASSIGNED_BED) continue;
    const near = nearestName(key.bed, beds);
    warnings.push({
      path: key.field,
      message:
        `no enabled driver names a bed ${JSON.stringify(key.bed)}, so this setting applies to no patient (bed names must match exactly); ` +
        (near !== undefined ? `the nearest configured bed is ${JSON.stringify(near)}` : beds.size ? `the configured beds are ${someNames(beds)}` : 'no driver names a bed (options.bed)'),
    });
  }
  return warnings;
}

/**
 * A driver's devices against alarms.devices (review rv120): a device polled no more often than its "no data" time
 * (silentAfterS) raises "no data" between polls, and its limit alarms end and come back as new ones, unacknowledged
 * (M2); a bed given in alarms.devices for a device whose driver names another is used only before its first event, so
 * a start with the device unplugged raises its "no data" on the wrong bed (M6). Warned, not refused: a file that
 * started before must still start.
 */
export function deviceClaimWarnings(config: AgentConfig, registry: ReadonlyMap<string, DriverFactory>): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  const devices = config.alarms.devices;
  config.drivers.forEach((entry, i) => {
    if (!entry.enabled) return;
    const claims = registry.get(entry.type)?.claims?.(entry.options);
    for (const { id, ms, field } of claims?.pollPeriods ?? []) {
      const set = devices[id]?.silentAfterS;
      const silentS = set ?? config.alarms.silentAfterS ?? DEFAULT_TECHNICAL_CONFIG.silentAfterS;
      if (ms < silentS * 1000) continue;
      const s = Math.round(ms / 1000);
      warnings.push({
        path: `drivers[${i}].${field}`,
        message:
          `device ${JSON.stringify(id)} is polled every ${s} s, not more often than its "no data" time of ${silentS} s (alarms.devices.${id}.silentAfterS${set === undefined ? ', from alarms.silentAfterS' : ''}): ` +
          `unless it sends something else in between, "no data" is raised between polls and its limit alarms end and come back as new ones (unacknowledged); ` +
          `poll it more often, or set alarms.devices.${id}.silentAfterS above ${s}`,
      });
    }
    for (const { id, bed, field } of claims?.deviceBeds ?? []) {
      const configured = devices[id]?.bed;
      if (configured === undefined || configured === bed) continue;
      warnings.push({
        path: `alarms.devices.${id}.bed`,
        message:
          `${JSON.stringify(configured)} is not the bed ${JSON.stringify(bed)} that drivers[${i}].${field} (driver "${entry.name}") names for device ${JSON.stringify(id)}: ` +
          `its events go to ${JSON.stringify(bed)}, but until its first one (a start with the device unplugged) its "no data" alarm is raised on ${JSON.stringify(configured)}; ` +
          `remove alarms.devices.${id}.bed (it is for a device whose events carry no bed), or make the two agree`,
      });
    }
  });
  return warnings;
}

/**
 * The edge model as the start will load it: a file that cannot be read, or whose SHA-256 is not approved, leaves the
 * alarms on rules only with a technical alarm from the first minute (review rv60 L1). Said by --check as a warning:
 * the agent runs without it.
 */
export function modelWarnings(config: AgentConfig): ConfigProblem[] {
  const m = config.model;
  if (!m.enabled) return [];
  const path = modelFilePath(m.path);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    return [{ path: 'model.path', message: `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): the agent would run on rules only, with a technical alarm` }];
  }
  try {
    requireApproved(path, bytes, m.approved);
    return [];
  } catch (err) {
    if (!(err instanceof ModelNotApprovedError)) throw err;
    return [{ path: 'model.approved', message: `${path} has SHA-256 ${err.sha256}, which is not listed: the agent would refuse it and run on rules only, with a technical alarm; list it only if your organisation has validated this model` }];
  }
}

/**
 * What a start does with the saved twin overlay (desired-overlay.json beside the store), for --check to say: which
 * file, which desired version, and what it changes from the file (review rv60 M3). Empty when there is none.
 */
export function startupNotes(d: StartupDecision, env: NodeJS.ProcessEnv = process.env): string[] {
  // And what the environment sets over the file (AGENT_DISPLAY_PORT), which the file alone does not show (review rv91 L1).
  return [...envOverrideNotes(d.config, env), ...savedOverlayNotes(d)];
}

function savedOverlayNotes(d: StartupDecision): string[] {
  const step = d.step;
  switch (step.kind) {
    case 'none':
      return [];
    case 'not-used':
      return [`${step.file} (the saved twin overlay) is not applied at start: ${step.why}, so no twin is read; this file runs alone`];
    case 'unreadable':
      return [`${step.file} (the saved twin overlay) cannot be read (${(step.err as Error)?.message ?? String(step.err)}): the start ignores it and runs this file alone`];
    case 'set-aside':
      return [`${step.file} (the saved twin overlay, desired version ${step.desiredVersion}) is set aside at start: the last ${step.incompleteStarts} starts with it did not complete; this file runs alone`];
    case 'refused':
      return [`${step.file} (the saved twin overlay) is ignored at start, as it does not fit this file: ${step.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}; this file runs alone`];
    case 'use':
      return [`${savedOverlayNote(d, step.file, step.appliedAt)}; checked here as the start runs it, with the overlay`];
  }
}

/** The note for a saved overlay the start applies; also the start's warning. */
export function savedOverlayNote(d: StartupDecision, file: string, appliedAt: string): string {
  const changes = overlayChanges(d.local, d.config);
  return (
    `${file} (desired version ${d.desiredVersion}, applied at ${appliedAt}) is applied over this file at start, until the twin is read: ` +
    (changes.length ? `it changes ${changes.join(', ')}` : 'it changes nothing in this file') +
    // Saved by an older version: fields now taken from this file only are left out, the rest applied (review rv94 H3).
    (d.ignored?.length ? `; it also sets ${d.ignored.map((p) => p.path).join(', ')}, ignored: this version takes them from this file only (a gateway alarm says so while the overlay is in force)` : '')
  );
}

/** The sections (one level down) the merged config changes from the file's; for drivers, which run. */
function overlayChanges(local: AgentConfig, merged: AgentConfig): string[] {
  const out: string[] = [];
  const l = local as unknown as Record<string, unknown>;
  const m = merged as unknown as Record<string, unknown>;
  for (const key of Object.keys(m)) {
    if (canonical(l[key]) === canonical(m[key])) continue;
    if (key === 'drivers') {
      const names = (c: AgentConfig) => c.drivers.filter((e) => e.enabled).map((e) => e.name);
      const gone = names(local).filter((n) => !names(merged).includes(n));
      out.push(`drivers (runs ${names(merged).join(', ') || 'none'}${gone.length ? `; not ${gone.join(', ')}` : ''})`);
      continue;
    }
    const a = l[key];
    const b = m[key];
    if (!isObject(a) || !isObject(b)) {
      out.push(key);
      continue;
    }
    for (const sub of new Set([...Object.keys(a), ...Object.keys(b)])) if (canonical(a[sub]) !== canonical(b[sub])) out.push(`${key}.${sub}`);
  }
  return out;
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

// The configuration overlay carried by the module twin (`desired.agentConfig`) on top of the local config file.
// Pure: the merge rules, what may not be changed remotely, and validation with the same validator as the file.
import { ConfigError, validateConfig, type AgentConfig, type ConfigProblem, type DriverEntry } from '../config/load.js';
import type { DriverFactory } from '../../drivers/types.js';
import { isIP } from 'node:net';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/**
 * Sections a remote change may not touch, and why. They could cut the agent off from the hub (hub, control),
 * change what the agent is and where it keeps data (store, gateway id), expose patient ids to the cloud side
 * (privacy), or let the cloud side approve an edge model or let it hold alarms (model) — those need a local change
 * and a restart.
 */
export const REFUSED_SECTIONS: Readonly<Record<string, string>> = {
  hub: 'the uplink cannot be changed remotely: a mistake would cut the gateway off; change the local config file',
  store: 'the store cannot be changed remotely: it needs a restart and a mistake could lose accepted data; change the local config file',
  control: 'remote control settings cannot be changed remotely: a mistake could cut off remote management; change the local config file',
  gateway: "the gateway's identity cannot be changed remotely: it is part of every message id and alarm id; change the local config file",
  // Whoever controls the twin (the cloud side) must not be able to switch pseudonymisation off, nor set a key it knows
  // and so reverse the pseudonyms (review rv38 §2; docs/security.md).
  privacy: 'patient privacy cannot be changed remotely: the cloud side could read patient ids in clear or reverse their pseudonyms; change the local config file',
  // The edge model's governance is the ward's: which model files are approved (by SHA-256), which file is loaded and
  // whether it may hold an alarm's audio are decided by those who validated it locally (review rv46 M3).
  model: "the edge model cannot be changed remotely: its approval (by SHA-256), its file and its policy are the ward's decision; change the local config file",
};

/**
 * Fields of a section a remote change may not touch, and why; the rest of the section may change. Who may log in to
 * the bedside display, who may see the ward, and where and how it listens are decided on the gateway, in its local
 * file: the cloud side could otherwise give itself a clinician or admin login, or open the ward view (review rv82 M1).
 * Its port and whether it runs too: the deployment publishes the port and its health check polls it, so a twin value
 * would leave the ward screens and the health check on nothing after the next restart (review rv91 M5). So are the
 * host names it answers and its connection limits: a wrong `allowedHosts` refuses every screen's Host header (421)
 * and a limit of 1 all screens but one, so the cloud side could leave the ward's alarm display dark after the next
 * restart. Likewise its allowed origins (behind a TLS proxy a wrong list refuses every login and Ack) and its login
 * settings (one session per user, or a session lifetime of a minute, logs shared ward-screen logins out). `screens` may change: it only says which screen names are watched (an unlisted one still connects).
 */
export const REFUSED_FIELDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  display: {
    users: "the display's identities cannot be changed remotely: who may log in is decided on the gateway; change the local config file",
    tokens: "the display's identities cannot be changed remotely: who holds an API token is decided on the gateway; change the local config file",
    viewing: "the display's viewing cannot be changed remotely: who may see the ward is decided on the gateway; change the local config file",
    tls: "the display's listening address and TLS cannot be changed remotely: they decide who can reach the screen and whether logins travel in clear; change the local config file",
    host: "the display's listening address and TLS cannot be changed remotely: they decide who can reach the screen and whether logins travel in clear; change the local config file",
    port: "the display's port and whether it runs cannot be changed remotely: the deployment publishes the port and its health check polls it, and the ward screens use it; change the local config file (or AGENT_DISPLAY_PORT)",
    enabled: "the display's port and whether it runs cannot be changed remotely: the deployment publishes the port and its health check polls it, and the ward screens use it; change the local config file",
    allowedHosts: "the display's allowed host names cannot be changed remotely: a wrong list refuses the ward screens that reach the gateway by name (421); change the local config file",
    limits: "the display's connection limits cannot be changed remotely: a limit set too low refuses ward screens; change the local config file",
    allowedOrigins: "the display's allowed origins cannot be changed remotely: behind a reverse proxy a wrong list refuses every login, acknowledgement and audio pause from the screens' pages (403); change the local config file",
    login: "the display's login settings cannot be changed remotely: sessions per user and lockout after failures decide whether ward screens stay logged in; change the local config file",
    sessionTtlS: "the display's login settings cannot be changed remotely: a short session lifetime logs ward screens out again and again; change the local config file",
  },
};

/**
 * Driver options a remote change may not set, change or remove, on any driver (review rv158 F1), for the reason
 * `store` and `privacy` are the local file's: a capture writes every byte from the device, patient ids in clear, to
 * the path it names (the store's folder, the config file), growing up to its bound; a replay puts a file's recording
 * in place of a live device. See refusedDriverOptions for the list and map forms. Other path options stay open to the twin: `path` (a serial port; moving a
 * monitor is what live changes are for), an hl7-mllp listener's TLS files (read only, and judged by
 * transportDowngrades) and a wfdb-replay `record` (read only, a simulated driver).
 */
export const REFUSED_DRIVER_OPTIONS: Readonly<Record<string, string>> = {
  captureFile: "a driver's raw capture cannot be set remotely: it records every byte from the device, patient data included, to the file it names; change the local config file",
  captureMaxBytes: "a driver's raw capture cannot be set remotely: its size bound is the local file's, as is the capture; change the local config file",
  replay: "a driver's replay cannot be set remotely: it decodes a file on the gateway in place of the live device; change the local config file",
};

/**
 * The refused driver options the overlay's `drivers` sets, and the overlay's `drivers` without those that set
 * nothing (a null in the map form would remove the local value). The map form may not set them at all. A list entry
 * of a local driver (same name and type) has them as the local file has them now, whatever the twin's copy holds: a
 * local edit of a capture must apply while a twin list names the driver (review rv159 F1); a list entry the twin adds
 * may not set them.
 */
function refusedDriverOptions(local: AgentConfig, drivers: Json): { drivers: Json; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const refused = (at: string, field: string) => problems.push({ path: `${at}.options.${field}`, message: REFUSED_DRIVER_OPTIONS[field]! });
  if (Array.isArray(drivers)) {
    const listed = drivers.map((entry, i) => {
      if (!isObject(entry)) return entry;
      const own = local.drivers.find((d) => d.name === entry.name && d.type === entry.type);
      const opts: JsonObject = isObject(entry.options) ? { ...entry.options } : {};
      for (const field of Object.keys(REFUSED_DRIVER_OPTIONS)) {
        if (own === undefined) {
          if (!setsNothing(opts[field] ?? null)) refused(`drivers[${i}]`, field);
          delete opts[field];
          continue;
        }
        const ownValue = (own.options as Record<string, unknown>)[field];
        if (ownValue === undefined) delete opts[field];
        else opts[field] = ownValue as Json;
      }
      return isObject(entry.options) || own !== undefined ? { ...entry, options: opts } : entry;
    });
    return { drivers: listed, problems };
  }
  if (!isObject(drivers)) return { drivers, problems };
  const kept: JsonObject = { ...drivers };
  for (const [name, patch] of Object.entries(drivers)) {
    if (!isObject(patch) || !isObject(patch.options)) continue;
    const options: JsonObject = { ...patch.options };
    for (const field of Object.keys(REFUSED_DRIVER_OPTIONS)) {
      if (!(field in options)) continue;
      if (setsNothing(options[field])) delete options[field];
      else refused(`drivers.${name}`, field);
    }
    kept[name] = { ...patch, options };
  }
  return { drivers: kept, problems };
}

/**
 * Fields refused from the twin that an older version allowed, so a saved overlay may hold them: the display's port
 * and switch since 5db4b97 (review rv91 M5), its allowed host names, limits, allowed origins and login settings since the version after cc3244f. The
 * display's identities, viewing, host and TLS were refused long before: a saved overlay holding those is still
 * refused as a whole.
 */
const NEWLY_REFUSED_FIELDS: Readonly<Record<string, readonly string[]>> = { display: ['port', 'enabled', 'allowedHosts', 'limits', 'allowedOrigins', 'login', 'sessionTtlS'] };

/**
 * A saved overlay without the fields this version refuses from the twin and an older one allowed, and those fields,
 * each with why. At start they are left out and the rest applied, rather than the whole overlay dropped with the
 * drivers, bed limits and devices the twin added (review rv94 H3). A live desired change holding them is still refused.
 */
export function withoutRefusedFields(overlay: JsonObject): { overlay: JsonObject; ignored: ConfigProblem[] } {
  const out: JsonObject = { ...overlay };
  const ignored: ConfigProblem[] = [];
  for (const [section, fields] of Object.entries(NEWLY_REFUSED_FIELDS)) {
    const value = overlay[section];
    if (!isObject(value)) continue;
    const kept: JsonObject = { ...value };
    for (const field of fields) {
      // One that sets nothing is no override to ignore; resolveOverlay leaves it out (review rv105 M2).
      if (!(field in value) || setsNothing(value[field])) continue;
      delete kept[field];
      ignored.push({ path: `${section}.${field}`, message: 'from the twin is ignored: this version takes it from the local file only; set it in the local file' });
    }
    out[section] = kept;
  }
  return { overlay: ignored.length ? out : overlay, ignored };
}

/** Sections applied while running; other changed sections take effect at the next start. */
export const LIVE_SECTIONS = ['drivers', 'log'] as const;

export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A value that sets nothing: null, `{}`, or an object holding only such values. Removing a twin value with the usual
 * fine-grained patch (`display.limits.maxConnections: null`) leaves `limits: {}` in the document the agent merges
 * (review rv105 M2); likewise `hub: { retry: {} }` for a refused section (review rv106 M2).
 */
export function setsNothing(v: unknown): boolean {
  return v === null || (isObject(v) && Object.values(v).every(setsNothing));
}

/**
 * Merge of a twin-style patch into a value: objects merge key by key, `null` removes the key (so the local value
 * applies again), anything else (arrays included) replaces.
 */
export function mergePatch(base: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * `drivers` in the overlay is either a list (replaces the local list) or a map keyed by driver name, which suits
 * twin patches: each entry is merged into the local entry of that name (or added, then it needs a `type`);
 * `{ enabled: false }` switches a local driver off. Names with `.`, `$` or spaces cannot be twin keys: use the list.
 */
function overlayDrivers(local: DriverEntry[], overlay: unknown): unknown {
  if (!isObject(overlay)) return structuredClone(overlay);
  const out: unknown[] = local.map((d) => structuredClone(d));
  for (const [name, patch] of Object.entries(overlay)) {
    const i = out.findIndex((d) => isObject(d) && d.name === name);
    if (patch === null) continue; // removing an override: the local entry (if any) stays as it is
    if (i >= 0) out[i] = { ...(mergePatch(out[i], patch) as object), name };
    // A copy: validation fills in defaults, which must not land in the overlay (compared with the twin's document).
    else out.push({ ...(isObject(patch) ? structuredClone(patch) : { invalid: patch }), name });
  }
  return out;
}

/** The local config with the overlay on top, not yet validated. */
export function applyOverlay(local: AgentConfig, overlay: JsonObject): Record<string, unknown> {
  const out = structuredClone(local) as unknown as Record<string, unknown>;
  for (const [section, value] of Object.entries(overlay)) {
    if (value === null) continue;
    out[section] = section === 'drivers' ? overlayDrivers(local.drivers, value) : mergePatch(out[section], value);
  }
  return out;
}

export type OverlayResult =
  | { ok: true; config: AgentConfig }
  | { ok: false; problems: ConfigProblem[]; /** The transport downgrades among the problems (logged one by one). */ downgrades?: TransportDowngrade[] };

/**
 * Validates the overlay on top of the local config: refused sections and fields, then the agent's own validation,
 * then transport security compared with the local file and, when given, with what runs.
 */
export function resolveOverlay(
  local: AgentConfig,
  overlay: unknown,
  registry: ReadonlyMap<string, DriverFactory>,
  running?: AgentConfig,
): OverlayResult {
  if (overlay === undefined || overlay === null) return { ok: true, config: structuredClone(local) };
  if (!isObject(overlay)) return { ok: false, problems: [{ path: 'agentConfig', message: 'must be an object' }] };
  const problems: ConfigProblem[] = [];
  const effective: JsonObject = { ...overlay };
  for (const [section, value] of Object.entries(overlay)) {
    const why = REFUSED_SECTIONS[section];
    if (why) {
      // One that sets nothing (`hub: {}`, `hub: { retry: {} }` left by removing a value with the usual fine-grained
      // null patch) is absent, as for refused fields: otherwise every later change stays refused (review rv106 M2).
      if (setsNothing(value)) delete effective[section];
      else problems.push({ path: section, message: why });
      continue;
    }
    if (section === 'drivers' && value !== null) {
      const d = refusedDriverOptions(local, value);
      problems.push(...d.problems);
      effective[section] = d.drivers;
      continue;
    }
    const fields = REFUSED_FIELDS[section];
    // Refused even when equal to the local value: the overlay must not carry them (a later local edit would not apply).
    // One that sets nothing (null, `{}`, only nulls) is absent: left out before the merge, which would otherwise
    // delete the local file's value where it holds a null (review rv105 M2).
    if (fields && isObject(value)) {
      const kept: JsonObject = { ...value };
      for (const [field, v] of Object.entries(value)) {
        if (!fields[field]) continue;
        if (setsNothing(v)) delete kept[field];
        else problems.push({ path: `${section}.${field}`, message: fields[field] });
      }
      effective[section] = kept;
    }
  }
  if (problems.length) return { ok: false, problems };
  let config: AgentConfig;
  const merged = applyOverlay(local, effective);
  try {
    config = validateConfig(merged, registry, 'module twin desired properties');
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, problems: namedDriverPaths(err.problems, overlay, merged.drivers) };
    throw err;
  }
  const downgrades = transportDowngrades(config, local, running);
  if (downgrades.length) {
    return { ok: false, problems: downgrades.map((d) => ({ path: `drivers.${d.driver}.${d.field}`, message: d.message })), downgrades };
  }
  return { ok: true, config };
}

/** A driver name that reads unambiguously after `drivers.` (the names a twin map can have as keys). */
const TWIN_KEY = /^[^.$\s[\]]+$/;

/**
 * Problems about the merged driver list name `drivers[i]`, an index into a list the twin author never sees when
 * they wrote the map form: rewritten to `drivers.<name>`, in paths and messages, as transport refusals are named
 * (review rv91 L3). A list in the overlay is the author's own, so its indices stay; so does a name with `.` or `$`.
 */
export function namedDriverPaths(problems: ConfigProblem[], overlay: unknown, drivers: unknown): ConfigProblem[] {
  if (!isObject(overlay) || !isObject(overlay.drivers) || !Array.isArray(drivers)) return problems;
  const rename = (text: string) =>
    text.replace(/\bdrivers\[(\d+)\]/g, (whole, i: string) => {
      const d: unknown = drivers[Number(i)];
      const name = isObject(d) ? d.name : undefined;
      return typeof name === 'string' && TWIN_KEY.test(name) ? `drivers.${name}` : whole;
    });
  return problems.map((p) => ({ ...p, path: rename(p.path), message: rename(p.message) }));
}

// ---- transport security of drivers (review rv82 H2) ----

export interface TransportDowngrade {
  driver: string;
  /** The option weakened, e.g. `options.tls.caFile`. */
  field: string;
  message: string;
}

type DriverTls = { certFile?: string; keyFile?: string; caFile?: string; allowedClients?: { cn?: string[]; fingerprint256?: string[] } };
type Weakening = { field: string; what: string };

const tlsOf = (o: Record<string, unknown>): DriverTls | null => (isObject(o.tls) ? (o.tls as DriverTls) : null);
/** A driver that accepts connections: a bind address and a port in its options (hl7-mllp). */
const isListener = (o: Record<string, unknown>): boolean => typeof o.host === 'string' && typeof o.port === 'number';

/**
 * How far a bind address reaches: loopback < one address < every IPv4 address < every address (`::` is dual-stack).
 * Judged on the parsed address (`::ffff:7f00:1` is loopback, `0:0:0:0:0:0:0:0` is `::`); a host name counts as one
 * address, which only the local file may use (see `remoteHostProblem`).
 */
function hostReach(host: string): number {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === '') return 3;
  if (h === 'localhost') return 0;
  if (isIP(h) === 4) return h === '0.0.0.0' ? 2 : h.startsWith('127.') ? 0 : 1;
  if (isIP(h) !== 6) return 1;
  let n: string;
  try {
    n = new URL(`http://[${h}]`).hostname.slice(1, -1); // the shortest form, lower case
  } catch {
    return 1; // with a zone id (fe80::1%eth0): one interface's link-local address
  }
  if (n === '::') return 3;
  if (n === '::1') return 0;
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(n);
  if (!mapped) return 1;
  const [hi, lo] = [Number.parseInt(mapped[1]!, 16), Number.parseInt(mapped[2]!, 16)];
  return hostReach(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
}

/**
 * A bind address set by the twin must be an IP address or "localhost": a name is resolved when the listener starts,
 * to whatever its DNS says, so "127.0.0.1.nip.io" could bind to 0.0.0.0 (review rv83 L2).
 */
function remoteHostProblem(host: string): string | null {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || isIP(h)) return null;
  return `the listener's address "${host}" from the twin must be an IP address or "localhost": a host name is resolved when the listener starts, to whatever its DNS says`;
}

function hostWidening(before: string, after: string): string | null {
  const [b, a] = [hostReach(before), hostReach(after)];
  if (a === 0 || before === after || a < b) return null;
  // Two different single addresses: another network (a hospital LAN instead of the device VLAN) can reach it.
  if (a > b || a === 1) return `${before} to ${after} would let more of the network reach this listener`;
  return null;
}

const normFp = (f: string) => f.replace(/:/g, '').toUpperCase();

/** What `after` weakens compared with `before`: the same listener, or (`peer`) another one it must match. */
function weakenings(before: Record<string, unknown>, after: Record<string, unknown>, peer = false): Weakening[] {
  const out: Weakening[] = [];
  const bt = tlsOf(before);
  const at = tlsOf(after);
  if (bt && !at) out.push({ field: 'options.tls', what: 'TLS removed: the listener would take plain TCP, so readings and alarms (and patient ids) travel in clear and any host may send' });
  if (bt && at) {
    // A new listener has its own certificate; the same one may not be given another.
    for (const f of peer ? [] : (['certFile', 'keyFile'] as const)) {
      // Another key file (one shipped for tests, whose key is public) would let anyone pose as this listener.
      if (at[f] !== bt[f]) out.push({ field: `options.tls.${f}`, what: `the listener's certificate and key are the gateway's (${f} changed)` });
    }
    if (bt.caFile && at.caFile !== bt.caFile) {
      out.push({ field: 'options.tls.caFile', what: at.caFile ? 'another CA could admit other senders' : 'removed: senders would no longer need a certificate from the CA (mutual TLS off)' });
    }
    const list = (t: DriverTls, k: 'cn' | 'fingerprint256') => (t.allowedClients?.[k] ?? []).map((x) => (k === 'cn' ? x : normFp(x)));
    const [bCn, bFp, aCn, aFp] = [list(bt, 'cn'), list(bt, 'fingerprint256'), list(at, 'cn'), list(at, 'fingerprint256')];
    const listed = bCn.length + bFp.length > 0;
    // Server-only TLS admits any sender: anything after it is as narrow or narrower.
    if (bt.caFile || listed) {
      const added = [...aCn.filter((x) => !bCn.includes(x)), ...aFp.filter((x) => !bFp.includes(x))];
      // With a CA and no list, a CN list narrows (the CN must still chain to the CA); a pinned certificate need not chain.
      const widened = listed ? added.length > 0 || aCn.length + aFp.length === 0 : aFp.some((x) => !bFp.includes(x));
      if (widened) out.push({ field: 'options.tls.allowedClients', what: added.length ? `would admit senders not admitted now (${added.join(', ')})` : 'removed: any sender the handshake lets through would be admitted' });
    }
  }
  if (isListener(before) && isListener(after)) {
    const w = hostWidening(before.host as string, after.host as string);
    if (w) out.push({ field: 'options.host', what: w });
  }
  return out;
}

const downgradeText = (what: string) => `transport security cannot be weakened remotely: ${what}; change the local config file`;

/**
 * A remote change may not weaken a driver's transport security (its `tls`, or how far its bind address reaches).
 * A driver enabled in the local file is compared with the local file only: an entry no weaker than its local one is
 * never a downgrade, so the twin can undo a tightening of its own (review rv83 M1). A driver the twin added is compared
 * with what runs. Each enabled driver is compared with the entry of its name and with any listener of its type on the
 * same port (so that renaming does not get around it): for a driver the twin enables (disabled in the local file, or
 * added), the listeners enabled there, local and running (review rv84 M3); for a driver enabled in the local file,
 * only when moved off its local port. A new listener on a new port may not be weaker than every listener of its type
 * the gateway has; a disabled local entry the twin enables on a port of its own, than every enabled one. A gateway
 * with no (enabled) listener of that type has nothing to weaken. A bind address the twin sets must be an IP address
 * or "localhost".
 */
export function transportDowngrades(next: AgentConfig, local: AgentConfig, running?: AgentConfig): TransportDowngrade[] {
  const out: TransportDowngrade[] = [];
  const inLocal = (d: DriverEntry) => local.drivers.some((e) => e.name === d.name && e.type === d.type);
  // What runs of the local drivers may be the twin's own tightening: the local entries stand for them.
  const twinRunning = running?.drivers.filter((d) => d.enabled && !inLocal(d)) ?? [];
  const known = [...local.drivers, ...twinRunning];
  for (const d of next.drivers) {
    if (!d.enabled) continue;
    const opts = d.options as Record<string, unknown>;
    const own = local.drivers.find((e) => e.name === d.name && e.type === d.type);
    const ownOpts = own?.options as Record<string, unknown> | undefined;
    // Only an entry the local file runs is the baseline by itself: a disabled one (a plain fallback, say) is not
    // what the site runs on that port (review rv84 M3).
    if (own?.enabled && canonical(ownOpts) === canonical(opts)) continue;
    const found: Weakening[] = [];
    if (isListener(opts) && (!ownOpts || opts.host !== ownOpts.host)) {
      const why = remoteHostProblem(opts.host as string);
      if (why) found.push({ field: 'options.host', what: why });
    }
    const named = own ?? twinRunning.find((e) => e.name === d.name && e.type === d.type);
    const onPort = (e: DriverEntry) => e !== named && e.type === d.type && (e.options as Record<string, unknown>).port === opts.port;
    const listens = isListener(opts) && opts.port !== 0;
    const enabledThere = [...local.drivers.filter((e) => e.enabled), ...(running?.drivers.filter((e) => e.enabled) ?? [])];
    let samePort: DriverEntry[] = [];
    if (listens && !own?.enabled) {
      // Enabled by the twin (disabled locally, or added): judged against the listeners enabled on its port, local
      // and running, so that switching the local one off and this one on does not get around them.
      samePort = enabledThere.filter((e) => onPort(e) && e.name !== d.name);
    } else if (listens && ownOpts?.port !== opts.port) {
      samePort = known.filter(onPort); // a local listener moved onto another's port
    }
    const baselines = [...(named ? [named] : []), ...samePort];
    // A disabled local entry alone on its port is judged only against itself: it also gets the new-listener rule,
    // against the enabled listeners of its type (what the gateway runs).
    const disabledAlone = own !== undefined && !own.enabled && samePort.length === 0;
    if (baselines.length) {
      found.push(...baselines.flatMap((b) => weakenings(b.options as Record<string, unknown>, opts)));
    }
    if ((!baselines.length || disabledAlone) && isListener(opts)) {
      const pool = disabledAlone ? enabledThere : known;
      const peers = pool.filter((e) => e.type === d.type && e.name !== d.name && isListener(e.options as Record<string, unknown>));
      const each = peers.map((p) => weakenings(p.options as Record<string, unknown>, opts, true));
      if (each.length && each.every((w) => w.length > 0)) {
        found.push(...each[0]!.map((w) => ({ ...w, what: `a listener added remotely must be as protected as the gateway's own ("${peers[0]!.name}"): ${w.what}` })));
      }
    }
    const seen = new Set<string>();
    for (const w of found) {
      if (seen.has(w.field)) continue;
      seen.add(w.field);
      out.push({ driver: d.name, field: w.field, message: downgradeText(w.what) });
    }
  }
  return out;
}

/** Stable JSON for comparing configs: object keys sorted. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    isObject(value) ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, value[k]])) : value,
  );
}

export interface ChangePlan {
  /** Drivers to stop: removed, disabled, or changed (these are started again from their new entry). */
  stop: string[];
  /** Entries to start: added, enabled, or changed. */
  start: DriverEntry[];
  logLevel: AgentConfig['log']['level'] | null;
  /** Changed sections that take effect only at the next start. */
  pendingRestart: string[];
}

/** What it takes to go from one valid config to another while running. */
export function planChange(from: AgentConfig, to: AgentConfig): ChangePlan {
  const running = (c: AgentConfig) => new Map(c.drivers.filter((d) => d.enabled).map((d) => [d.name, canonical(d)]));
  const before = running(from);
  const after = running(to);
  const stop = [...before.keys()].filter((name) => after.get(name) !== before.get(name));
  const start = to.drivers.filter((d) => d.enabled && before.get(d.name) !== after.get(d.name));
  const pendingRestart: string[] = [];
  const sections = new Set([...Object.keys(from), ...Object.keys(to)]);
  for (const s of sections) {
    if (s === 'drivers') continue;
    const a = (from as unknown as Record<string, unknown>)[s];
    const b = (to as unknown as Record<string, unknown>)[s];
    if (s === 'log') {
      if (a && b && canonical({ ...(a as object), level: null }) !== canonical({ ...(b as object), level: null })) pendingRestart.push('log.pretty');
      continue;
    }
    if (canonical(a) !== canonical(b)) pendingRestart.push(s);
  }
  return { stop, start, logLevel: from.log.level !== to.log.level ? to.log.level : null, pendingRestart };
}

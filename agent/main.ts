#!/usr/bin/env node
// Command line entry point.
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkBeyondSchema, configWarnings, displayHostWarnings, displayListenProblem, emptyTimeZoneAsUtc, savedOverlayNote, startupNotes } from './config/check.js';
import { applyEnvOverrides, ConfigError, loadConfigFile, type AgentConfig, type ConfigProblem } from './config/load.js';
import { DEFAULT_CONFIG_PATH } from './paths.js';
import { createLogger } from './log.js';
import { Agent } from './agent.js';
import { decideStartup, withoutOverlay, type StartupDecision } from './control/control.js';
import { registry } from '../drivers/registry.js';
import { Outbox, RefusedReader, StoreInUseError, type RefusedMessage } from './store/outbox.js';

const USAGE = `Usage: bedside-agent [options]
       bedside-agent [-c FILE] --refused list | export ID | requeue [ID] | drop ID|all

Edge gateway agent for bedside medical devices. NOT a certified medical device:
its alarms are secondary and advisory; the devices' own alarms remain primary.

Options:
  -c, --config FILE   configuration file (YAML or JSON). Default: $AGENT_CONFIG,
                      else the embedded default (simulated ward, local store, no cloud)
      --check         validate the configuration and exit (0 = valid, 2 = invalid)
      --print-default print the embedded default configuration and exit
      --refused CMD   the messages the hub refuses every time, set aside in the store named by the
                      configuration (README, store and forward), then exit:
                        list          list them: id, stream, records, attempts, refused at, last error
                        export ID     write one's body to stdout
                        requeue [ID]  put them all (or one) back into the queue, same ids and bodies;
                                      the agent must be stopped (a store in use is refused, exit 1)
                        drop ID|all   give one or all of them up (deleted); the agent must be stopped
                      list and export read only and work while the agent runs
  -h, --help          this help

Environment: AGENT_CONFIG (config file), AGENT_DISPLAY_PORT (display port, overrides the file),
IOTHUB_DEVICE_CONNECTION_STRING (device mode), the IOTEDGE_* variables set by IoT Edge (module mode).

Exit codes: 0 stopped cleanly (--refused: done), 1 runtime failure (--refused: store in use or missing, no message
of that id), 2 invalid configuration or usage.`;

async function main(): Promise<number> {
  const tzWasEmpty = emptyTimeZoneAsUtc(); // before any time is formatted: the log names the zone that runs
  let args;
  let positionals: string[];
  try {
    ({ values: args, positionals } = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        check: { type: 'boolean' },
        'print-default': { type: 'boolean' },
        refused: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      // Only --refused takes one (its message id).
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const badUsage = args.refused !== undefined ? refusedUsageProblem(args.refused, positionals, args.check === true) : positionals.length ? `unexpected argument '${positionals[0]}'` : null;
  if (badUsage) {
    process.stderr.write(`${badUsage}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args['print-default']) {
    process.stdout.write(printedDefault(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')));
    return 0;
  }
  const path = args.config ?? (process.env.AGENT_CONFIG || DEFAULT_CONFIG_PATH);

  let config;
  try {
    config = applyEnvOverrides(loadConfigFile(path, registry), registry, path);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (args.refused !== undefined) return refusedCommand(args.refused as RefusedCommand, positionals[0], config, path);
  if (args.check) {
    // Beyond the schema: secrets, TLS files and each driver's own checks, which would otherwise stop the start. Judged
    // as the start judges it: with the saved twin overlay the start would apply over the file, said (review rv60 M3).
    const { startup, problems } = await judgeStart(config, false, path);
    const notes = startupNotes(startup);
    if (tzWasEmpty) notes.push('TZ is empty (GATEWAY_TIME_ZONE not filled in): clocks without a zone (an IntelliVue monitor, HL7 times without an offset) are read as UTC');
    if (problems.length) {
      process.stderr.write(`${new ConfigError(path, problems).message}\n`);
      for (const n of notes) process.stderr.write(`  note: ${n}\n`);
      return 2;
    }
    process.stdout.write(`${path}: valid\n`);
    for (const n of notes) process.stdout.write(`  note: ${n}\n`);
    const hostWarnings = startup.config.display.enabled ? await displayHostWarnings(startup.config.display.host) : [];
    for (const w of [...hostWarnings, ...configWarnings(startup.config, registry, false, process.env, path)]) process.stdout.write(`  warning: ${w.path}: ${w.message}\n`);
    return 0;
  }
  // What --check reports stops the start here, the same way (exit 2, each field named), before the store or display
  // opens: secrets, TLS and CA files, example passwords, each driver's own checks, the hub route, the store file.
  // Judged on what will run: the saved twin overlay over the file, when the start uses it (decided once, here).
  const { startup, problems: startProblems } = await judgeStart(config, true, path);
  if (startProblems.length) {
    process.stderr.write(`${new ConfigError(path, startProblems).message}\n`);
    return 2;
  }

  const log = createLogger(config.log);
  log.info(
    {
      config: path,
      embeddedDefault: path === DEFAULT_CONFIG_PATH,
      node: process.version,
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      ...(tzWasEmpty && { timeZoneFrom: 'TZ is empty (GATEWAY_TIME_ZONE not filled in): UTC' }),
    },
    'bedside edge gateway agent starting',
  );
  // The file is not what runs (an engineer's edit may have no effect): said as a warning, with what it changes.
  if (startup.step.kind === 'use') {
    log.warn({ file: startup.step.file, desiredVersion: startup.desiredVersion, appliedAt: startup.step.appliedAt }, savedOverlayNote(startup, startup.step.file, startup.step.appliedAt));
  }
  for (const w of configWarnings(startup.config, registry, true, process.env, path)) log.warn({ field: w.path }, `${w.path}: ${w.message}`);
  let agent: Agent;
  try {
    agent = new Agent({ config, registry, log, configPath: path, startup });
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    return 1;
  }

  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    let localDone = false;
    let firstAt = 0;
    const stop = (signal: string) => {
      // One Ctrl-C under `npx tsx` reaches the agent twice (the terminal's and tsx's relay): a repeat within half a
      // second is that echo, not a person asking a second time (review rv41 §8).
      if (stopping && Date.now() - firstAt < 500) return;
      if (stopping) {
        // A second Ctrl-C: the person wants out now. Only the network part of the stop is skipped; what the drivers
        // handed over is committed first (a few ms), as with the deadline below.
        log.warn({ signal, committed: localDone }, `second ${signal} while stopping: not waiting for the hub any longer; exiting once everything accepted is in the store`);
        void agent.localStopDone.then(() => process.exit(0));
        return;
      }
      stopping = true;
      firstAt = Date.now();
      void agent.localStopDone.then(() => (localDone = true));
      log.info({ signal }, 'stopping');
      // IoT Edge (Docker's default) kills a module 10 s after SIGTERM. Data is committed first (Agent.stop()); what
      // is left is network work (a send or twin call waiting on a hub), which is safe to cut: unacknowledged
      // messages are sent again, with the same ids, at the next start.
      const deadline = setTimeout(() => {
        log.warn({ deadlineMs: STOP_DEADLINE_MS }, 'stop is taking too long (a hub that does not answer?); exiting now, everything accepted is in the store');
        process.exit(0);
      }, STOP_DEADLINE_MS);
      deadline.unref();
      void agent.stop().then(() => {
        clearTimeout(deadline);
        resolve();
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // A hang-up (the SSH session it was started from dropped; `kill -HUP` out of habit) would kill the agent without its
    // stop: it stops cleanly instead. It does not reload: the configReload direct method and a restart do that.
    process.on('SIGHUP', () => stop('SIGHUP'));
  });
  process.on('uncaughtException', (err) => {
    // State may be inconsistent: log and exit non-zero so that the supervisor (IoT Edge) restarts us.
    // Everything accepted is already committed to the store.
    log.fatal({ err }, 'uncaught exception; exiting');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled promise rejection; exiting');
    process.exit(1);
  });

  try {
    await agent.start();
  } catch (err) {
    // Part of the agent may be running (drivers, display, timers): stop what can be stopped, within a bound, and
    // exit non-zero so that the supervisor (IoT Edge) restarts us, rather than run half-started.
    const problem = displayListenProblem(err, startup.config.display);
    // The reason in the message too: a console shows the message and the stack, not the `problem` field (review rv192 L2).
    const why = problem && `${problem.path}: ${problem.message}`;
    log.fatal({ err, ...(why && { problem: why }) }, why ? `start failed: ${why}; exiting` : 'start failed; exiting');
    await Promise.race([agent.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
    // An address that is not this machine's is the config's (exit 2, as --check says it), not a runtime failure that
    // a restart mends (review rv60 M1).
    if (problem?.path === 'display.host') {
      process.stderr.write(`${new ConfigError(path, [problem]).message}\n`);
      process.exit(2);
    }
    process.exit(1);
  }
  await stopped;
  return 0;
}

/**
 * The start's judgement of the config, shared with --check (`atStart` false) so that the two agree: the saved twin
 * overlay over the file when the start would use it, else the file.
 */
async function judgeStart(config: AgentConfig, atStart: boolean, configPath: string): Promise<{ startup: StartupDecision; problems: ConfigProblem[] }> {
  let startup = decideStartup(config, registry);
  let problems = await checkBeyondSchema(startup.config, registry, process.env, atStart, configPath);
  if (problems.length && startup.step.kind === 'use') {
    // A saved overlay must never stop a start (the hub could not undo it then): the file alone, when it passes,
    // runs, and the overlay is ignored with its problems logged, as one that no longer fits the file.
    const fileOnly = await checkBeyondSchema(config, registry, process.env, atStart, configPath);
    if (!fileOnly.length) startup = withoutOverlay(startup, startup.step.file, problems);
    problems = fileOnly;
  }
  return { startup, problems };
}

/**
 * The embedded default as --print-default gives it, to start a ward's own file from: with the ward's store path, not
 * the demo's (review rv119 H1: a copy that kept it would have forwarded the demo's simulated patients as the ward's).
 */
function printedDefault(text: string): string {
  const demoStore = /^store:\n(?: {2}#.*\n)* {2}path: .*\n/m;
  if (!demoStore.test(text)) throw new Error(`${DEFAULT_CONFIG_PATH}: no store.path found to print the ward's path in its place`);
  return text.replace(
    demoStore,
    "store:\n  # Your ward's store: not the demo's ./data/demo.db (its simulated patients would be forwarded as the ward's).\n  path: ./data/agent.db\n",
  );
}

type RefusedCommand = 'list' | 'export' | 'requeue' | 'drop';

/** What is wrong with `--refused CMD [ID]`, or null. */
function refusedUsageProblem(cmd: string, positionals: string[], check: boolean): string | null {
  if (check) return '--refused and --check are separate commands';
  const ids = { list: [0, 0], export: [1, 1], requeue: [0, 1], drop: [1, 1] } as const;
  const range = (ids as Record<string, readonly [number, number]>)[cmd];
  if (!range) return `--refused: unknown command '${cmd}' (list, export ID, requeue [ID], drop ID|all)`;
  if (positionals.length < range[0]) return `--refused ${cmd}: needs ${cmd === 'drop' ? 'a message id, or all' : 'a message id'} (see --refused list)`;
  if (positionals.length > range[1]) return `--refused ${cmd}: unexpected argument '${positionals[range[1]]}'`;
  return null;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const messagesAndRecords = (m: { messages: number; records: number }) => `${plural(m.messages, 'message')} (${plural(m.records, 'record')})`;

/**
 * `--refused`: the messages the forwarder set aside because the hub refuses them every time (agent/store/outbox.ts,
 * table `refused`), on the store the configuration names, as the agent opens it (store.path; the store's lock). A
 * gateway's container has no sqlite3, and only one process may write the store: list and export read it without the
 * lock (the agent may run); requeue and drop take the lock, so the agent must be stopped. 0 done, 1 failed.
 */
function refusedCommand(cmd: RefusedCommand, id: string | undefined, config: AgentConfig, configPath: string): number {
  const fail = (text: string) => {
    process.stderr.write(`${text}\n`);
    return 1;
  };
  if (config.store.path === ':memory:') return fail(`store.path in ${configPath} is :memory:: nothing is kept, nothing is set aside`);
  const storePath = resolve(config.store.path);
  // Not created here: a wrong -c would otherwise read as "none".
  if (!existsSync(storePath)) return fail(`no store at ${storePath} (store.path in ${configPath}): is this the agent's configuration?`);
  const noneHere = `none: no message is set aside as refused by the hub in ${storePath}`;

  if (cmd === 'list' || cmd === 'export') {
    let reader: RefusedReader | null;
    try {
      reader = RefusedReader.open(storePath);
    } catch (err) {
      return fail(`cannot read the store ${storePath}: ${(err as Error).message}`);
    }
    if (!reader) return fail(`no store at ${storePath} (store.path in ${configPath})`);
    try {
      if (cmd === 'export') {
        const body = reader.body(id!);
        if (body === null) return fail(`no message ${id} is set aside in ${storePath} (see --refused list)`);
        // The body exactly as it was to be sent: no newline added.
        process.stdout.write(body);
        return 0;
      }
      const rows = reader.list();
      process.stdout.write(rows.length ? refusedTable(rows, storePath) : `${noneHere}\n`);
      return 0;
    } finally {
      reader.close();
    }
  }

  // requeue and drop write: the store's lock, as the agent takes it, so that a running agent is never written under.
  let box: Outbox;
  try {
    box = new Outbox(storePath, { synchronous: 'full' });
  } catch (err) {
    if (err instanceof StoreInUseError) {
      return fail(`the agent is running on this store: ${err.message}. --refused ${cmd} changes the store: stop the agent first (README, store and forward); nothing was changed`);
    }
    return fail(`cannot open the store ${storePath}: ${(err as Error).message}; nothing was changed`);
  }
  try {
    const target = cmd === 'drop' && id === 'all' ? undefined : id;
    const done = cmd === 'requeue' ? box.requeueRefused(target) : box.dropRefused(target);
    if (done.messages === 0) {
      if (target !== undefined) return fail(`no message ${target} is set aside in ${storePath} (see --refused list); nothing was changed`);
      process.stdout.write(`${noneHere}\n`);
      return 0;
    }
    process.stdout.write(
      cmd === 'requeue'
        ? `${messagesAndRecords(done)} put back into the queue with the same ids and bodies: sent at the agent's next start (refused again, set aside again)\n`
        : `${messagesAndRecords(done)} given up: deleted from ${storePath}\n`,
    );
    return 0;
  } catch (err) {
    return fail(`--refused ${cmd} failed on ${storePath}: ${(err as Error).message}; nothing was changed (one transaction)`);
  } finally {
    box.close();
  }
}

function refusedTable(rows: RefusedMessage[], storePath: string): string {
  const records = rows.reduce((a, r) => a + r.count, 0);
  const head = ['ID', 'STREAM', 'RECORDS', 'ATTEMPTS', 'REFUSED AT (UTC)', 'LAST ERROR'];
  const cells = rows.map((r) => [
    r.id,
    r.stream,
    String(r.count),
    String(r.attempts),
    new Date(r.refusedAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    r.lastError.replace(/\s+/g, ' '),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  return [`${messagesAndRecords({ messages: rows.length, records })} set aside as refused by the hub in ${storePath}:`, line(head), ...cells.map(line), ''].join('\n');
}

/** How long a stop may take before the agent exits anyway: inside IoT Edge's 10 s. */
const STOP_DEADLINE_MS = 8000;

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);

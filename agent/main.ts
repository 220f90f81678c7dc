#!/usr/bin/env node
// Command line entry point.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { checkBeyondSchema, configWarnings, displayHostWarnings, displayListenProblem, savedOverlayNote, startupNotes } from './config/check.js';
import { applyEnvOverrides, ConfigError, loadConfigFile, type AgentConfig, type ConfigProblem } from './config/load.js';
import { DEFAULT_CONFIG_PATH } from './paths.js';
import { createLogger } from './log.js';
import { Agent } from './agent.js';
import { decideStartup, withoutOverlay, type StartupDecision } from './control/control.js';
import { registry } from '../drivers/registry.js';

const USAGE = `Usage: bedside-agent [options]

Edge gateway agent for bedside medical devices. NOT a certified medical device:
its alarms are secondary and advisory; the devices' own alarms remain primary.

Options:
  -c, --config FILE   configuration file (YAML or JSON). Default: $AGENT_CONFIG,
                      else the embedded default (simulated ward, local store, no cloud)
      --check         validate the configuration and exit (0 = valid, 2 = invalid)
      --print-default print the embedded default configuration and exit
  -h, --help          this help

Environment: AGENT_CONFIG (config file), AGENT_DISPLAY_PORT (display port, overrides the file),
IOTHUB_DEVICE_CONNECTION_STRING (device mode), the IOTEDGE_* variables set by IoT Edge (module mode).

Exit codes: 0 stopped cleanly, 1 runtime failure, 2 invalid configuration.`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        check: { type: 'boolean' },
        'print-default': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args['print-default']) {
    process.stdout.write(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
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
  if (args.check) {
    // Beyond the schema: secrets, TLS files and each driver's own checks, which would otherwise stop the start. Judged
    // as the start judges it: with the saved twin overlay the start would apply over the file, said (review rv60 M3).
    const { startup, problems } = await judgeStart(config, false);
    const notes = startupNotes(startup);
    if (problems.length) {
      process.stderr.write(`${new ConfigError(path, problems).message}\n`);
      for (const n of notes) process.stderr.write(`  note: ${n}\n`);
      return 2;
    }
    process.stdout.write(`${path}: valid\n`);
    for (const n of notes) process.stdout.write(`  note: ${n}\n`);
    const hostWarnings = startup.config.display.enabled ? await displayHostWarnings(startup.config.display.host) : [];
    for (const w of [...hostWarnings, ...configWarnings(startup.config, registry)]) process.stdout.write(`  warning: ${w.path}: ${w.message}\n`);
    return 0;
  }
  // What --check reports stops the start here, the same way (exit 2, each field named), before the store or display
  // opens: secrets, TLS and CA files, example passwords, each driver's own checks, the hub route, the store file.
  // Judged on what will run: the saved twin overlay over the file, when the start uses it (decided once, here).
  const { startup, problems: startProblems } = await judgeStart(config, true);
  if (startProblems.length) {
    process.stderr.write(`${new ConfigError(path, startProblems).message}\n`);
    return 2;
  }

  const log = createLogger(config.log);
  log.info(
    { config: path, embeddedDefault: path === DEFAULT_CONFIG_PATH, node: process.version, timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone },
    'bedside edge gateway agent starting',
  );
  // The file is not what runs (an engineer's edit may have no effect): said as a warning, with what it changes.
  if (startup.step.kind === 'use') {
    log.warn({ file: startup.step.file, desiredVersion: startup.desiredVersion, appliedAt: startup.step.appliedAt }, savedOverlayNote(startup, startup.step.file, startup.step.appliedAt));
  }
  for (const w of configWarnings(startup.config, registry, true)) log.warn({ field: w.path }, `${w.path}: ${w.message}`);
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
    log.fatal({ err, ...(problem && { problem: `${problem.path}: ${problem.message}` }) }, 'start failed; exiting');
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
async function judgeStart(config: AgentConfig, atStart: boolean): Promise<{ startup: StartupDecision; problems: ConfigProblem[] }> {
  let startup = decideStartup(config, registry);
  let problems = await checkBeyondSchema(startup.config, registry, process.env, atStart);
  if (problems.length && startup.step.kind === 'use') {
    // A saved overlay must never stop a start (the hub could not undo it then): the file alone, when it passes,
    // runs, and the overlay is ignored with its problems logged, as one that no longer fits the file.
    const fileOnly = await checkBeyondSchema(config, registry, process.env, atStart);
    if (!fileOnly.length) startup = withoutOverlay(startup, startup.step.file, problems);
    problems = fileOnly;
  }
  return { startup, problems };
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

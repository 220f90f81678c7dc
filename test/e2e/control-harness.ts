// Shared set-up for the twin and direct-method tests: an agent (real SDK, MQTT over TLS) against the IoT Hub
// stand-in, as a device (connection string) or as an IoT Edge module (the module environment variables).
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { Agent } from '../../agent/agent.js';
import { createLogger } from '../../agent/log.js';
import { registry } from '../../drivers/registry.js';
import { startHubStandin, type HubStandin } from '../hub-standin/index.js';
import type { JsonObject } from '../hub-standin/index.js';
import { tempDir, writeConfig } from '../support/agent-process.js';
import { STANDIN_CA_FILE, testConfig } from '../support/agent-config.js';
import type { AgentConfig } from '../../agent/config/load.js';

export const KEY = Buffer.from('test-device-key-0123456789abcdef').toString('base64');
export type Mode = 'device' | 'module';
export const MODES: Mode[] = ['device', 'module'];

export const sim = (beds: number, extra: Record<string, unknown> = {}) => ({
  type: 'simulator',
  options: { beds, waveforms: false, numericPeriodMs: 500, nibpIntervalS: 0, episodesPerHour: 0, ...extra },
});

/** Fast reporting and short twin timeouts, so that tests see reports and recoveries within seconds. */
export const FAST_CONTROL = { reportIntervalS: 1, resyncIntervalS: 30, twinTimeoutMs: 3000 };

export interface LogSink {
  log: Logger;
  lines: Record<string, unknown>[];
  find(msg: string, pred?: (l: Record<string, unknown>) => boolean): Record<string, unknown>[];
}

/** The agent's real logger (with its ring buffer and live level), writing into memory. */
export function logSink(level = 'debug'): LogSink {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = createLogger({ level, pretty: 'never' }, sink);
  return { log, lines, find: (msg, pred = () => true) => lines.filter((l) => l.msg === msg && pred(l)) };
}

export class Harness {
  hub!: HubStandin;
  readonly agents: Agent[] = [];
  readonly dir = tempDir('control-');
  private readonly envKeys: string[] = [];
  readonly deviceId = 'gw-1';
  readonly moduleId: string | undefined;

  constructor(readonly mode: Mode) {
    this.moduleId = mode === 'module' ? 'bedside' : undefined;
  }

  async startHub(opts: { persistentSessions?: boolean; desired?: JsonObject } = {}): Promise<HubStandin> {
    this.hub = await startHubStandin({
      identities: [{ deviceId: this.deviceId, ...(this.moduleId && { moduleId: this.moduleId }), key: KEY, twin: { desired: opts.desired ?? {} } }],
      ...(opts.persistentSessions !== undefined && { persistentSessions: opts.persistentSessions }),
    });
    return this.hub;
  }

  /** The local config file's content for this mode. */
  localConfig(drivers: Record<string, unknown>[], extra: Record<string, unknown> = {}): AgentConfig {
    const base = { drivers, control: FAST_CONTROL, ...extra };
    if (this.mode === 'device') return testConfig(this.dir, base, this.hub.connectionString(this.deviceId));
    return testConfig(this.dir, { ...base, hub: { mode: 'module', batchDelayMs: 100, sendTimeoutMs: 2000, retry: { initialDelayMs: 100, maxDelayMs: 500 } } });
  }

  async startAgent(config: AgentConfig, sink = logSink(), configPath?: string): Promise<{ agent: Agent; sink: LogSink }> {
    let env: NodeJS.ProcessEnv | undefined;
    if (this.mode === 'module') {
      // ModuleClient.fromEnvironment reads process.env itself, as under the IoT Edge runtime.
      const vars = { EdgeHubConnectionString: this.hub.connectionString(this.deviceId, this.moduleId), EdgeModuleCACertificateFile: STANDIN_CA_FILE };
      Object.assign(process.env, vars);
      this.envKeys.push(...Object.keys(vars));
      env = process.env;
    }
    const agent = new Agent({ config, registry, log: sink.log, ...(env && { env }), ...(configPath && { configPath }) });
    this.agents.push(agent);
    await agent.start();
    return { agent, sink };
  }

  /** Writes a config file (JSON) for reloadConfig and returns its path. */
  writeLocal(config: unknown): string {
    return writeConfig(this.dir, config);
  }

  twin() {
    return this.hub.twin(this.deviceId, this.moduleId);
  }

  reported(): Record<string, unknown> {
    return this.twin().reported as Record<string, unknown>;
  }

  reportedConfig(): { status?: string; desiredVersion?: number; errors?: string[]; source?: string; drivers?: string[]; logLevel?: string } {
    return (this.reported().config ?? {}) as ReturnType<Harness['reportedConfig']>;
  }

  updateDesired(patch: JsonObject): number {
    return this.hub.updateDesired(this.deviceId, this.moduleId, patch);
  }

  invoke(name: string, payload: unknown = null) {
    return this.hub.invokeMethod(this.deviceId, this.moduleId, name, payload, 15_000);
  }

  /** Waits until the reported config is about `version` (applied or rejected). */
  async untilConfigVersion(version: number, ms = 15_000): Promise<ReturnType<Harness['reportedConfig']>> {
    await this.hub.waitUntil(() => this.reportedConfig().desiredVersion === version, ms, `reported config for desired version ${version}`);
    return this.reportedConfig();
  }

  async untilConnected(agent: Agent, ms = 15_000): Promise<void> {
    await this.hub.waitUntil(() => agent.health().forwarder.state === 'connected' && this.reportedConfig().status !== undefined, ms, 'agent connected and reported');
  }

  async stop(): Promise<void> {
    for (const a of this.agents) await a.stop().catch(() => undefined);
    this.agents.length = 0;
    for (const k of this.envKeys.splice(0)) delete process.env[k];
    await this.hub?.stop();
  }
}

export { writeConfig };

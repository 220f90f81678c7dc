// Starts the IoT Hub stand-in in a child process (see standin-child.ts) and talks to it over IPC.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HubStats, PubackPolicy } from '../../test/hub-standin/index.js';

export interface StandinProcess {
  port: number;
  hostName: string;
  caPem: string;
  deviceId: string;
  key: string;
  connectionString: string;
  /** Stand-in counters, plus body bytes of the telemetry seen so far (approximate once its window overflows). */
  stats(): Promise<HubStats & { bodyBytes: number }>;
  setPuback(policy: PubackPolicy): Promise<void>;
  stop(): Promise<void>;
}

export async function startStandinProcess(): Promise<StandinProcess> {
  const child = fork(fileURLToPath(new URL('./standin-child.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let next = 1;
  const waiting = new Map<number, (v: unknown) => void>();
  const ready = await new Promise<Omit<StandinProcess, 'stats' | 'setPuback' | 'stop'>>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`stand-in process exited (${code})`)));
    child.on('message', (m: { ready?: Omit<StandinProcess, 'stats' | 'setPuback' | 'stop'>; id?: number; value?: unknown }) => {
      if (m.ready) resolve(m.ready);
      else if (m.id !== undefined) {
        waiting.get(m.id)?.(m.value);
        waiting.delete(m.id);
      }
    });
  });
  child.removeAllListeners('exit');
  const call = <T>(msg: Record<string, unknown>): Promise<T> =>
    new Promise((resolve) => {
      const id = next++;
      waiting.set(id, resolve as (v: unknown) => void);
      child.send({ id, ...msg });
    });
  return {
    ...ready,
    stats: () => call({ op: 'stats' }),
    setPuback: (policy) => call({ op: 'puback', policy }),
    stop: async () => {
      if (child.exitCode !== null) return;
      await Promise.race([call({ op: 'stop' }), new Promise((r) => setTimeout(r, 3000))]);
      child.kill();
    },
  };
}

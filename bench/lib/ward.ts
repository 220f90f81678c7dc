// Simulated ward traffic for benchmarks, generated as fast as the CPU allows with the simulator's manual clock.
// Each element of the result is what one bed handed to ctx.emit at once (its numerics and/or waveform chunk).
import { pino } from 'pino';
import type { DriverEvent } from '../../agent/model/reading.js';
import { createSimulator } from '../../drivers/simulator/index.js';
import type { SimulatorOptions } from '../../drivers/simulator/index.js';

export const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);

export interface WardTraffic {
  batches: DriverEvent[][];
  /** Numerics, waveform segments, and other events (status, alarms). */
  numerics: number;
  segments: number;
  others: number;
  /** Waveform samples in all segments. */
  samples: number;
  generateMs: number;
}

export function countEvents(batches: DriverEvent[][]): Omit<WardTraffic, 'batches' | 'generateMs'> {
  let numerics = 0;
  let segments = 0;
  let others = 0;
  let samples = 0;
  for (const b of batches) {
    for (const e of b) {
      if (e.kind === 'numeric') numerics++;
      else if (e.kind === 'waveform') {
        segments++;
        samples += e.samples.length;
      } else others++;
    }
  }
  return { numerics, segments, others, samples };
}

/** Runs the simulator for `seconds` of simulated time and returns everything it emitted. */
export async function generateWard(options: SimulatorOptions, seconds: number, startTime = T0, onBatch?: (b: DriverEvent[]) => void): Promise<WardTraffic> {
  const batches: DriverEvent[][] = [];
  const sim = createSimulator(
    options,
    {
      name: 'ward-sim',
      log: pino({ level: 'silent' }),
      emit: async (events) => {
        if (onBatch) onBatch(events);
        else batches.push(events);
      },
      count: () => undefined,
    },
    { clock: 'manual', startTime },
  );
  const t = performance.now();
  await sim.start();
  for (let s = 0; s < seconds; s++) sim.tick(1000);
  const generateMs = performance.now() - t;
  return { batches, ...countEvents(batches), generateMs };
}

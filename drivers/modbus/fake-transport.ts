// For tests: a Transport without a wire. Each read is answered by `answer` (which may wait, or throw a fault), and
// recorded with the time it started.
import type { Table } from './options.js';
import type { Transport } from './transport.js';

export class FakeTransport implements Transport {
  isOpen = false;
  readonly reads: Array<{ unitId: number; table: Table; address: number; count: number; at: number }> = [];
  private closeListener: (() => void) | undefined;

  constructor(public answer: (unitId: number, table: Table, address: number, count: number) => Promise<number[] | boolean[]>) {}

  async connect(): Promise<void> {
    this.isOpen = true;
  }

  read(unitId: number, table: Table, address: number, count: number): Promise<number[] | boolean[]> {
    this.reads.push({ unitId, table, address, count, at: performance.now() });
    return this.answer(unitId, table, address, count);
  }

  async close(): Promise<void> {
    this.isOpen = false;
  }

  onClose(listener: () => void): void {
    this.closeListener = listener;
  }

  /** The connection drops (as a peer closing it would). */
  drop(): void {
    this.isOpen = false;
    this.closeListener?.();
  }
}

/** Registers (or bits) all holding `value`. */
export function filled(table: Table, count: number, value = 1): number[] | boolean[] {
  return table === 'coil' || table === 'discrete' ? new Array<boolean>(count).fill(value !== 0) : new Array<number>(count).fill(value);
}

/** Waits until `check` is true, on the monotonic clock (a test may step Date.now); fails with `what` after `ms`. */
export async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

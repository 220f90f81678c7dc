// A well-behaved HL7 sender for fault tests: generated PCD-01 traffic for a few beds over one MLLP connection,
// one message at a time, resending the same message (same control id, same bytes) until it is acknowledged with
// CA/AA — what a real sender does when the receiver dies or refuses. Records what it was told was accepted.
import { initialBeds, pcd01Message, rng, step, type BedState } from '../../drivers/hl7/ward.js';
import { MllpClient } from '../support/mllp-client.js';

/** The numerics each generated PCD-01 message carries (drivers/hl7/ward.ts, without the waveform). */
export const PCD01_REFIDS = [
  'MDC_ECG_HEART_RATE',
  'MDC_PULS_OXIM_SAT_O2',
  'MDC_PULS_OXIM_PULS_RATE',
  'MDC_RESP_RATE',
  'MDC_PRESS_BLD_NONINV_SYS',
  'MDC_PRESS_BLD_NONINV_DIA',
  'MDC_TEMP_BODY',
] as const;

export interface SentMessage {
  controlId: string;
  text: string;
  /** ISO time of the message's observations: unique per message, so its readings can be found at the hub. */
  deviceTime: string;
  attempts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Hl7Sender {
  readonly acked: SentMessage[] = [];
  naks = 0;
  connectionLosses = 0;
  private stopping = false;
  private done: Promise<void> | null = null;
  private client: MllpClient | null = null;
  private readonly beds: BedState[];
  private readonly rand: () => number;
  private current: SentMessage | null = null;
  private bedIndex = 0;

  /**
   * @param nextTime gives each message a distinct observation time (ms); share one counter between senders.
   * @param pauseMs pause after each acknowledged message.
   */
  constructor(
    private readonly id: number,
    private readonly port: number,
    beds: number,
    private readonly nextTime: () => number,
    seed = 1,
    private readonly pauseMs = 10,
  ) {
    this.rand = rng(seed + id);
    this.beds = initialBeds(beds, this.rand).map((b) => ({ ...b, bed: id * 100 + b.bed }));
  }

  start(): this {
    this.done = this.run();
    return this;
  }

  /** Stops making new messages; resolves once the one in flight (if any) was acknowledged. */
  async finish(): Promise<void> {
    this.stopping = true;
    await this.done;
    this.client?.close();
  }

  /** Stops at once (test teardown). */
  abort(): void {
    this.stopping = true;
    this.current = null;
    this.client?.close();
  }

  private next(): SentMessage {
    const b = this.beds[this.bedIndex++ % this.beds.length]!;
    step(b, this.rand);
    const t = this.nextTime();
    const controlId = `F${this.id}-${t}`;
    return { controlId, text: pcd01Message(b, controlId, t, { waveform: false }), deviceTime: new Date(t).toISOString(), attempts: 0 };
  }

  private async run(): Promise<void> {
    while (!(this.stopping && this.current === null)) {
      this.current ??= this.next();
      if (!this.client || this.client.closed) {
        this.client = await MllpClient.connect(this.port).catch(() => null);
        if (!this.client) {
          await sleep(50);
          continue;
        }
      }
      this.current.attempts++;
      try {
        const ack = await this.client.send(this.current.text, 5000);
        if (ack.code === 'CA' || ack.code === 'AA') {
          this.acked.push(this.current);
          this.current = null;
          await sleep(this.pauseMs);
        } else {
          this.naks++;
          await sleep(100); // told to retry later: resend the same message
        }
      } catch {
        this.connectionLosses++;
        this.client?.close();
        this.client = null;
        await sleep(50);
      }
    }
  }
}

// Keeps one SerialLink open: reconnects after unplug/replug with capped exponential backoff, and
// reports a line that goes silent. It knows nothing of the protocol on top; it reports states in
// words an engineer can act on and hands bytes to the protocol.
import { backoffDelay, type BackoffSettings } from './backoff.js';
import type { SerialLink } from './link.js';

export type LinkState = 'connecting' | 'open' | 'silent' | 'closed';

export interface SupervisorSettings {
  backoff: BackoffSettings;
  /** No bytes for this long while open → 'silent'. 0 disables silence detection. */
  silenceMs: number;
  /** false for replays: when the link closes, stay closed. */
  reconnect: boolean;
}

export interface SupervisorHooks {
  /** State changes, with why. 'open' is reported on open and again when bytes return after silence. */
  onState(state: LinkState, detail: string): void;
  onOpen?(): void;
  /** An attempt to open the link failed (another attempt follows with backoff, unless a replay). */
  onOpenFailed?(err: Error): void;
  onData(bytes: Buffer): void;
  /** After the link closed (any reason) and before any reconnect attempt. */
  onClosed?(err?: Error): void;
}

export class LinkSupervisor {
  private running = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private silent = false;
  private state_: LinkState = 'closed';
  private nextTryAt: number | null = null;
  lastDataAt: number | null = null;

  constructor(
    readonly link: SerialLink,
    private readonly settings: SupervisorSettings,
    private readonly hooks: SupervisorHooks,
    private readonly clock: () => number = Date.now,
  ) {
    link.onData((bytes) => this.handleData(bytes));
    link.onClose((err) => this.handleClose(err));
  }

  get state(): LinkState {
    return this.state_;
  }

  /** While a reopen is scheduled: its number (1 for the first after a close or failed open) and when it is due. */
  get retry(): { attempt: number; at: number } | undefined {
    return this.retryTimer && this.nextTryAt !== null ? { attempt: this.attempt, at: this.nextTryAt } : undefined;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    void this.tryOpen();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.clearTimers();
    await this.link.close();
    this.setState('closed', 'stopped');
  }

  /** Restart the silence clock, e.g. after the protocol deliberately waits. */
  touch(): void {
    this.armSilence();
  }

  private async tryOpen(): Promise<void> {
    if (!this.running) return;
    this.retryTimer = undefined;
    this.nextTryAt = null;
    this.setState('connecting', `${this.attempt > 0 ? `reopening ${this.link.describe} (retry ${this.attempt})` : `opening ${this.link.describe}`}`);
    try {
      await this.link.open();
    } catch (err) {
      if (!this.running) return;
      this.setState('closed', `cannot open ${this.link.describe}: ${(err as Error).message}`);
      this.hooks.onOpenFailed?.(err as Error);
      this.scheduleRetry();
      return;
    }
    if (!this.running) {
      await this.link.close();
      return;
    }
    this.attempt = 0;
    this.silent = false;
    this.setState('open', `${this.link.describe} open`);
    this.armSilence();
    this.hooks.onOpen?.();
  }

  private scheduleRetry(): void {
    if (!this.running || !this.settings.reconnect) return;
    const delay = backoffDelay(this.attempt, this.settings.backoff);
    this.attempt++;
    this.nextTryAt = this.clock() + delay;
    this.retryTimer = setTimeout(() => void this.tryOpen(), delay);
  }

  private handleData(bytes: Buffer): void {
    this.lastDataAt = this.clock();
    if (this.silent) {
      this.silent = false;
      this.setState('open', `data again on ${this.link.describe}`);
    }
    this.armSilence();
    this.hooks.onData(bytes);
  }

  private handleClose(err?: Error): void {
    this.clearTimers();
    if (!this.running) return;
    // A link's own error may already name the port (`/dev/ttyUSB0@19200 8E1 closed`): said once, not twice.
    const why = err?.message.startsWith(this.link.describe) ? err.message.slice(this.link.describe.length).replace(/^[:\s]+/, '') : err?.message;
    this.setState('closed', `${this.link.describe} closed${why && why !== 'closed' ? `: ${why}` : ''}`);
    this.hooks.onClosed?.(err);
    this.scheduleRetry();
  }

  private armSilence(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = undefined;
    if (this.settings.silenceMs <= 0 || !this.running) return;
    this.silenceTimer = setTimeout(() => {
      if (!this.running || !this.link.isOpen) return;
      this.silent = true;
      const secs = Math.round(this.settings.silenceMs / 100) / 10;
      this.setState('silent', `no data for ${secs} s on ${this.link.describe}`);
    }, this.settings.silenceMs);
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.retryTimer = undefined;
    this.silenceTimer = undefined;
    this.nextTryAt = null;
  }

  private setState(state: LinkState, detail: string): void {
    this.state_ = state;
    this.hooks.onState(state, detail);
  }
}

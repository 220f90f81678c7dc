// Wraps any SerialLink and records every byte both ways to a CaptureWriter. The wrapped link is
// unchanged: a capture failure (disk full) stops the capture, never the device traffic.
import type { CaptureWriter } from './capture.js';
import type { SerialLink } from './link.js';

export class CapturingLink implements SerialLink {
  constructor(
    private readonly inner: SerialLink,
    private readonly writer: CaptureWriter,
  ) {
    inner.onData((b) => writer.record('rx', b));
  }

  get describe(): string {
    return this.inner.describe;
  }
  get isOpen(): boolean {
    return this.inner.isOpen;
  }
  get listenOnly(): boolean {
    return this.inner.listenOnly;
  }
  open(): Promise<void> {
    return this.inner.open();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  async write(bytes: Uint8Array): Promise<void> {
    await this.inner.write(bytes);
    this.writer.record('tx', bytes);
  }
  onData(listener: (bytes: Buffer) => void): void {
    this.inner.onData(listener);
  }
  onClose(listener: (err?: Error) => void): void {
    this.inner.onClose(listener);
  }
}

// Server-sent events to display clients, bounded: at most maxClients at once; a client whose unsent data backs up
// past maxBufferedBytes (a slow or stalled reader) is disconnected and counted, so it cannot grow the gateway's
// memory. It reconnects by itself (`retry:`) and gets a fresh snapshot. Heartbeat comments keep proxies and the
// client's "connection lost" detection honest.
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Identity } from './auth.js';

export interface SseOptions {
  maxClients: number;
  maxBufferedBytes: number;
  heartbeatS: number;
  retryMs: number;
}

export interface SseClient {
  id: number;
  /** The bed whose waveforms this client wants, if any. */
  bed: string | null;
  identity: Identity | null;
  res: ServerResponse;
  /**
   * Bytes of the first burst (the ward snapshot, a bed's waves) still unsent when it was written: allowed on top of
   * maxBufferedBytes, so that a large ward's snapshot (≈1.4 KB a bed) cannot get every new client dropped at its
   * next event on a slow link. Still bounded: the snapshot's size.
   */
  allowance: number;
}

export class SseHub {
  private readonly clients = new Set<SseClient>();
  private nextId = 1;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: SseOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    metrics.gauge('display_sse_clients', () => this.clients.size);
  }

  get size(): number {
    return this.clients.size;
  }

  start(): void {
    this.timer ??= setInterval(() => {
      for (const c of this.clients) this.write(c, `: heartbeat ${Date.now()}\n\n`);
    }, this.opts.heartbeatS * 1000);
  }

  /** Takes over the response as an event stream; null (and nothing written) when the cap is reached. */
  add(res: ServerResponse, bed: string | null, identity: Identity | null): SseClient | null {
    if (this.clients.size >= this.opts.maxClients) {
      this.metrics.inc('display_sse_refused_total', { reason: 'max-clients' });
      return null;
    }
    const client: SseClient = { id: this.nextId++, bed, identity, res, allowance: 0 };
    this.clients.add(client);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // Tells reverse proxies (nginx) not to buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    res.on('close', () => this.clients.delete(client));
    this.write(client, `retry: ${this.opts.retryMs}\n\n`);
    return client;
  }

  send(client: SseClient, event: string, data: unknown): void {
    this.write(client, frame(event, data));
  }

  /** Ends a client's first burst: what of it is still unsent does not count toward the slow-client limit. */
  started(client: SseClient): void {
    client.allowance = client.res.writableLength;
  }

  /** Serialises once, writes to every client that `filter` accepts. */
  broadcast(event: string, data: unknown, filter?: (c: SseClient) => boolean): void {
    if (this.clients.size === 0) return;
    const text = frame(event, data);
    for (const c of this.clients) if (!filter || filter(c)) this.write(c, text);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const c of this.clients) c.res.destroy();
    this.clients.clear();
  }

  private write(c: SseClient, text: string): void {
    if (!this.clients.has(c)) return;
    if (c.res.writableLength > this.opts.maxBufferedBytes + c.allowance) {
      this.clients.delete(c);
      this.metrics.inc('display_sse_dropped_total', { reason: 'slow-client' });
      this.log.warn({ client: c.id, buffered: c.res.writableLength }, 'display client too slow; disconnected (it will reconnect)');
      c.res.destroy();
      return;
    }
    c.res.write(text);
  }
}

function frame(event: string, data: unknown): string {
  // JSON has no raw newlines, so the data fits on one `data:` line.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

import type { MethodResult } from './types.js';

/**
 * Direct-method calls in flight, keyed by `$rid`. Bounded; each call ends by the device's answer,
 * its timeout, or `rejectAll`.
 */

/** Error for invokeMethod failures; `status` mirrors what IoT Hub's service API reports. */
export class HubMethodError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HubMethodError';
  }
}

export const MAX_PENDING_METHODS = 256;

interface Pending {
  clientId: string;
  resolve: (r: MethodResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class MethodCalls {
  private readonly pending = new Map<string, Pending>();
  private counter = 0;

  /**
   * Starts a call: `publish(rid)` must send the request and return whether it could.
   * Rejects 429 when too many are in flight, 404 when it could not be sent, 504 on timeout.
   */
  start(clientId: string, name: string, timeoutMs: number, publish: (rid: string) => boolean): Promise<MethodResult> {
    if (this.pending.size >= MAX_PENDING_METHODS) return Promise.reject(new HubMethodError(429, 'too many method calls in flight'));
    this.counter += 1;
    const rid = this.counter.toString(16); // IoT Hub uses short hex request ids too
    return new Promise<MethodResult>((resolve, reject) => {
      if (!publish(rid)) {
        reject(new HubMethodError(404, `${clientId} is not connected or not subscribed to $iothub/methods/POST/#`));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new HubMethodError(504, `method ${name} on ${clientId}: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rid, { clientId, resolve, reject, timer });
    });
  }

  /** Completes the call `rid` if it belongs to `clientId`; returns whether one was completed. */
  answer(clientId: string, rid: string, status: number, body: Buffer): boolean {
    const p = this.pending.get(rid);
    if (p === undefined || p.clientId !== clientId) return false; // late or foreign: IoT Hub drops it
    this.pending.delete(rid);
    clearTimeout(p.timer);
    p.resolve({ status, payload: parseBody(body) });
    return true;
  }

  rejectAll(status: number, message: string): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new HubMethodError(status, message));
    }
    this.pending.clear();
  }
}

/** JSON when it parses, the raw text otherwise, null when empty. */
function parseBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

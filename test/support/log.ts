// A pino logger that keeps its lines in memory, so tests can assert on what was logged.
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { REDACTED_FIELDS } from '../../agent/log.js';

export interface CapturedLog {
  log: Logger;
  lines: Record<string, unknown>[];
  find(msg: string | RegExp): Record<string, unknown> | undefined;
}

export function captureLog(level = 'debug'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = pino({ level, redact: { paths: REDACTED_FIELDS, censor: '[redacted]' } }, sink);
  return {
    log,
    lines,
    find: (msg) => lines.find((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(String(l.msg)))),
  };
}

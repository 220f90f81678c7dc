// pino logger: JSON lines for machines (IoT Edge collects stdout), pretty in a terminal.
import { pino, type DestinationStream, type Logger } from 'pino';

export interface LogOptions {
  level: string;
  pretty: 'auto' | 'always' | 'never';
}

/** Field names whose values must never reach a log line (secrets and patient identifiers). */
export const REDACTED_FIELDS = [
  'connectionString',
  '*.connectionString',
  'sharedAccessKey',
  '*.sharedAccessKey',
  'password',
  '*.password',
  'token',
  '*.token',
  'patientId',
  '*.patientId',
];

export function createLogger(opts: LogOptions, destination?: NodeJS.WritableStream): Logger {
  const pretty = opts.pretty === 'always' || (opts.pretty === 'auto' && !destination && process.stdout.isTTY);
  const base = {
    level: opts.level,
    redact: { paths: REDACTED_FIELDS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return destination ? pino(base, destination as DestinationStream) : pino(base);
}

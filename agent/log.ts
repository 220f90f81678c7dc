// pino logger: JSON lines for machines (IoT Edge collects stdout), pretty in a terminal.
// Every line also goes to a small in-memory ring (the `captureDiagnostics` direct method sends the recent ones),
// and the level can be changed while running (`log.level` from the module twin).
import { destination as pinoDestination, multistream, pino, symbols as pinoSymbols, type DestinationStream, type Level, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

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

/** The last log lines, bounded by count and bytes; older lines fall out. */
export class LogRing implements DestinationStream {
  private lines: string[] = [];
  private bytes = 0;

  constructor(
    readonly maxLines = 1000,
    readonly maxBytes = 512 * 1024,
    /** Longer lines are cut (and marked), so one huge line cannot push out all the others. */
    readonly maxLineBytes = 4096,
  ) {}

  write(chunk: string): void {
    for (let line of chunk.split('\n')) {
      if (!line) continue;
      if (line.length > this.maxLineBytes) line = `${line.slice(0, this.maxLineBytes)}…[cut]`;
      this.lines.push(line);
      this.bytes += line.length;
    }
    let drop = 0;
    while (this.lines.length - drop > this.maxLines || (this.bytes > this.maxBytes && this.lines.length - drop > 1)) {
      this.bytes -= this.lines[drop]!.length;
      drop += 1;
    }
    if (drop) this.lines = this.lines.slice(drop);
  }

  /** The most recent lines, oldest first. */
  recent(max = this.maxLines): string[] {
    return this.lines.slice(Math.max(0, this.lines.length - max));
  }
}

interface LoggerExtras {
  ring: LogRing;
  /** Child loggers keep the level they were created with; they are tracked so that a level change reaches them. */
  children: WeakRef<Logger>[];
}

const extras = new WeakMap<Logger, LoggerExtras>();

export function createLogger(opts: LogOptions, destination?: NodeJS.WritableStream): Logger {
  const pretty = opts.pretty === 'always' || (opts.pretty === 'auto' && !destination && process.stdout.isTTY);
  const ring = new LogRing();
  const children: WeakRef<Logger>[] = [];
  const main: DestinationStream = pretty
    ? // Written at once (sync): an async write waits for the event loop, which a store salvage at start blocks for
      // minutes, so its start and progress lines showed only at its end (review rv189 L2).
      pinoPretty({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true })
    : ((destination as DestinationStream | undefined) ?? pinoDestination(1));
  const log = pino(
    {
      level: opts.level,
      redact: { paths: REDACTED_FIELDS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      onChild: (child) => {
        children.push(new WeakRef(child));
        if (children.length > 256) pruneChildren(children);
      },
    },
    // Both streams take every level; the logger's own level decides what is written.
    multistream([
      { stream: main, level: 'trace' },
      { stream: ring, level: 'trace' },
    ]),
  );
  extras.set(log, { ring, children });
  return log;
}

function pruneChildren(children: WeakRef<Logger>[]): void {
  const alive = children.filter((c) => c.deref() !== undefined);
  children.splice(0, children.length, ...alive);
}

/**
 * Writes what the logger holds now. The JSON stream is asynchronous (a slow log pipe must not hold up alarms), so a
 * line logged while the event loop is blocked (a store salvage at start) shows only when the loop turns, unless flushed.
 */
export function flushLogSync(log: Logger): void {
  // pino keeps its destination (here the multistream) under this symbol; it has no public synchronous flush.
  const stream = (log as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[pinoSymbols.streamSym];
  try {
    stream?.flushSync?.();
  } catch {
    // a stream not yet open: written when the loop turns
  }
}

/** The ring of recent lines of a logger made by createLogger (null for other loggers, e.g. in tests). */
export function logRingOf(log: Logger): LogRing | null {
  return extras.get(log)?.ring ?? null;
}

/** Changes the level of a logger and of every child made from it so far (pino children do not follow on their own). */
export function setLogLevel(log: Logger, level: Level): void {
  log.level = level;
  const x = extras.get(log);
  if (!x) return;
  pruneChildren(x.children);
  for (const c of x.children) {
    const child = c.deref();
    if (child) child.level = level;
  }
}

// Classify what modbus-serial (and the socket/serial port under it) reports, so each fault gets the
// right counter, log line and device-state consequence.

export type FaultKind =
  | 'timeout' // no answer within timeoutMs
  | 'exception' // the device answered with a Modbus exception response
  | 'crc' // RTU frame with a bad CRC
  | 'bad-frame' // wrong length / unit / function in the answer
  | 'disconnected' // port or socket not open
  | 'decode' // an answer whose registers do not decode as the map says (e.g. fewer than asked for)
  | 'other';

export interface Fault {
  kind: FaultKind;
  /** Modbus exception code, for kind 'exception'. */
  code?: number;
  /** Short words for logs and status details. */
  message: string;
  /** Counter name for ctx.count. */
  counter: string;
  /** Does this fault mean we cannot talk to the device (counts toward offline)? */
  communication: boolean;
  /** What to check, added to the device's status detail when this fault keeps it offline or in error. */
  hint?: string;
}

/** A CRC error now and then is noise; every answer failing points at the line's settings, or at an echo. */
const CRC_HINT =
  'check the baud rate and parity against the device, the wiring, and whether the RS-485 adapter echoes what it sends (two-wire RS-485 without echo suppression)';
const ECHO_HINT = "the RS-485 adapter receives what it sends: turn on its echo suppression, or use an adapter that has it";

const EXCEPTIONS: Record<number, { name: string; text: string; communication: boolean }> = {
  1: { name: 'illegal_function', text: 'illegal function (device does not support this read)', communication: false },
  2: { name: 'illegal_address', text: 'illegal data address (register not on this device)', communication: false },
  3: { name: 'illegal_value', text: 'illegal data value (e.g. count too large)', communication: false },
  4: { name: 'device_failure', text: 'server device failure', communication: false },
  5: { name: 'acknowledge', text: 'acknowledge (device busy with a long operation)', communication: false },
  6: { name: 'device_busy', text: 'server device busy', communication: false },
  8: { name: 'memory_parity', text: 'memory parity error', communication: false },
  // A gateway answering for a unit behind it that does not answer is, for us, that unit not answering.
  10: { name: 'gateway_path_unavailable', text: 'gateway path unavailable', communication: true },
  11: { name: 'gateway_target_no_response', text: 'gateway target device failed to respond', communication: true },
};

/** Exceptions that say the map asks for something the device does not have: retrying soon will not help. */
export function isConfigException(code: number | undefined): boolean {
  return code === 1 || code === 2 || code === 3;
}

function field(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[key] : undefined;
}

export function classify(err: unknown): Fault {
  const message = String(field(err, 'message') ?? err);
  const modbusCode = field(err, 'modbusCode');
  if (typeof modbusCode === 'number') {
    const e = EXCEPTIONS[modbusCode];
    return {
      kind: 'exception',
      code: modbusCode,
      message: `exception ${modbusCode}: ${e?.text ?? 'unknown exception'}`,
      counter: `exception_${e?.name ?? 'other'}`,
      communication: e?.communication ?? false,
    };
  }
  const errno = field(err, 'errno');
  const name = field(err, 'name');
  if (errno === 'ETIMEDOUT' || name === 'TransactionTimedOutError') {
    // The transport adds what did arrive without being an answer (transport.ts withDetail): "no response" alone
    // would send staff to check power and cabling of a device that is answering.
    const detail = field(err, 'detail');
    const hint = field(err, 'hint');
    return {
      kind: 'timeout',
      message: typeof detail === 'string' ? `no response (timeout): ${detail}` : 'no response (timeout)',
      counter: 'timeouts',
      communication: true,
      ...(typeof hint === 'string' ? { hint } : {}),
    };
  }
  if (message === 'CRC error') return { kind: 'crc', message: 'CRC error in response', counter: 'crc_errors', communication: true, hint: CRC_HINT };
  if (name === 'EchoedRequestError') {
    // Counted with CRC errors whether or not the echo's own CRC was valid: one fault, one counter.
    const crc = field(err, 'crcOk') === true ? '' : ' (CRC error)';
    return { kind: 'crc', message: `echo of the request instead of an answer${crc}`, counter: 'crc_errors', communication: true, hint: ECHO_HINT };
  }
  if (message.startsWith('Data length error') || message.startsWith('Unexpected data error')) {
    return { kind: 'bad-frame', message: `malformed response: ${message}`, counter: 'bad_frames', communication: true };
  }
  // modbus-serial checks a response's length against the request but not its own byte count: a frame whose
  // byte count claims more data than it carries (valid CRC or MBAP length) makes its parser read past the end.
  const code = field(err, 'code');
  if (name === 'RangeError' && (code === 'ERR_OUT_OF_RANGE' || code === 'ERR_BUFFER_OUT_OF_BOUNDS')) {
    return { kind: 'bad-frame', message: `malformed response: byte count exceeds the frame (${message})`, counter: 'bad_frames', communication: true };
  }
  if (name === 'ConnectionLostError') {
    return { kind: 'disconnected', message: `connection lost (${message})`, counter: 'disconnects', communication: true };
  }
  if (message === 'Port Not Open' || name === 'PortNotOpenError') {
    return { kind: 'disconnected', message: 'connection not open', counter: 'disconnects', communication: true };
  }
  return { kind: 'other', message, counter: 'other_errors', communication: true };
}

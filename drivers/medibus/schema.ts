// JSON Schema of the `medibus` driver options (the agent validates config against it before start).
import { CODE_PROFILES } from './codes.js';
import { MODEL_NAMES } from './presets.js';
import { REQUESTS } from './options.js';
import { CAPTURE_OPTIONS_SCHEMA } from '../serial/warnings.js';

export const configSchema: Record<string, unknown> = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: { type: 'string', minLength: 1, description: 'Stable device id (serial number / asset tag).' },
    bed: {
      type: 'string',
      minLength: 1,
      description:
        'Bed this device serves, put on its readings, alarms and status events, e.g. "ICU-3"; use the same name as in `alarms.limits.beds` and `alarms.news2.beds`. Default none: the data is shown under the bed "unassigned" and gets no NEWS2 score. Update it when the device moves.',
    },
    model: { enum: MODEL_NAMES, description: 'Line-setting preset; individual settings below override it. It also chooses `codeProfile`.' },
    codeProfile: {
      enum: CODE_PROFILES,
      description:
        'Which code table the measured data (code page 1) follow, where public tables disagree: "medibus-x" (Infinity V500: 06H inspiratory minute volume, 8BH VTi, DCH heart rate, with MDC terms) or "classic" (06H compliance in mL/mbar, 8BH ASB support volume, both without an MDC term; DCH and 03H kept as raw codes). Default: the `model` preset\'s (v500, v500-38400: medibus-x; every other preset and generic: classic). Set medibus-x for another Medibus.X device.',
    },
    path: { type: 'string', minLength: 1, description: 'A stable name: /dev/serial/by-id/... (or /dev/serial/by-path/..., a udev name; in an IoT Edge module the manifest\'s PathInContainer, e.g. /dev/ttyBED01). /dev/ttyUSB0-style names are warned of at --check and start: they follow the plug order.' },
    baudRate: {
      type: 'integer',
      enum: [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200],
      description:
        'Line speed in bit/s. Default: that of the `model` preset (generic: 19200; apollo, primus, fabius: 9600; v500-38400: 38400). Set it to what the device\'s interface (communication) setup shows when that differs from the preset.',
    },
    dataBits: {
      enum: [7, 8],
      description: "Data bits per character. Default: the `model` preset's, 8 for every preset. Change it only if the device's interface setup says 7.",
    },
    parity: {
      enum: ['none', 'even', 'odd'],
      description:
        "Parity. Default: the `model` preset's (generic, evita4, apollo, primus, fabius: even; evita-xl, v500, v500-38400, zeus: none). Set it to the device's interface setup when that differs.",
    },
    stopBits: {
      enum: [1, 2],
      description: "Stop bits. Default: the `model` preset's, 1 for every preset. Set it to the device's interface setup when that differs.",
    },
    flowControl: {
      enum: ['none', 'rtscts', 'xonxoff'],
      description:
        "Flow control. Default: the `model` preset's, none for every preset: XON/XOFF bytes the device sends are dropped and XOFF is not honoured (the first on a connection is warned about). xonxoff: the kernel suspends sending from the device's XOFF to its XON (no bound: a device that never sends XON gets no command until the session re-initialises). Set rtscts only when the device's interface is set to hardware handshake and the cable carries RTS/CTS.",
    },
    listenOnly: { type: 'boolean', description: 'Never transmit: decode traffic seen on a Y-cable.' },
    ...CAPTURE_OPTIONS_SCHEMA,
    replay: {
      type: 'object',
      additionalProperties: false,
      required: ['file'],
      description:
        'Decode a recording instead of a live port (troubleshooting, vendor support): implies listenOnly, and `path` is then not needed. Default: absent, live port.',
      properties: {
        file: {
          type: 'string',
          minLength: 1,
          description: "The recording: a capture made with captureFile (.jsonl, both directions) or a raw dump of the device's output (.raw / .bin). Required with `replay`.",
        },
        speed: {
          type: 'number',
          minimum: 0,
          description: 'Playback speed: 0 = as fast as possible, 1 = real time, 10 = ten times faster. Default 0. Raw dumps carry no times and always play as fast as possible.',
        },
      },
    },
    requests: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { enum: Object.keys(REQUESTS) },
      description:
        'Medibus data requests sent in turn, one at a time, each cycle: measured1 / measured2 (measured data, code pages 1 / 2: 24H / 2BH), alarms1 / alarms2 / alarms3 (current alarms, code pages 1 / 2 / 3: 27H / 2EH / 23H), lowLimits1 / highLimits1 (alarm limits, code page 1: 25H / 26H), settings (device settings, 29H), text (text messages such as the ventilation mode, 2AH), dateTime (device clock, 28H). Default [measured1, measured2, alarms1, alarms2, settings, text]. Add alarms3 or the limits if the device supports them; fewer requests make each cycle shorter.',
    },
    pollIntervalMs: {
      type: 'integer',
      minimum: 100,
      maximum: 600000,
      description:
        'Pause in milliseconds after each full cycle of `requests` before the next cycle, so values arrive about every (this + the time the cycle takes). Default 1000. Raise it to lighten a slow line (e.g. 9600 bit/s with many requests); keep values arriving well inside the display\'s stale time (10 s) and the "no data" alarm (`alarms.silentAfterS`, 30 s by default; a period at or above the device\'s `alarms.devices.<id>.silentAfterS` is warned of).',
    },
    responseTimeoutMs: {
      type: 'integer',
      minimum: 50,
      maximum: 60000,
      description:
        'Milliseconds to wait for the answer to each request before it is sent again (see `retries`). Default 3000. Must be shorter than quietReinitMs; raise both for a device that answers slowly.',
    },
    retries: {
      type: 'integer',
      minimum: 0,
      maximum: 10,
      description:
        "Times a command that got no answer, a NAK or a corrupt answer is sent again (counted as retries). A data request still unanswered then is skipped for this cycle and asked again at the next (counted as requests_unanswered); the other requests go on. Only a whole cycle's worth of requests unanswered in a row, or an unanswered initialise (ICC), device id (52H) or keep-alive, re-initialises the session (counted as reinitialisations); a realtime set-up leaves the curves off. Default 2. Raise it on a noisy line.",
    },
    keepAliveMs: {
      type: 'integer',
      minimum: 100,
      maximum: 60000,
      description:
        'While cycling, a NOP command is sent when nothing was sent to the device for this many milliseconds, so that a pause between cycles does not leave the link idle. Default 2000. It matters only when pollIntervalMs is longer than this; must be shorter than quietReinitMs; rarely needs changing.',
    },
    quietReinitMs: {
      type: 'integer',
      minimum: 100,
      maximum: 600000,
      description:
        'No message from the device that checks (an answer, a NAK, a command of its own) for this many milliseconds → the session starts over with the initialise command (ICC), ends the alarms it held and raises the technical alarm "not answering". Realtime curve bytes and line noise do not count. Default 10000. Must be longer than responseTimeoutMs and keepAliveMs; not used in listen-only or replay. With silenceMs it sets how soon a device that stops answering is given up (its alarms ended): a larger value delays that (see the driver README).',
    },
    silenceMs: {
      type: 'integer',
      minimum: 0,
      maximum: 3600000,
      description:
        'No bytes at all from the device for this many milliseconds → device status `silent`, which raises the technical alarm "no data" at once; while the agent drives the line, realtime curve bytes do not count (a device whose curves flow while it answers no command is silent too). Default 15000; 0 = off (the agent\'s own no-data check, `alarms.silentAfterS`, still applies). Raise it in listen-only mode if the other host polls less often. When the agent drives the line, keep it longer than quietReinitMs (warned of otherwise).',
    },
    backoff: {
      type: 'object',
      additionalProperties: false,
      description:
        'Delays between attempts to open the serial port when it cannot be opened or was lost (adapter unplugged): doubling from initialMs up to maxMs, each shortened at random by up to 20 %. Default 1000 ms up to 30000 ms.',
      properties: {
        initialMs: { type: 'integer', minimum: 10, maximum: 3600000, description: 'First delay in milliseconds before reopening the port. Default 1000.' },
        maxMs: {
          type: 'integer',
          minimum: 10,
          maximum: 3600000,
          description:
            'Longest delay in milliseconds between attempts: a replugged adapter is found within about this long. Default 30000, or initialMs when that is larger; must be ≥ initialMs. Lower it to reconnect sooner after replugging.',
        },
      },
    },
    realtime: {
      type: 'object',
      additionalProperties: false,
      description:
        'Medibus.X realtime curves (waveforms: airway pressure, flow, volume …), for devices that support them. Default: off. Not decoded in listen-only or replay mode (the scaling comes from our own set-up exchange).',
      properties: {
        enabled: {
          type: 'boolean',
          description: 'Configure and receive realtime curves after the session is set up. Default false. Turn on for a Medibus.X device whose curves should reach the display and the cloud. A device that refuses or ignores the set-up (53H/54H) keeps its numerics and alarms: the curves stay off, the driver health in /healthz says why, and the set-up is tried again later.',
        },
        codes: {
          type: 'array',
          maxItems: 4,
          items: { type: 'integer', minimum: 0, maximum: 255 },
          description:
            'Realtime curve codes to receive, at most 4 (decimal: 0 airway pressure, 1 flow, 3 volume since start of inspiration, 5 O2, 6/7/8 CO2 in mmHg/kPa/%, 28 tracheal pressure …). Default [0, 1, 3]. Each curve adds traffic on the line; curves the device does not offer are skipped (with a warning when it offers none of them).',
        },
        halfOrder: {
          enum: ['low-first', 'high-first'],
          description:
            'Order of the two 6-bit halves of each 12-bit realtime sample on the line. Default low-first (as in public Medibus code; not confirmed by Dräger documentation). Switch to high-first if the curves look like noise while the numbers are right.',
        },
        segmentMs: {
          type: 'integer',
          minimum: 100,
          maximum: 60000,
          description: 'Milliseconds of curve collected into each waveform segment sent on. Default 1000. Shorter segments reach the display sooner, at the cost of more messages.',
        },
      },
    },
    alarmPriority: {
      type: 'object',
      additionalProperties: false,
      description:
        'How the device\'s alarm priorities (1..31, 31 most urgent) map to high / medium / low. Default: high from 21, medium from 11, low below. The band limits are not in the public Dräger sources: check them against the device\'s alarm classes (!!! / !! / !).',
      properties: {
        high: {
          type: 'integer',
          minimum: 1,
          maximum: 31,
          description: 'Lowest Medibus priority reported as high. Default 21.',
        },
        medium: {
          type: 'integer',
          minimum: 1,
          maximum: 31,
          description: 'Lowest Medibus priority reported as medium (below it: low). Default 11; must not exceed high.',
        },
      },
    },
    alarmRepeatMs: {
      type: 'integer',
      minimum: 1000,
      maximum: 3600000,
      description:
        'An alarm the device still lists is sent again as `continue` at most this often, in milliseconds (a change of priority is sent at once; start and end always). Default 60000. Lower it if the cloud side must see active alarms confirmed more often, at the cost of more messages.',
    },
    hostIdentity: {
      type: 'object',
      additionalProperties: false,
      description:
        'What the gateway answers when the device asks for the host\'s identification (command 52H). Defaults: id "0000", name "EdgeGateway", revision "01.00:06.00". Change it only if the device or the site\'s interface documentation expects particular values.',
      properties: {
        id: { type: 'string', maxLength: 4, description: 'Host device id, up to 4 characters. Default "0000".' },
        name: { type: 'string', description: 'Host name sent to the device. Default "EdgeGateway".' },
        revision: { type: 'string', description: 'Host revision string sent to the device. Default "01.00:06.00".' },
      },
    },
  },
};

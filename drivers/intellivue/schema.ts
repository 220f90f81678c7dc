// JSON Schema of the `intellivue` driver options (the agent validates config against it before start).
import { CAPTURE_OPTIONS_SCHEMA } from '../serial/warnings.js';
export const configSchema: Record<string, unknown> = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: { type: 'string', minLength: 1, description: 'Stable monitor id (serial number / asset tag).' },
    bed: {
      type: 'string',
      minLength: 1,
      description:
        'Bed this monitor serves, put on its readings, alarms and status events, e.g. "ICU-7"; use the same name as in `alarms.limits.beds` and `alarms.news2.beds`. Default none: the data is shown under the bed "unassigned" and gets no NEWS2 score. Update it when the monitor moves.',
    },
    path: { type: 'string', minLength: 1, description: 'A stable name: /dev/serial/by-id/... (or /dev/serial/by-path/..., a udev name; in an IoT Edge module the manifest\'s PathInContainer, e.g. /dev/ttyBED01). /dev/ttyUSB0-style names are warned of at --check and start: they follow the plug order.' },
    baudRate: { enum: [115200, 19200], description: 'MIB/RS-232 Data Export: 115200 8N1 (fixed baud rate protocol).' },
    listenOnly: { type: 'boolean', description: 'Never transmit: decode monitor traffic seen on a Y-cable.' },
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
          description: 'The recording: a capture made with captureFile (.jsonl, both directions) or a raw dump of the monitor\'s output (.raw / .bin). Required with `replay`.',
        },
        speed: {
          type: 'number',
          minimum: 0,
          description: 'Playback speed: 0 = as fast as possible, 1 = real time, 10 = ten times faster. Default 0. Raw dumps carry no times and always play as fast as possible.',
        },
      },
    },
    pollIntervalMs: {
      type: 'integer',
      minimum: 100,
      maximum: 60000,
      description:
        'Milliseconds between polls of numerics and alarms; also offered to the monitor as the minimum poll period at association. Default 1000. The polls keep the association alive (the monitor drops it after about 10 s without messages) and the monitor answers at most about one poll per object type per second, so shorter periods gain nothing. Must be shorter than quietReassociateMs and waves.requestPeriodMs; with `single` numerics, a period at or above the device\'s `alarms.devices.<id>.silentAfterS` is warned of. An alarm list unread for max(3 × this, 10 s) makes the alarm information not current; in listen-only mode that is only the starting bound, until the gaps between the other host\'s reads of the list are seen.',
    },
    numerics: {
      enum: ['single', 'extended'],
      description:
        '`single`: one single poll for numerics every pollIntervalMs. `extended`: one extended poll at a time, asking the monitor to send numerics periodically (about once a second) for 10 × pollIntervalMs, renewed one pollIntervalMs before that runs out; answers the monitor still sends to the replaced poll are dropped (counted superseded_results), so no numeric arrives twice. Default single; keep it unless a monitor is known to need extended polls for its numerics.',
    },
    waves: {
      type: 'object',
      additionalProperties: false,
      description: 'Real-time waves (ECG, pleth, pressures, CO2) by extended poll. Default: on, renewed every 10 s.',
      properties: {
        enabled: {
          type: 'boolean',
          description: 'Poll waves. Default true. Turn off when only numerics and alarms are needed (much less traffic on the line); the display then shows no strips for this monitor and the edge model cannot assess its arrhythmia alarms.',
        },
        requestPeriodMs: {
          type: 'integer',
          minimum: 200,
          maximum: 600000,
          description:
            'Milliseconds of waves each extended wave poll asks for (its poll period); the request is renewed before it runs out. Default 10000. Must be longer than pollIntervalMs; rarely needs changing.',
        },
      },
    },
    maxMtu: {
      type: 'integer',
      minimum: 300,
      maximum: 1000,
      description:
        'Largest message in bytes offered to the monitor at association, both directions; answers larger than this come as linked results in several parts. Default 1000, the MIB/RS-232 maximum; rarely needs changing. With waves enabled it must be at least 500 (the programming guide: 256 ms of wave data must fit in one message; 700 with a multiplexed context): a smaller value is refused.',
    },
    associationTimeoutMs: {
      type: 'integer',
      minimum: 50,
      maximum: 60000,
      description:
        'Milliseconds to wait for the answer to an association request (and, once accepted, for the monitor\'s MDS Create event) before asking again. Default 3000. Raise it only for a monitor that answers slowly.',
    },
    refusedRetryMs: {
      type: 'integer',
      minimum: 50,
      maximum: 600000,
      description:
        'Milliseconds to wait after the monitor refused the association before asking again (device status error meanwhile). Default 10000. A refusal usually means the MIB port is not set to Data Export or another client already holds the export; fix that on the monitor rather than shortening this.',
    },
    reassociateDelayMs: {
      type: 'integer',
      minimum: 0,
      maximum: 60000,
      description:
        'Pause in milliseconds before a new association after the old one ended (abort or release by the monitor, quiet line). Default 1000; rarely needs changing.',
    },
    quietReassociateMs: {
      type: 'integer',
      minimum: 200,
      maximum: 600000,
      description:
        'While associated, no frame from the monitor for this many milliseconds means the association is lost: it is aborted and started again. Default 5000. Must be longer than pollIntervalMs; raise it if a monitor pauses its answers longer than that without losing the association.',
    },
    silenceMs: {
      type: 'integer',
      minimum: 0,
      maximum: 3600000,
      description:
        'No bytes at all from the monitor for this many milliseconds → device status `silent`, which raises the technical alarm "no data" at once. Default 10000; 0 = off (the agent\'s own 30 s no-data check still applies). Raise it in listen-only mode if the other host polls less often.',
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
          description: 'Longest delay in milliseconds between attempts: a replugged adapter is found within about this long. Default 30000, or initialMs when that is larger; must be ≥ initialMs. Lower it to reconnect sooner after replugging.',
        },
      },
    },
    pacing: {
      type: 'object',
      additionalProperties: false,
      description:
        'Frames sent to the monitor are limited to maxFrames per windowMs; more wait their turn. Default 4 frames per 128 ms, a limit reported for the IntelliVue RS-232 interface (not confirmed in the programming guide).',
      properties: {
        maxFrames: { type: 'integer', minimum: 1, maximum: 16, description: 'Frames sent within one window at most. Default 4. Lower it if the monitor drops requests.' },
        windowMs: { type: 'integer', minimum: 1, maximum: 10000, description: 'Length of the pacing window in milliseconds. Default 128.' },
      },
    },
    monitorUtcOffsetMinutes: {
      oneOf: [{ type: 'integer', minimum: -840, maximum: 840 }, { const: 'gateway' }],
      description:
        'The monitor\'s clock carries no time zone: its offset from UTC in minutes (e.g. 60 for UTC+1), or "gateway" to take the gateway\'s own time zone, daylight saving included. Default "gateway". Set a number when the monitor\'s clock is kept on another zone than the gateway (e.g. UTC, or not switched for daylight saving); the health detail shows the monitor − gateway clock offset.',
    },
    alarmRepeatMs: {
      type: 'integer',
      minimum: 1000,
      maximum: 3600000,
      description:
        'An alarm the monitor still lists is sent again as `continue` at most this often, in milliseconds timed by the gateway, whatever the monitor\'s clock does (a change of priority is sent at once; start and end always). Default 60000. Lower it if the cloud side must see active alarms confirmed more often, at the cost of more messages. Each start and continue carries it, plus how long an alarm list may go unread (see pollIntervalMs): an alarm not sent again for 3 times that while the monitor sends on ends at the gateway as not confirmed (its end was lost; latched if unanswered).',
    },
  },
};

// JSON Schema of the agent's configuration file. Driver options are validated separately against each
// driver's own schema (drivers/<name>/index.ts), so that a driver carries its options with it.
// `npm run config:docs` renders this into docs/configuration.md; a test keeps the two in step.

import { COMMITTED_MODEL } from '../inference/approved.js';
import { DEFAULT_LIMIT_RULES } from '../alarms/limits.js';
import { unitText } from '../model/labels.js';

/**
 * Each limit rule with the unit its low and high are in and the range it accepts, from the rule table itself:
 * "hr (/min, 0–300), …, temp (Cel = °C, 10–45)" (review rv91 H1: a °F temperature limit passed unnoticed).
 */
const LIMIT_RULE_UNITS = DEFAULT_LIMIT_RULES.map((r) => {
  const unit = unitText(r.unit) === r.unit ? r.unit : `${r.unit} = ${unitText(r.unit)}`;
  return `${r.id} (${unit}${r.range ? `, ${r.range.min}–${r.range.max}` : ''})`;
}).join(', ');

/** What `{ env: NAME }` takes: an environment variable's name. */
export const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';

const secret = {
  description:
    'A secret: a literal string, `{ env: NAME }` to read an environment variable, or `{ file: PATH }` to read a file ' +
    '(e.g. a Docker/IoT Edge secret). Never logged. A literal is accepted but warned of: always for `privacy.pseudonymKey`, and ' +
    'for other secrets when the configuration file can be read by its group or others.',
  oneOf: [
    { type: 'string', minLength: 1 },
    {
      type: 'object',
      // A variable's name only: a value pasted here (a connection string) would be printed as the name of a variable
      // that is not set (review rv60 M4); load.ts words this error without the value.
      properties: { env: { type: 'string', minLength: 1, pattern: ENV_NAME_PATTERN } },
      required: ['env'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: { file: { type: 'string', minLength: 1 } },
      required: ['file'],
      additionalProperties: false,
    },
  ],
} as const;

export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://github.com/bedside-edge-gateway/config.schema.json',
  title: 'Bedside edge gateway agent configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    gateway: {
      type: 'object',
      description: 'Identity of this gateway.',
      additionalProperties: false,
      default: {},
      properties: {
        id: {
          type: 'string',
          pattern: '^[A-Za-z0-9._:-]{1,64}$',
          description: 'Gateway id, sent with every message. Default: the IoT Hub device/module id, else the host name.',
        },
        site: { type: 'string', maxLength: 128, description: 'Free text: hospital, ward or room of this gateway.' },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'The agent\'s own log on stdout (IoT Edge and Docker collect it; `captureDiagnostics` returns the latest lines). ' +
        'It never contains patient identifiers or secrets.',
      properties: {
        level: {
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
          default: 'info',
          description: 'Log level. Logs are JSON lines (pretty-printed when stdout is a terminal).',
        },
        pretty: {
          enum: ['auto', 'always', 'never'],
          default: 'auto',
          description: 'Human-readable logs: `auto` = when stdout is a terminal.',
        },
      },
    },
    store: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Local store-and-forward outbox (SQLite): every reading, alarm and audit record is written here first and kept ' +
        'until the hub acknowledges it (within the size and age limits below), so an uplink outage loses nothing. Cannot ' +
        'be changed from the twin.',
      properties: {
        path: {
          type: 'string',
          minLength: 1,
          default: './data/agent.db',
          description:
            'SQLite file of the store-and-forward outbox. Relative paths are relative to the working directory. `~` and `$VAR` are not ' +
            'expanded (YAML does neither): `--check` refuses them and the start warns. A path that is the configuration file itself is ' +
            'refused; an existing file that is not an SQLite store is warned of by `--check` (the start would move it aside as damaged).',
        },
        synchronous: {
          enum: ['full', 'normal'],
          default: 'full',
          description:
            '`full`: a reading is accepted only once it is on disk, and survives power loss. `normal`: survives a crash ' +
            'of the agent but the last transactions may be lost on power loss; faster on slow SD cards.',
        },
        commitIntervalMs: {
          type: 'integer',
          minimum: 0,
          maximum: 1000,
          default: 10,
          description:
            'Group commit: readings arriving within this window are committed in one transaction (one write to disk). A window that ' +
            'gathers 4096 events commits at once, without waiting for the rest of the window (a flood or a backlog arriving).',
        },
        maxBytes: {
          type: 'integer',
          minimum: 1048576,
          default: 4294967296,
          description:
            'Capacity of the store in bytes (default 4 GiB: roughly 5 days of a 4-bed ward\'s numerics, or 16 hours of ' +
            '32 beds, while the uplink is down). Beyond it, unsent data is evicted oldest first: waveforms, then ' +
            'numerics, alarms and audit last; eviction raises a technical alarm and is counted. A disk that holds less ' +
            'is the limit instead (less ~24 MiB kept free to pack, acknowledge and checkpoint; the database file ' +
            'itself is capped 16 MiB short of the disk); telemetry only is ' +
            'evicted for the disk, never alarms.',
        },
        maxAgeHours: {
          type: 'number',
          exclusiveMinimum: 0,
          default: 168,
          description: 'Unsent telemetry older than this is evicted (alarms are kept until capacity forces them out), with a technical ' +
            'alarm. With forwarding off it is plain retention: removed, counted and logged, no alarm. Keep it longer than ' +
            'the longest hub outage the ward must ride out; under 1 h is warned of.',
        },
        requireEncryptedVolume: {
          type: 'boolean',
          default: false,
          description:
            'Refuse to start unless the store is on a dm-crypt (LUKS) volume. Off by default; when off, a store on an ' +
            'unencrypted volume is reported with a warning at start. See docs/security.md (data at rest).',
        },
        retainSentHours: {
          type: 'number',
          minimum: 0,
          default: 24,
          description:
            'Messages the hub acknowledged are kept this long for the `replay` direct method (backfill). They do not count towards the ' +
            '"store nearly full" alarm; when the store is over its capacity the oldest go first, before any unsent record, so the window may be shorter. ' +
            'Aged by the time that passed since they were acknowledged, so a forward step of the wall clock does not shorten the window.',
        },
      },
    },
    hub: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Azure IoT Hub uplink.',
      properties: {
        mode: {
          enum: ['auto', 'off', 'device', 'module'],
          default: 'auto',
          description:
            '`auto`: IoT Edge module when the IoT Edge environment is present, device mode when a connection string ' +
            'is available (hub.connectionString, else IOTHUB_DEVICE_CONNECTION_STRING), otherwise off; a ' +
            'hub.connectionString that cannot be read (its variable not set) stops the start. `device`: a device ' +
            'connection string. `module`: IoT Edge module (ModuleClient.fromEnvironment). `off`: store only.',
        },
        connectionString: {
          ...secret,
          description:
            'Device (or module) connection string for `device` mode. Default: environment variable ' +
            'IOTHUB_DEVICE_CONNECTION_STRING. A device connection string may carry a ready-made ' +
            'SharedAccessSignature instead of SharedAccessKey: it cannot be renewed, so forwarding stops at its expiry ' +
            '(se); one that expires within 7 days or has expired is warned of (the agent still starts and stores). Its sr must ' +
            'name this device (<HostName or GatewayHostName>/devices/<DeviceId>), else the string is refused; a GatewayHostName is used. ' +
            secret.description,
        },
        caFile: {
          type: 'string',
          description: 'Extra CA certificate (PEM) to trust for the hub or gateway TLS connection, e.g. a nested-edge parent.',
        },
        sasTokenTtlS: {
          type: 'integer',
          minimum: 5,
          maximum: 86400,
          default: 3600,
          description:
            'Device mode with a key: validity of each SAS token made from it. The agent renews tokens before they expire ' +
            '(IoT Hub closes a connection whose token expired) by reconnecting with a new one; nothing is lost meanwhile.',
        },
        maxMessageBytes: {
          type: 'integer',
          minimum: 4096,
          maximum: 250000,
          default: 65536,
          description:
            'Largest message body packed from several records. IoT Hub allows 256 KB; billing counts 4 KB chunks. A single record larger than this (a long device text; records are at most 200 000 bytes) goes alone in a message of its own, never above 256 KB.',
        },
        batchDelayMs: {
          type: 'integer',
          minimum: 0,
          maximum: 60000,
          default: 1000,
          description: 'How long telemetry may wait to fill a message. Alarms never wait.',
        },
        sendTimeoutMs: {
          type: 'integer',
          minimum: 1000,
          default: 30000,
          // No maximum: a file with more must still start (bedside alarms depend on it); it is warned about and capped.
          description:
            'A message not acknowledged by the hub within this time of becoming the oldest one unacknowledged (the window of hub.maxInFlight) is treated as failed: the connection is dropped and every unacknowledged message is resent with the same id. ' +
            'Values above 30000 are used as 30000 (with a warning): the Azure IoT SDK gives a send up after 30 s of its own.',
        },
        retry: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'Back-off while the hub cannot be reached (failed connect or send): the wait doubles from `initialDelayMs` up ' +
            'to `maxDelayMs`, each wait drawn at random between half and all of it so that a ward of gateways does not ' +
            'reconnect in step. Data waits in the store meanwhile.',
          properties: {
            initialDelayMs: {
              type: 'integer',
              minimum: 10,
              maximum: 3600000,
              default: 1000,
              description:
                'First wait in milliseconds after a hub failure (default 1000); the doubling starts over once a message ' +
                'is delivered or a connection stayed up 60 s. Also the pause before retrying after a store read error.',
            },
            maxDelayMs: {
              type: 'integer',
              minimum: 10,
              maximum: 86400000,
              default: 60000,
              description:
                'Longest wait in milliseconds between attempts to reach the hub (default 60000). Lower it to resume ' +
                'forwarding sooner after an outage ends; raise it to save connection attempts on a metered link. Keep it ' +
                '≥ initialDelayMs (it caps it).',
            },
          },
        },
        forwardWaveforms: {
          type: 'boolean',
          default: false,
          description:
            'Store and forward waveform segments. Off by default: a ward of waveforms costs far more hub messages ' +
            'than its numerics. Waveforms still reach the local display and the edge model.',
        },
        maxInFlight: {
          type: 'integer',
          minimum: 1,
          maximum: 64,
          default: 1,
          description:
            'Messages sent before the first is acknowledged. They go out in order on one connection; after a failure ' +
            'every unacknowledged one is resent in order with the same id (more copies for the cloud to drop). More than 1 ' +
            'speeds up draining a backlog over a link with a long round trip (see README, Performance). A send is timed ' +
            '(sendTimeoutMs) from when it is the oldest unacknowledged, so a window a throttled hub acknowledges slowly ' +
            'waits at its pace rather than timing out; but the SDK gives a send up 30 s after it went: keep this below ' +
            '30 × the messages per second the hub acknowledges.',
        },
        encoding: {
          enum: ['records', 'compact'],
          default: 'records',
          description:
            'Message body format. `records`: schema version 1, flat JSON records (what the FHIR templates and ' +
            'docs/cloud-consumers.md expect). `compact`: schema version 2, the same content with numerics grouped ' +
            'per device and time against per-message code tables, several times fewer 4 KB billing chunks; decode ' +
            'with expandCompact (agent/forward/compact.ts) or, in Stream Analytics, docs/stream-analytics/expand-compact.udf.js. ' +
            'The `schemaVersion` property says which a message is.',
        },
        compression: {
          enum: ['none', 'gzip'],
          default: 'none',
          description:
            'Compression of telemetry message bodies. `none` (default): JSON text (content type application/json, ' +
            'encoding utf-8), readable by every consumer and by IoT Hub body routing queries. `gzip`: the same JSON ' +
            'gzipped, with the application property `schemaVersion` = `1-gzip` (`2-gzip` for compact) and no content ' +
            'type or encoding, so routes for plain bodies (`schemaVersion = \'1\'`) do not take it: about 10 ' +
            'times fewer bytes and 4 KB billing chunks for flat records, but only for consumers that decompress (a Stream ' +
            'Analytics input with event compression GZip, or your own reader); not for the MedTech service, and body ' +
            'routing queries no longer apply. Route it apart (docs/cloud-consumers.md). Alarm messages always stay uncompressed.',
        },
      },
    },
    alarms: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Alarm policy of the agent\'s own (secondary, advisory) alarms. Defaults and their sources: agent/alarms/README.md.',
      properties: {
        escalation: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Escalate an alarm still unacknowledged after `afterS` (flagged on the display and in the audit stream).',
          properties: {
            enabled: {
              type: 'boolean',
              default: true,
              description: 'Escalate alarms left unacknowledged (default true). false: no alarm is ever flagged as escalated.',
            },
            afterS: {
              type: 'integer',
              minimum: 5,
              maximum: 3600,
              default: 60,
              description:
                'Seconds an alarm may stay unacknowledged (an audio pause does not stop the clock) before it escalates; default 60, ' +
                'counted from when it first had a priority listed in `priorities` while unacknowledged (a priority wavering high ↔ medium ' +
                'does not restart it; an alarm that rises above the priority it was acknowledged at is unanswered again and counts from ' +
                'that rise). Set it to the response time of your ward\'s alarm policy.',
            },
            priorities: {
              type: 'array',
              items: { enum: ['high', 'medium', 'low'] },
              uniqueItems: true,
              default: ['high'],
              description: 'Priorities that escalate.',
            },
          },
        },
        silentAfterS: {
          type: 'integer',
          minimum: 5,
          maximum: 86400,
          default: 30,
          description:
            'Seconds without any event from a device not listed in `devices` before the technical alarm "no data" ' +
            '(and before its limit alarms end as "no longer monitored"). Default 30. Set it above the longest interval ' +
            'at which the ward\'s senders deliver: an HL7 central station exporting every 60 s needs about 90 (with 30 ' +
            'its "no data" alarm and its beds\' limit alarms would come and go at every export). It applies to every device ' +
            'not listed, serial and Modbus ones too: list a device that should be missed sooner in `devices` with a ' +
            '`silentAfterS` of its own, which it keeps.',
        },
        maxOpenDeviceAlarms: {
          type: 'integer',
          minimum: 8,
          maximum: 1000,
          description:
            'Flood threshold: open alarms from a device\'s own reports (HL7 PCD-04, IntelliVue, …) per device and bed. Default ' +
            '64, well above what a monitor has open for one patient. Nothing is ever ended over it. Past it (a sender with a new ' +
            'alarm id in each message and no end), the technical alarm "<device> has N open alarms on <bed> (more than M): check ' +
            'the device and its sender" (medium) is up for that device and bed until fewer than M are open there; each alarm ' +
            'raised past it is counted (alarm_device_alarms_over_threshold_total) and logged at most once a minute.',
        },
        devices: {
          type: 'object',
          default: {},
          description:
            'Devices that should be sending, by device id (as the driver names it, e.g. the HL7 sender or the serial ' +
            'device\'s `id`): from the agent\'s start, one that sends nothing for `silentAfterS` seconds (5–86400, ' +
            'default `alarms.silentAfterS`, as for every device not listed; raise it for a device that sends less often) raises the technical ' +
            'alarm "no data" — also after a restart, when it has not sent anything yet. `bed` names the bed for a ' +
            'device whose events carry none: its readings are stored, forwarded and shown on that bed, and its alarms ' +
            '(limit rules with that bed\'s settings, NEWS2, its own and technical alarms) are that bed\'s. `silentAfterS` ' +
            'is also how long the agent waits before it ends that device\'s limit and sensor-off alarms on a bed it no ' +
            'longer sends for ("no longer monitored"); the device\'s own alarms (HL7 PCD-04 has no end of its own when a feed ' +
            'stops) end so after the longer of `silentAfterS` and 10 min. An HL7 feed that sends only alarms (an alarm ' +
            'manager) needs a `silentAfterS` above its longest quiet time; a device its driver polls no more often than its ' +
            '`silentAfterS` is warned of, as is a `bed` other than the one the device\'s driver names. Devices not listed are watched from their first event, and after a restart ' +
            'from the start if they were heard from in the day before it through a driver still configured. E.g. ' +
            '`{ "mon-7": { "bed": "bed-7", "silentAfterS": 60 } }`.',
          propertyNames: { title: 'deviceId', description: 'a device id, as its driver names it' },
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: {
              bed: { type: 'string', minLength: 1 },
              silentAfterS: {
                type: 'integer',
                minimum: 5,
                maximum: 86400,
                description:
                  'Seconds without any event from this device before the technical alarm "no data". Default ' +
                  '`alarms.silentAfterS` (30), as for devices not listed. Raise it for a device that sends less often (e.g. only intermittent measurements); ' +
                  'lower it to hear sooner of a lost feed.',
              },
            },
          },
        },
        audioPause: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Audio pause from the display: duration when none is given, and the longest allowed.',
          properties: {
            defaultS: {
              type: 'integer',
              minimum: 10,
              maximum: 600,
              default: 120,
              description:
                'Seconds the audio stays paused after a clinician presses pause on the display (the page sends no duration) ' +
                'and after a device reports an alarm paused at the bedside; default 120. Must be ≤ maxS.',
            },
            maxS: {
              type: 'integer',
              minimum: 10,
              maximum: 600,
              default: 300,
              description:
                'Longest audio pause, in seconds, an API caller may ask for; a longer one is refused. Default 300. Keep it ' +
                '≥ defaultS and ≥ model.policy.recheckS, or the edge model\'s audio holds may be refused.',
            },
          },
        },
        limits: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'Threshold alarms on vital signs (HR, pulse rate, SpO2, RR, NIBP, ABP, temperature). The default limits, delays and ' +
            'priorities are built in (sources in agent/alarms/README.md); set here only what differs for a bed.',
          properties: {
            beds: {
              type: 'object',
              default: {},
              description:
                `Per-bed overrides of the default limit rules, by bed then rule id, each with the unit its limits are in and the range it accepts: ${LIMIT_RULE_UNITS}. ` +
                'E.g. `{ "bed-3": { "spo2": { "low": 88 }, "hr": ' +
                '{ "enabled": false } } }`. Fields: low, high (null = none), priority, delayS, hysteresis, enabled. A low or high ' +
                'outside its rule\'s range (a °F temperature, a digit too many, 0 or 999 meant as "no limit": write null) is used as written ' +
                'but warned of, naming the field, the unit and the likely slip (--check and the start), and a low-priority gateway ' +
                'alarm says so while the configuration holds it. The bed key ' +
                'must be the bed name exactly as the devices report it (the display shows it): a key no bed has reported ' +
                '10 minutes after start is warned about (with a bed name that looks like it) and listed in the agent\'s health (getStatus direct method, unmatchedBedSettings).',
              propertyNames: { title: 'bed', description: 'a bed name, exactly as the devices report it' },
              additionalProperties: {
                type: 'object',
                propertyNames: { title: 'rule', description: 'a limit rule id (listed under alarms.limits.beds)' },
                additionalProperties: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    low: { type: ['number', 'null'], description: "In the rule's unit, within the range it accepts (both listed under alarms.limits.beds; outside it: warned of and alarmed at the gateway); alarms below it. Null: no low limit." },
                    high: { type: ['number', 'null'], description: "In the rule's unit, within the range it accepts (both listed under alarms.limits.beds; outside it: warned of and alarmed at the gateway); alarms above it. Null: no high limit." },
                    priority: { enum: ['high', 'medium', 'low'] },
                    delayS: { type: 'number', minimum: 0, maximum: 300 },
                    hysteresis: { type: 'number', minimum: 0, description: "In the rule's unit: a high alarm ends at high − hysteresis, a low one at low + hysteresis. An end point no reading can reach (beyond the rule's range, e.g. hr high 120 with hysteresis 150, ending at −30; spo2 low 99 with the default 2, ending at 101 %), or a low's end above the high (spo2 low 99 high 100 with the default 2; hr hysteresis 150 with the default 50–120: the low alarm would end only inside the high one), would never end the alarm: the rule runs with a substitute, the rule's default hysteresis or, where even that does not fit, the largest that ends on the range's edge or on the other limit (spo2 low 99: 1, ending at 100; hr low 50 high 52: 2, the low alarm ending at 52, the high at 50), warned of naming the field (--check and the start) and alarmed at the gateway while configured." },
                    enabled: { type: 'boolean' },
                  },
                },
              },
            },
          },
        },
        rhythm: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            "The gateway's own arrhythmia check on streamed ECG (lead II when sent clean, else another clean lead of the device, switched to when the lead judged stops or is not valid for 2 s): asystole (no QRS " +
            'for `asystoleS`), extreme bradycardia (under `bradyBpm` over 5 beats) and extreme tachycardia (over `tachyBpm` ' +
            'over 17 beats), the PhysioNet/CinC 2015 definitions; high-priority alarms of source `rhythm`, judged by the ' +
            'edge model like a monitor\'s. It does not detect VT or VF, nor any other arrhythmia: a VF run mostly raises ' +
            'nothing and may be counted as noise (alarm_rhythm_not_raised_total{reason="noise"}). It is no replacement for a ' +
            'monitor\'s own arrhythmia alarms: where they do not reach the gateway, it is a partial check at most, not a ' +
            'reason to leave them unseen. Only clean ECG is judged (valid, no long gaps, 8 s at least). Off by default: the ' +
            'monitors\' own arrhythmia alarms are primary, and where they reach the gateway this check repeats some of them. ' +
            'Not for paced patients: pacemaker spikes are counted as beats, so a loss of capture (a true asystole) is ' +
            'missed altogether, with no asystole and no bradycardia raised; keep it off on a gateway that monitors ' +
            'paced patients (it has no per-bed switch). An asystole is not raised while another clean lead of the device ' +
            'shows regular QRS. ECG that stops while the device still sends for the bed raises "No ECG from <device>: ' +
            'rhythm check not running" (technical, low) until it comes back; ECG that arrives but goes 30 s without a ' +
            'stretch judged (an exactly constant line, times placed at receipt, gaps) raises "Rhythm check not running on ' +
            'ECG <lead> of <device>: <why>" (technical, low) until 30 s of ECG have arrived from its first stretch judged again ' +
            'with no 30 s unjudged between (not until it has judged throughout them), until it raises a rhythm alarm, or ' +
            'until the ECG is flagged not valid (lead off) for 32 s. An exactly constant line is no signal, not an ' +
            'asystole; a lead off the device does not flag with any noise on it raises ASYSTOLE. ' +
            'Secondary and advisory, as every alarm of the agent.',
          properties: {
            enabled: { type: 'boolean', default: false },
            asystoleS: { type: 'number', minimum: 3, maximum: 10, default: 4, description: 'Seconds without a QRS that are an asystole (default 4).' },
            bradyBpm: { type: 'number', minimum: 20, maximum: 60, default: 40, description: 'Heart rate under which 5 beats are an extreme bradycardia, /min (default 40).' },
            tachyBpm: { type: 'number', minimum: 100, maximum: 250, default: 140, description: 'Heart rate over which 17 beats are an extreme tachycardia, /min (default 140).' },
            pulseVeto: {
              type: 'boolean',
              default: false,
              description:
                'Do not raise an asystole while a clean pleth of the same device shows pulses (2 in the last 3 s). Off by ' +
                'default: on the PhysioNet 2015 asystole windows it cut false asystoles from 18 of 80 to 5, but missed 6 ' +
                'more of the 18 true ones; the edge model, which reads the pleth too, judges a raised asystole instead.',
            },
          },
        },
        news2: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'NEWS2 early-warning score (RCP 2017), computed per bed from the latest RR, SpO2, systolic BP, pulse and ' +
            'temperature (of several current sources for one, the worse: each counts until stale), plus consciousness and air/oxygen as recorded on the display (or assumed): a single parameter ' +
            'scoring 3, a total of 5–6, or 7 and above raises a low, medium or high alarm.',
          properties: {
            beds: {
              type: 'object',
              default: {},
              description:
                'Per-bed NEWS2 settings, e.g. `{ "bed-3": { "spo2Scale": 2 }, "bed-9": { "enabled": false } }`. ' +
                'Scale 2 is a clinical decision (hypercapnic respiratory failure, target 88–92 %); switch NEWS2 off for ' +
                'children and pregnancy. Bed keys as for alarms.limits.beds (a key no bed reports is warned about).',
              propertyNames: { title: 'bed', description: 'a bed name, exactly as the devices report it' },
              additionalProperties: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  enabled: { type: 'boolean' },
                  spo2Scale: { enum: [1, 2] },
                  assume: {
                    type: 'object',
                    additionalProperties: false,
                    description:
                      'What NEWS2 assumes for this bed while nobody has recorded it (no monitor measures it): ' +
                      '`consciousness` A, C, V, P or U (default A) and `oxygen` air or oxygen (default air). The score ' +
                      'and its alarm say "assumed". E.g. `{ "oxygen": "oxygen" }` for a bed whose patient is on oxygen. ' +
                      'A recorded value counts for 12 h; once older, the assumption replaces it only if it scores no ' +
                      'less: a recorded C, V, P, U or oxygen that ages out shows as stale (the observation is due), and ' +
                      'the score is partial, which can keep an alarm but not end it.',
                    properties: {
                      consciousness: { enum: ['A', 'C', 'V', 'P', 'U'] },
                      oxygen: { enum: ['air', 'oxygen'] },
                    },
                  },
                },
              },
            },
            clearAfterS: {
              type: 'number',
              minimum: 0,
              maximum: 3600,
              default: 300,
              description:
                'Seconds a complete NEWS2 score must stay below a trigger level before its alarm ends (a rise is at ' +
                'once): a score on a band edge then gives one alarm, not one every other second. A partial score ' +
                '(parameters missing or stale) counts as below a level only when its highest possible value is (each ' +
                'such parameter at 3, oxygen 2): then the alarm ends, or is lowered to the level that value reaches.',
            },
            priorities: {
              type: 'object',
              additionalProperties: false,
              default: {},
              description:
                'The IEC 60601-1-8 priority of each NEWS2 trigger level: `low-medium` (a single parameter scoring 3; ' +
                'RCP: urgent ward-based response) low by default, `medium` (total 5–6) medium, `high` (7 and above) ' +
                'high. E.g. `{ "low-medium": "medium" }` where the ward answers a single red score promptly.',
              properties: {
                'low-medium': { enum: ['low', 'medium', 'high'] },
                medium: { enum: ['low', 'medium', 'high'] },
                high: { enum: ['low', 'medium', 'high'] },
              },
            },
          },
        },
      },
    },
    display: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Bedside alarm display and local HTTP API (health, Prometheus metrics, ward state, alarm actions). A secondary ' +
        'display: not a medical device. See agent/http/README.md.',
      properties: {
        enabled: {
          type: 'boolean',
          default: false,
          description:
            'Serve the display and the local API. Off by default so that nothing listens unless configured. It is the only ' +
            'way to acknowledge an alarm on the gateway: off, latching alarms (high physiological, and latching technical ' +
            'ones) stay latched for good, and --check warns.',
        },
        host: {
          type: 'string',
          minLength: 1,
          default: '127.0.0.1',
          description:
            'Bind address. Loopback by default: only this machine can connect. For ward screens set the gateway\'s ' +
            'ward-network address (or 0.0.0.0), and turn on `tls` and `viewing: authenticated`. Screens that reach the ' +
            'gateway by a DNS name need that name in `allowedHosts`.',
        },
        port: {
          type: 'integer',
          minimum: 0,
          maximum: 65535,
          default: 8080,
          description:
            'TCP port of the display and local API (default 8080). Change it when another service uses 8080 or the ' +
            'network policy names another port; screens and scrapers then use the new one. 0 = any free port (tests).',
        },
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['certFile', 'keyFile'],
          description: 'Serve HTTPS with this certificate chain and private key (PEM files). Absent: plain HTTP.',
          properties: {
            certFile: {
              type: 'string',
              minLength: 1,
              description:
                'PEM file with the server certificate, then any intermediate certificates. Relative paths are relative ' +
                'to the working directory; checked at start and by `--check`. Replace it before it expires.',
            },
            keyFile: {
              type: 'string',
              minLength: 1,
              description:
                'PEM file with the private key of certFile, unencrypted (no passphrase). Keep it readable by the ' +
                'agent\'s user only.',
            },
          },
        },
        viewing: {
          enum: ['open', 'authenticated'],
          default: 'open',
          description:
            '`open`: anyone who can reach the port sees the ward (no patient identifiers are shown). `authenticated`: ' +
            'viewing, metrics and status need a viewer (or higher) login or token. Actions always need a clinician.',
        },
        users: {
          type: 'array',
          default: [],
          description: 'People who log in on the display. Make a hash with `npx tsx agent/http/hash-password.ts`.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'role', 'passwordHash'],
            properties: {
              name: {
                type: 'string',
                pattern: '^[A-Za-z0-9._@-]{1,64}$',
                description: 'Login name; recorded as the actor of every acknowledgement and audio pause in the audit stream.',
              },
              role: {
                enum: ['viewer', 'clinician', 'admin'],
                description:
                  '`viewer`: sees the ward, metrics and status (needed with `viewing: authenticated`). `clinician`: also acknowledges and pauses alarms and records observations. ' +
                  '`admin`: the same rights as clinician in this version. Give each person the lowest role they need.',
              },
              passwordHash: { type: 'string', pattern: '^scrypt\\$', description: 'scrypt hash, never the password.' },
            },
          },
        },
        tokens: {
          type: 'array',
          default: [],
          description: 'API tokens (e.g. for a Prometheus scraper), stored as SHA-256 hashes. Make one with `npx tsx agent/http/hash-password.ts --token`.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'role', 'tokenHash'],
            properties: {
              name: {
                type: 'string',
                pattern: '^[A-Za-z0-9._@-]{1,64}$',
                description: 'Who uses the token, e.g. `prometheus`; shown as the user in the audit stream and logs.',
              },
              role: {
                enum: ['viewer', 'clinician', 'admin'],
                description: 'Rights of the token, as for users. `viewer` is enough for a metrics scraper or status monitor.',
              },
              tokenHash: {
                type: 'string',
                pattern: '^sha256\\$[0-9a-f]{64}$',
                description:
                  'SHA-256 hash of the token, as printed by `npx tsx agent/http/hash-password.ts --token`; the token itself ' +
                  'is never stored. Remove or replace the entry to revoke the token.',
              },
            },
          },
        },
        sessionTtlS: {
          type: 'integer',
          minimum: 60,
          maximum: 43200,
          default: 900,
          description: 'Lifetime of a session token from `POST /api/login`.',
        },
        login: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description:
            'Login rate limit: after `maxFailures` failed logins from one client address (an IPv6 /64 counts as one ' +
            'address) within `windowS`, that address is refused (429 with Retry-After, even with the right password) ' +
            'until the window passes. After `maxFailuresPerUser` failures at one user name from any address, any ' +
            'address gets its first check at the name in the window only (429 with Retry-After after it): a guesser ' +
            'gets one guess per address he holds. Past either limit, an address a user has logged in from since the ' +
            'start keeps that user\'s check while fewer than 3 logins at the name have failed from it in the window ' +
            '(those 3 may be anyone\'s). Each successful login also answers a device token for that user and browser ' +
            '(signed with a key made at start, valid 30 days; the page keeps it and sends it with that user\'s next ' +
            'login there): a login with a valid token for its name is answered with a new token of the same id (one per ' +
            'browser; the last 16 ids per user are remembered) and judged only by that id\'s failures; after 3 wrong ' +
            'passwords with it in the window it is locked and the limits above apply. So a guesser behind the same ' +
            'proxy or NAT cannot keep a user out of a browser she has logged in from, and whoever copies her tokens gets ' +
            'at most 3 checks per window per browser she has logged in from (at most 16). Tokens made before a restart ' +
            'no longer count. One check at a time per address, and one token check at a time per user name and per ' +
            'token. A password check counts from when it starts; a success forgives no failure.',
          properties: {
            maxFailures: { type: 'integer', minimum: 1, maximum: 100, default: 5, description: 'Failed logins per client address (IPv6: per /64) within the window.' },
            maxFailuresPerUser: {
              type: 'integer',
              minimum: 1,
              maximum: 1000,
              default: 10,
              description: 'Failed logins per user name (from any address) within the window; past it addresses the user logged in from keep their check while fewer than 3 logins at the name have failed from there, any other address gets its first one only. A login with a valid device token of the user is not subject to it (see display.login).',
            },
            windowS: {
              type: 'integer',
              minimum: 1,
              maximum: 86400,
              default: 300,
              description:
                'Seconds over which failed logins are counted, from the first failure; an address or name over the limit ' +
                'stays refused until that window ends. Default 300. Longer slows password guessing but locks out a mistyping user longer.',
            },
            maxSessionsPerUser: {
              type: 'integer',
              minimum: 1,
              maximum: 1000,
              default: 10,
              description:
                'Sessions one user may hold at once (tabs, screens); a further login ends that user\'s oldest. Ward ' +
                'screens that share one login with `viewing: authenticated` need at least one each.',
            },
          },
        },
        allowedOrigins: {
          type: 'array',
          items: { type: 'string', pattern: '^https?://[^/]+$' },
          default: [],
          description:
            'Other origins allowed to call the API from a browser (CORS). Empty: same origin only. Behind a reverse proxy that terminates TLS, the page\'s address (e.g. `https://ward3.example.org`) is another origin than the display\'s own (http): list it here, or every login, Ack and Pause from the page gets 403. Compared as the origin a browser sends (host in lower case, default port dropped: `https://Ward3.example.org:443` allows `https://ward3.example.org`); --check and the start warn of an entry written otherwise, and of one that is no origin (it allows nothing).',
        },
        allowedHosts: {
          type: 'array',
          items: { type: 'string', pattern: '^\\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$' },
          default: [],
          maxItems: 100,
          description:
            'DNS names the display is reached by (what the browser shows in its address bar), e.g. `gw-ward3.hospital.example`; ' +
            'a leading `.` allows that domain and its subdomains (`.ward3.hospital.example`). A request for any other name ' +
            'is refused (421), against DNS rebinding. Always accepted: IP addresses, `localhost`, `host` when it is a ' +
            'name, and this machine\'s host name exactly as the system gives it (not with a domain added).',
        },
        limits: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Bounds, so that slow or hostile clients cannot exhaust the gateway.',
          properties: {
            maxConnections: {
              type: 'integer',
              minimum: 1,
              maximum: 10000,
              default: 64,
              description:
                'Open TCP connections to the display at once, live streams included; further ones are closed and counted ' +
                '(display_connections_refused_total). Default 64. Keep it well above maxSseClients.',
            },
            maxSseClients: {
              type: 'integer',
              minimum: 1,
              maximum: 1000,
              default: 32,
              description:
                'Live-update streams at once, one per open display page (screen or browser tab); further pages get 503. ' +
                'Default 32. Raise it when more pages watch the ward (the agent warns if `screens` outnumber it).',
            },
            maxSseClientsPerAddress: {
              type: 'integer',
              minimum: 1,
              maximum: 1000,
              default: 8,
              description:
                'Live streams from one client address, so that one machine cannot take every slot. Behind a reverse ' +
                'proxy or NAT all screens share one address: raise it to the number of screens (and tabs) there.',
            },
            maxBodyBytes: {
              type: 'integer',
              minimum: 256,
              maximum: 1048576,
              default: 4096,
              description:
                'Largest JSON body of a request (login, acknowledge, audio pause, observations), in bytes; a larger one ' +
                'gets 413. Default 4096, ample for these; rarely needs changing.',
            },
            maxHeaderBytes: {
              type: 'integer',
              minimum: 1024,
              maximum: 65536,
              default: 8192,
              description:
                'Largest request header block, in bytes; a larger one gets 431 and the connection is closed. Default 8192. ' +
                'Raise it only if a reverse proxy or single sign-on adds large headers.',
            },
            headersTimeoutMs: {
              type: 'integer',
              minimum: 1000,
              maximum: 120000,
              default: 10000,
              description:
                'Milliseconds a client has to send its request headers; a slower one gets 408 and is disconnected. Default ' +
                '10000. Must not exceed requestTimeoutMs, or the agent does not start.',
            },
            requestTimeoutMs: {
              type: 'integer',
              minimum: 1000,
              maximum: 300000,
              default: 15000,
              description:
                'Milliseconds a client has to send its whole request (headers and body); a slower one gets 408. Default ' +
                '15000. Does not limit how long a live stream stays open; raise it only for very slow links.',
            },
            keepAliveTimeoutMs: {
              type: 'integer',
              minimum: 100,
              maximum: 120000,
              default: 5000,
              description:
                'Milliseconds an idle connection is kept open for the next request, then closed. Default 5000. Behind a ' +
                'reverse proxy that reuses connections, set it above the proxy\'s idle timeout.',
            },
            sseMaxBufferedBytes: {
              type: 'integer',
              minimum: 4096,
              maximum: 16777216,
              default: 262144,
              description: 'A live-update client whose unsent data exceeds this is disconnected (and counted); it reconnects and gets a fresh snapshot.',
            },
            heartbeatS: {
              type: 'integer',
              minimum: 1,
              maximum: 120,
              default: 5,
              description: 'Seconds between keep-alives on the live feed. A display that hears nothing for two of them (+ 2 s) shows the connection as lost.',
            },
          },
        },
        staleAfterS: {
          type: 'integer',
          minimum: 1,
          maximum: 3600,
          default: 10,
          description: 'A continuous value older than this is shown as stale (greyed, with its age), never as current.',
        },
        intermittentStaleAfterS: {
          type: 'integer',
          minimum: 1,
          maximum: 86400,
          default: 1800,
          description: 'The same for intermittent measurements (NIBP), which arrive every few minutes.',
        },
        trend: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Short trends kept in memory per bed and parameter: one point per `intervalS`, the last `points`.',
          properties: {
            intervalS: {
              type: 'integer',
              minimum: 1,
              maximum: 600,
              default: 5,
              description:
                'Seconds per trend point (the newest value in each interval is kept). Default 5. The trend spans ' +
                '`intervalS` × `points` (30 min by default): raise it for a longer, coarser trend.',
            },
            points: {
              type: 'integer',
              minimum: 10,
              maximum: 2000,
              default: 360,
              description:
                'Trend points kept per bed and parameter. Default 360. More points give a longer trend at the cost of ' +
                'memory (beds × parameters × points).',
            },
          },
        },
        waveformSeconds: {
          type: 'integer',
          minimum: 1,
          maximum: 60,
          default: 8,
          description: 'Seconds of each waveform kept per bed for the live strip.',
        },
        maxBeds: {
          type: 'integer',
          minimum: 1,
          maximum: 4096,
          default: 256,
          description: 'Most beds the display tracks; data for further beds is counted and not shown.',
        },
        screens: {
          type: 'array',
          default: [],
          maxItems: 100,
          description:
            'Ward screens expected to be showing the display (a lost link to a remote alarm display is a technical alarm). ' +
            'A screen names itself by opening the page with `?screen=<name>`; one with no live connection, or not heard from ' +
            '(its page pings every heartbeat), for longer than `graceS` (from the agent\'s start if it never connected) ' +
            'raises a gateway-wide medium technical alarm until it is back. Needs display.enabled. See agent/http/README.md.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name'],
            properties: {
              name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'The screen\'s name, as in its `?screen=`.' },
              graceS: {
                type: 'integer',
                minimum: 5,
                maximum: 3600,
                default: 30,
                description: 'Seconds away (no connection, or no sign of life) before the alarm. Keep it above the page\'s reconnect back-off (up to 15 s), or a short network blip alarms.',
              },
            },
          },
        },
      },
    },
    control: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'Remote management through the IoT Hub module (or device) twin and direct methods, when forwarding to a hub. ' +
        'Desired property `agentConfig` overlays this file (not `hub`, `store`, `control`, `gateway`, `privacy`, `model`, nor `display.users`, `display.tokens`, `display.viewing`, `display.tls`, `display.host`, `display.port`, `display.enabled`, `display.allowedHosts`, `display.limits`, `display.allowedOrigins`, `display.login`, `display.sessionTtlS`; a change that removes or weakens a listener\'s TLS or widens its address is refused, and a listener address from the twin must be an IP address or localhost); see agent/control/README.md.',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Follow the twin and answer direct methods.' },
        reportIntervalS: {
          type: 'integer',
          minimum: 1,
          maximum: 3600,
          default: 60,
          description: 'Reported properties are refreshed this often, and within seconds when a state changes.',
        },
        resyncIntervalS: {
          type: 'integer',
          minimum: 10,
          maximum: 86400,
          default: 900,
          description: 'The full twin is read again this often (and after every connection), so no desired change is missed.',
        },
        twinTimeoutMs: {
          type: 'integer',
          minimum: 500,
          maximum: 120000,
          default: 15000,
          description: 'A twin read or update unanswered for this long means the twin channel is broken: the hub connection is made afresh.',
        },
        diagnosticsMaxBytes: {
          type: 'integer',
          minimum: 10000,
          maximum: 120000,
          default: 100000,
          description: 'Largest `captureDiagnostics` answer (IoT Hub caps a direct-method answer at 128 KB).',
        },
      },
    },
    privacy: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'What leaves the gateway about patients. Logs never contain patient identifiers, whatever is set here.',
      properties: {
        pseudonymizePatientIds: {
          type: 'boolean',
          default: false,
          description:
            'Replace patient identifiers in the store and in forwarded messages by a keyed HMAC-SHA-256 pseudonym ' +
            '(`p_` + 22 base64url characters): the same patient always gets the same pseudonym under the same key, and ' +
            'only the holder of the key can link it back. The bedside display still shows beds, never pseudonyms.',
        },
        pseudonymKey: {
          ...secret,
          description: 'The HMAC key (at least 32 characters), required when pseudonymizePatientIds is on. ' + secret.description,
        },
      },
    },
    model: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'The edge alarm-validation model (ONNX): scores the waveforms before an arrhythmia alarm and annotates the alarm ' +
        'with its probability and verdict. Advisory: an alarm is never dropped. See agent/inference/README.md.',
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Load the model and annotate arrhythmia alarms.' },
        path: {
          type: 'string',
          minLength: 1,
          default: 'models/edge-model.onnx',
          description: 'The .onnx file (its model card `<name>.card.json` beside it). Relative paths are relative to the package root.',
        },
        approved: {
          type: 'array',
          default: [{ ...COMMITTED_MODEL }],
          description:
            'Models the agent may load, by SHA-256 of the .onnx file. A file not listed is refused: the agent runs on rules ' +
            'only and raises a technical alarm. Default: the model committed with this agent version.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['sha256'],
            properties: {
              sha256: {
                type: 'string',
                pattern: '^[0-9a-fA-F]{64}$',
                description:
                  'SHA-256 of the approved .onnx file as 64 hex digits (e.g. from `sha256sum`). Add an entry only for a ' +
                  'model your organisation has validated for use.',
              },
              label: { type: 'string', maxLength: 128, description: 'Human label, e.g. the model version.' },
            },
          },
        },
        policy: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'What a likely-false verdict does.',
          properties: {
            mode: {
              enum: ['annotate', 'delay'],
              default: 'annotate',
              description:
                '`annotate`: attach the verdict only. `delay`: also pause the audio of a likely-false alarm (still shown, ' +
                'still escalates) for up to `holdS`, re-checking every `recheckS`; a likely-true re-check ends the hold. Never ' +
                "held: the agent's own heart-rate limit alarms (the model's figure is indicative only for them) and alarms " +
                'judged on fewer than two ECG leads (the model was validated on two-lead windows), and alarms whose window holds samples the device flagged questionable.',
            },
            holdS: { type: 'integer', minimum: 2, maximum: 60, default: 20, description: 'Longest audio hold by the model, in all, of the alarms of one condition at one bed: over every return of an alarm\'s condition and every new alarm of it there, until a person acknowledges or pauses one of them or none has been present at the bed for 10 min.' },
            recheckS: { type: 'integer', minimum: 2, maximum: 30, default: 10, description: 'Re-check interval during a hold.' },
          },
        },
        maxBeds: {
          type: 'integer',
          minimum: 1,
          maximum: 1024,
          default: 128,
          description:
            "Beds whose last 30 s of ECG/pleth/ABP are kept for the model (about 90 KB each at 250 Hz ECG, 150–270 KB at 500 Hz, up to ~720 KB at 1000 Hz: 128 beds at 500 Hz take ~33 MB). When all places are taken by beds " +
            'still sending, a further bed is refused (logged once, counted, its alarms annotated "not assessed"); a bed silent for 60 s gives up its place.',
        },
      },
    },
    drivers: {
      type: 'array',
      description: 'Device drivers to run. Each entry: a unique name, a type from the driver registry, its options.',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'type'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'Unique instance name.' },
          type: { type: 'string', description: 'Driver type (see drivers/registry.ts).' },
          enabled: {
            type: 'boolean',
            default: true,
            description:
              'Run this driver (default true). false keeps the entry (its options are still checked) but starts nothing, ' +
              'e.g. while a device is away for service; take its devices out of `alarms.devices` too, or they alarm "no data" ' +
              '(switched off live, by the twin or reloadConfig, its other devices\' technical alarms end saying why).',
          },
          options: { type: 'object', default: {}, description: "The driver's own options (see its README)." },
        },
      },
    },
  },
} as const;

/** Names of the config fields that hold a secret (every field of the `secret` type above), for redaction. */
export const SECRET_FIELDS: ReadonlySet<string> = (() => {
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'properties' && value && typeof value === 'object') {
        for (const [name, prop] of Object.entries(value as Record<string, unknown>)) {
          if (prop && typeof prop === 'object' && (prop as { oneOf?: unknown }).oneOf === secret.oneOf) names.add(name);
        }
      }
      walk(value);
    }
  };
  walk(configSchema);
  return names;
})();

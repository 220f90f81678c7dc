// JSON Schema of the simulator's options (the agent validates config against it with Ajv in strict mode,
// applying the defaults). Keep it in step with options.ts.
import { DEFAULTS, EPISODE_KINDS, MEASURABLE, VITALS } from './options.js';

const VITAL_TEXT: Record<(typeof VITALS)[number], string> = {
  hr: 'Heart rate, /min.',
  pr: 'Pulse rate, /min (follows hr unless set).',
  spo2: 'SpO2, %.',
  rr: 'Respiration rate, /min.',
  sys: 'NIBP systolic, mm[Hg] (used at the next cuff measurement).',
  dia: 'NIBP diastolic, mm[Hg].',
  temp: 'Body temperature, Cel.',
};

const vitalValues = {
  type: 'object',
  description: 'Values to hold exactly until released.',
  // Bounded to what a monitor can show, so that --check names an impossible value rather than it being sent as valid.
  properties: Object.fromEntries(VITALS.map((v) => [v, { type: 'number', minimum: MEASURABLE[v][0], maximum: MEASURABLE[v][1], description: VITAL_TEXT[v] }])),
  additionalProperties: false,
};

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    beds: { type: 'integer', minimum: 1, maximum: 512, default: DEFAULTS.beds, description: 'Number of simulated beds, one bedside monitor each.' },
    bedPrefix: { type: 'string', minLength: 1, default: DEFAULTS.bedPrefix, description: 'Bed names are this prefix plus a 2-digit number: ICU-01, ICU-02, …' },
    deviceIdPrefix: { type: 'string', minLength: 1, default: DEFAULTS.deviceIdPrefix, description: 'Device ids are this prefix plus a 2-digit number: sim-monitor-01, …' },
    patientIds: { type: 'boolean', default: DEFAULTS.patientIds, description: 'Give each bed a made-up patient id (sim-patient-NN).' },
    seed: { type: 'integer', default: DEFAULTS.seed, description: 'Seed of the random generator: the same seed gives the same ward.' },
    staggerBeds: {
      type: 'boolean',
      default: DEFAULTS.staggerBeds,
      description: 'Spread the beds’ sending times over the period (up to 10 phases), as unsynchronised monitors do; false = all beds at once.',
    },
    numericPeriodMs: { type: 'integer', minimum: 100, maximum: 60000, default: DEFAULTS.numericPeriodMs, description: 'How often each monitor sends its numerics (HR, SpO2, pulse rate, respiration rate, temperature).' },
    nibpIntervalS: { type: 'integer', minimum: 0, maximum: 86400, default: DEFAULTS.nibpIntervalS, description: 'Seconds between automatic NIBP cuff measurements; 0 = no NIBP.' },
    waveforms: { type: 'boolean', default: DEFAULTS.waveforms, description: 'Send ECG lead II and pleth waveforms.' },
    ecgRateHz: { type: 'integer', minimum: 1, maximum: 2000, default: DEFAULTS.ecgRateHz, description: 'ECG sample rate.' },
    plethRateHz: { type: 'integer', minimum: 1, maximum: 2000, default: DEFAULTS.plethRateHz, description: 'Pleth sample rate.' },
    waveformChunkMs: { type: 'integer', minimum: 100, maximum: 10000, default: DEFAULTS.waveformChunkMs, description: 'Length of each waveform segment sent.' },
    episodesPerHour: { type: 'number', minimum: 0, maximum: 3600, default: DEFAULTS.episodesPerHour, description: 'Average number of spontaneous episodes per bed per hour; 0 = none.' },
    episodeKinds: {
      type: 'array',
      items: { enum: [...EPISODE_KINDS] },
      uniqueItems: true,
      default: [...DEFAULTS.episodeKinds],
      description: 'Which episodes may happen spontaneously.',
    },
    scenario: {
      type: 'array',
      default: [],
      description: 'Scripted changes at given times after start (demos, benchmarks).',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['atS', 'bed'],
        properties: {
          atS: { type: 'number', minimum: 0, maximum: 604800, description: 'Seconds after the driver started (at most 604800, 7 days).' },
          bed: { type: ['integer', 'string'], description: 'Bed number (1 = first) or bed name.' },
          set: vitalValues,
          release: {
            description: 'Release held values: a list of names or "all".',
            oneOf: [{ enum: ['all'] }, { type: 'array', items: { enum: [...VITALS] } }],
          },
          episode: { enum: [...EPISODE_KINDS], description: 'Start an episode.' },
          durationS: { type: 'number', exclusiveMinimum: 0, maximum: 604800, description: 'Length of that episode; random when absent.' },
          target: {
            type: 'number',
            // Spans SpO2's and HR's ranges; which one applies (SpO2 0–100 for a desaturation) checkStep checks.
            minimum: Math.min(MEASURABLE.spo2[0], MEASURABLE.hr[0]),
            maximum: Math.max(MEASURABLE.spo2[1], MEASURABLE.hr[1]),
            description: 'SpO2 nadir of a desaturation (0–100 %) or HR of a tachycardia (0–300 /min), reached as given; random (76–88 %, 130–160 /min) when absent. Only on a step whose episode is desaturation or tachycardia.',
          },
          end: { enum: [...EPISODE_KINDS], description: 'End an episode of this kind.' },
          nibp: { type: 'boolean', description: 'Take an NIBP measurement now.' },
        },
      },
    },
  },
} as const;

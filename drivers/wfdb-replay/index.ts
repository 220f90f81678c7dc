// The `wfdb-replay` driver: streams a WFDB record (PhysioNet) as waveforms and raises its alarm. See README.md.
import type { Driver, DriverClaims, DriverContext, DriverFactory, DriverWarning } from '../types.js';
import { checkRecord, recordWarnings, replayDeviceId, WfdbReplayDriver, type WfdbReplayOptions } from './driver.js';

export { WfdbReplayDriver, loadRecord, type WfdbReplayOptions } from './driver.js';

export const wfdbReplayDriver: DriverFactory<WfdbReplayOptions> = {
  simulated: true,
  type: 'wfdb-replay',
  description: 'Replays a WFDB record (e.g. a PhysioNet 2015 alarm window) as waveform segments, then raises the alarm its header names',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['record'],
    properties: {
      record: { type: 'string', minLength: 1, description: 'Record path without extension (or the .hea file); format-16 signals.' },
      speed: { type: 'number', minimum: 0.1, maximum: 1000, default: 1, description: 'Playback speed: 1 = real time.' },
      segmentMs: { type: 'integer', minimum: 20, maximum: 5000, default: 250, description: 'Record time per waveform segment.' },
      deviceId: { type: 'string', minLength: 1, description: 'Device id; default `wfdb-<file name of the record>` (the .hea file without extension).' },
      bed: {
        type: 'string',
        minLength: 1,
        description: 'Bed put on the replayed waveforms and alarm, e.g. "ICU-01". Default none: shown under the bed "unassigned".',
      },
      alarmAtS: {
        type: 'number',
        minimum: 0,
        maximum: 86400,
        description:
          'Alarm time in the record, in seconds; default its end (the windows-30s alarm onset; a PhysioNet 2015 full record has it at 300 s, warned when longer). A time beyond the end is raised at the end, warned.',
      },
      alarm: {
        type: 'boolean',
        default: true,
        description: 'Raise the alarm named in the header comments (an alarm type it does not know is refused unless false).',
      },
    },
  },
  create(options: WfdbReplayOptions, ctx: DriverContext): Driver {
    checkRecord(options); // throws naming options.record: --check and the start refuse it, exit 2
    return new WfdbReplayDriver(options, ctx);
  },
  /** A record that plays, but not as one might expect (no alarm type, alarmAtS beyond it, a 330-s record's alarm time). */
  warnings(options: WfdbReplayOptions): DriverWarning[] {
    return recordWarnings(options);
  },
  claims(options: WfdbReplayOptions): DriverClaims {
    // Its device id, like any other driver's: two replays (or a replay and a monitor) with one id would hide each
    // other's silence. Its bed, for the check of per-bed alarm settings, and as that bed's monitor, as the simulator's:
    // recorded ECG and the record's alarm on a real patient's bed must be warned of (review rv120 M7).
    const id = replayDeviceId(options);
    const beds = options.bed ? [{ bed: options.bed, field: 'options.bed' }] : [];
    return {
      deviceIds: [{ id, field: options.deviceId !== undefined ? 'options.deviceId' : 'options.record' }],
      beds,
      monitorBeds: beds,
      deviceBeds: beds.map((b) => ({ id, ...b })),
    };
  },
};

export default wfdbReplayDriver;

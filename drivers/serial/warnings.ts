// What --check and each start say of a single-device serial driver's options that work as written but need a person
// (the factory's `warnings`, as drivers/hl7/index.ts does): a capture left on (review rv131 M3); and the capture options'
// schema those drivers share.
import type { DriverWarning } from '../types.js';
import { DEFAULT_CAPTURE_MAX_BYTES, mibText } from './capture.js';

type CaptureOptions = { captureFile?: string; captureMaxBytes?: number };

/** The capture options' JSON Schema, one text for every serial driver that records (spread into its `properties`). */
export const CAPTURE_OPTIONS_SCHEMA: Record<string, unknown> = {
  captureFile: {
    type: 'string',
    minLength: 1,
    description:
      'Record every byte both ways (JSON lines) to this file, to send a problem in; temporary: it holds what the device sends, patient data included, and is warned of at --check and start, so remove it when done. Default: absent, no capture.',
  },
  captureMaxBytes: {
    type: 'integer',
    minimum: 1048576,
    description:
      'Size bound of captureFile in bytes (what an earlier run left in it counts): at it the capture stops, keeping the start of the problem; logged once, counted (capture_stopped_at_bound) and shown in health, and the device is read as usual. Default 268435456 (256 MiB); an IntelliVue with waves writes about 0.6 GB a day.',
  },
};

/**
 * A capture is on. Said because nothing else on the ward shows it: the file holds what the device sends, patient
 * data included, and grows on the store's disk (a full disk evicts unsent data, then stops storage for every bed).
 */
export function captureWarnings(o: CaptureOptions): DriverWarning[] {
  if (!o.captureFile) return [];
  const bound = mibText(o.captureMaxBytes ?? DEFAULT_CAPTURE_MAX_BYTES);
  return [
    {
      field: 'options.captureFile',
      message:
        `capture is on: every byte to and from the device is recorded to ${o.captureFile}, patient data included ` +
        `(demographics, if the device sends them); it grows with what the device sends (about 0.6 GB a day for a monitor sending waves, an IntelliVue's), up to ` +
        `captureMaxBytes (${bound}), taking disk space from the store when in its folder: remove captureFile when the problem is recorded`,
    },
  ];
}

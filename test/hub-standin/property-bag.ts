import { HubStandinError } from './errors.js';

/**
 * IoT Hub MQTT property bags: the url-encoded `key=value&key=value` text at the end of a
 * telemetry topic (and after `?` in `$iothub/...` topics). Keys that start with `$.` are
 * system properties (`$.mid` message id, `$.ct` content type, `$.ce` content encoding,
 * `$.on` output name, `$.cid`, `$.uid`, `$.to`, `$.exp`, `$.ifid`, `$.sub` ...); the rest are
 * application properties. Pure: text in, records out, HubStandinError on bad input.
 */
export interface PropertyBag {
  /** `$.`-prefixed keys, kept with their prefix (e.g. `$.mid`). */
  systemProperties: Record<string, string>;
  /** Application properties. */
  properties: Record<string, string>;
}

/** Longest bag accepted; MQTT topics cannot exceed 65535 bytes anyway. */
export const MAX_PROPERTY_BAG_LENGTH = 65535;

/** Prototype-free record so keys like `__proto__` are stored as plain data. */
export function emptyRecord(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}

function decode(text: string, offset: number, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HubStandinError('property-bag', `bad url-encoding in ${what} ${JSON.stringify(text.slice(0, 40))}`, offset);
  }
}

/**
 * Parses `a=1&b=x%20y&$.mid=42`. An empty string gives empty records. A pair without `=`
 * gets the empty string as value (IoT Hub accepts such keys). Empty keys are rejected.
 * When a key repeats, the last value wins.
 */
export function parsePropertyBag(bag: string): PropertyBag {
  if (bag.length > MAX_PROPERTY_BAG_LENGTH) {
    throw new HubStandinError('property-bag', `longer than ${MAX_PROPERTY_BAG_LENGTH} characters`, MAX_PROPERTY_BAG_LENGTH);
  }
  const result: PropertyBag = { systemProperties: emptyRecord(), properties: emptyRecord() };
  if (bag === '') return result;
  let offset = 0;
  for (const pair of bag.split('&')) {
    if (pair !== '') {
      const eq = pair.indexOf('=');
      const rawKey = eq === -1 ? pair : pair.slice(0, eq);
      const rawValue = eq === -1 ? '' : pair.slice(eq + 1);
      const key = decode(rawKey, offset, 'key');
      const value = decode(rawValue, offset + rawKey.length + 1, `value of ${JSON.stringify(key)}`);
      if (key === '') throw new HubStandinError('property-bag', 'empty property name', offset);
      if (key.startsWith('$.')) result.systemProperties[key] = value;
      else result.properties[key] = value;
    }
    offset += pair.length + 1;
  }
  return result;
}

/** Builds a bag the way IoT Hub and the SDK do (encodeURIComponent on keys and values). */
export function formatPropertyBag(entries: Record<string, string>): string {
  return Object.entries(entries)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

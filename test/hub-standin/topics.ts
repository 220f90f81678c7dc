import { HubStandinError } from './errors.js';
import { parsePropertyBag } from './property-bag.js';

/**
 * IoT Hub MQTT topic names (device → hub direction) and MQTT topic-filter matching.
 * Pure: strings in, typed values out, HubStandinError on malformed input.
 */
export type InboundTopic =
  | { kind: 'telemetry'; deviceId: string; moduleId?: string; bag: string }
  | { kind: 'twin-get'; rid: string }
  | { kind: 'twin-patch-reported'; rid: string }
  | { kind: 'method-response'; status: number; rid: string }
  | { kind: 'unsupported'; topic: string };

/** Splits `path?query` and returns the `$rid` (required) from the query part. */
function ridOf(topic: string, query: string | undefined): string {
  if (query === undefined) throw new HubStandinError('topic', `missing "?$rid=" in ${JSON.stringify(topic)}`);
  const q = parsePropertyBag(query);
  // `$rid` is not `$.`-prefixed, so it lands among the plain properties.
  const rid = q.properties['$rid'];
  if (rid === undefined || rid === '') {
    throw new HubStandinError('topic', `missing $rid in ${JSON.stringify(topic)}`, topic.indexOf('?') + 1);
  }
  return rid;
}

/** The part of a telemetry topic after `.../messages/events/`, minus the SDK's trailing `/`. */
function bagOf(rest: string): string {
  return rest.endsWith('/') ? rest.slice(0, -1) : rest;
}

export function parseInboundTopic(topic: string): InboundTopic {
  if (topic.startsWith('devices/')) {
    const parts = topic.split('/');
    // devices/{d}/messages/events[/bag]
    if (parts[2] === 'messages' && parts[3] === 'events') {
      const deviceId = parts[1] ?? '';
      if (deviceId === '') throw new HubStandinError('topic', 'empty device id', 8);
      const prefix = `devices/${deviceId}/messages/events`;
      return { kind: 'telemetry', deviceId, bag: bagOf(topic.slice(prefix.length + 1)) };
    }
    // devices/{d}/modules/{m}/messages/events[/bag]
    if (parts[2] === 'modules' && parts[4] === 'messages' && parts[5] === 'events') {
      const deviceId = parts[1] ?? '';
      const moduleId = parts[3] ?? '';
      if (deviceId === '' || moduleId === '') throw new HubStandinError('topic', `empty device or module id in ${JSON.stringify(topic)}`);
      const prefix = `devices/${deviceId}/modules/${moduleId}/messages/events`;
      return { kind: 'telemetry', deviceId, moduleId, bag: bagOf(topic.slice(prefix.length + 1)) };
    }
    return { kind: 'unsupported', topic };
  }
  if (topic.startsWith('$iothub/')) {
    const q = topic.indexOf('?');
    const path = q === -1 ? topic : topic.slice(0, q);
    const query = q === -1 ? undefined : topic.slice(q + 1);
    const segs = path.split('/').filter((s) => s !== '');
    if (segs[1] === 'twin' && segs[2] === 'GET' && segs.length === 3) {
      return { kind: 'twin-get', rid: ridOf(topic, query) };
    }
    if (segs[1] === 'twin' && segs[2] === 'PATCH' && segs[3] === 'properties' && segs[4] === 'reported' && segs.length === 5) {
      return { kind: 'twin-patch-reported', rid: ridOf(topic, query) };
    }
    if (segs[1] === 'methods' && segs[2] === 'res' && segs.length === 4) {
      const statusText = segs[3] ?? '';
      const status = Number(statusText);
      if (!/^\d{1,3}$/.test(statusText) || !Number.isInteger(status)) {
        throw new HubStandinError('topic', `method response status ${JSON.stringify(statusText)} is not a number`, '$iothub/methods/res/'.length);
      }
      return { kind: 'method-response', status, rid: ridOf(topic, query) };
    }
    return { kind: 'unsupported', topic };
  }
  return { kind: 'unsupported', topic };
}

/** MQTT 3.1.1 §4.7 topic-filter syntax check. */
export function isValidTopicFilter(filter: string): boolean {
  if (filter === '' || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => {
    if (level.includes('#')) return level === '#' && i === levels.length - 1;
    if (level.includes('+')) return level === '+';
    return true;
  });
}

/** MQTT 3.1.1 §4.7 matching: `#` also matches the parent level, `$`-topics need a literal first level. */
export function topicMatches(filter: string, topic: string): boolean {
  if (!isValidTopicFilter(filter)) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

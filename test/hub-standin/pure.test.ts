import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import azureDevice from 'azure-iot-device';
import { authenticateConnect, type Identity } from './auth.js';
import { HubStandinError } from './errors.js';
import { randomKey } from './hub-standin.js';
import { formatPropertyBag, parsePropertyBag } from './property-bag.js';
import { makeSasToken, parseSasToken, resourceFor, verifySasToken } from './sas.js';
import { toReceivedMessage } from './telemetry.js';
import { isValidTopicFilter, parseInboundTopic, topicMatches } from './topics.js';
import { mergePatch, toPlain, TwinState, validatePatch, type JsonObject } from './twin.js';

/** Pure parts of the stand-in: examples plus fast-check properties and fuzzing. */

function onlyOwnErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof HubStandinError)) throw err;
  }
}

function hasNull(v: unknown): boolean {
  if (v === null) return true;
  return typeof v === 'object' && Object.values(v as object).some(hasNull);
}

const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 200 }));

describe('property bag', () => {
  it('decodes system and application properties the way the SDK encodes them', () => {
    const bag = parsePropertyBag('%24.mid=m%201&%24.ct=application%2Fjson&%24.ce=utf-8&%24.on=telemetry&bed=12%20A&empty=&flag');
    expect({ ...bag.systemProperties }).toEqual({ '$.mid': 'm 1', '$.ct': 'application/json', '$.ce': 'utf-8', '$.on': 'telemetry' });
    expect({ ...bag.properties }).toEqual({ bed: '12 A', empty: '', flag: '' });
  });

  it('reports where a bad escape is', () => {
    expect(() => parsePropertyBag('a=1&b=%zz')).toThrow(HubStandinError);
    try {
      parsePropertyBag('a=1&b=%zz');
    } catch (err) {
      expect((err as HubStandinError).offset).toBe(6);
    }
  });

  it('round-trips any properties (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, unit: 'grapheme' }), fc.string({ unit: 'grapheme' })), (props) => {
        const parsed = parsePropertyBag(formatPropertyBag(props));
        const merged = { ...parsed.systemProperties, ...parsed.properties };
        expect(merged).toEqual({ ...props });
      }),
    );
  });

  it('never throws anything but HubStandinError on arbitrary input (fuzz)', () => {
    fc.assert(fc.property(anyText, (s) => onlyOwnErrors(() => parsePropertyBag(s))));
  });
});

describe('topics', () => {
  it('classifies IoT Hub device → hub topics', () => {
    expect(parseInboundTopic('devices/d1/messages/events/')).toEqual({ kind: 'telemetry', deviceId: 'd1', bag: '' });
    expect(parseInboundTopic('devices/d1/messages/events')).toEqual({ kind: 'telemetry', deviceId: 'd1', bag: '' });
    expect(parseInboundTopic('devices/d1/modules/m1/messages/events/%24.on=out&a=1/')).toEqual({
      kind: 'telemetry',
      deviceId: 'd1',
      moduleId: 'm1',
      bag: '%24.on=out&a=1',
    });
    expect(parseInboundTopic('$iothub/twin/GET/?$rid=42')).toEqual({ kind: 'twin-get', rid: '42' });
    expect(parseInboundTopic('$iothub/twin/PATCH/properties/reported/?$rid=a-b')).toEqual({ kind: 'twin-patch-reported', rid: 'a-b' });
    expect(parseInboundTopic('$iothub/methods/res/200/?$rid=1f')).toEqual({ kind: 'method-response', status: 200, rid: '1f' });
    expect(parseInboundTopic('$iothub/whatever')).toEqual({ kind: 'unsupported', topic: '$iothub/whatever' });
    expect(() => parseInboundTopic('$iothub/twin/GET/')).toThrow(HubStandinError);
    expect(() => parseInboundTopic('$iothub/methods/res/abc/?$rid=1')).toThrow(HubStandinError);
  });

  it('matches MQTT filters (# includes parent level, $ topics need a literal first level)', () => {
    expect(topicMatches('$iothub/twin/res/#', '$iothub/twin/res/200/?$rid=1')).toBe(true);
    expect(topicMatches('$iothub/methods/POST/#', '$iothub/methods/POST/reboot/?$rid=1')).toBe(true);
    expect(topicMatches('$iothub/twin/res/#', '$iothub/twin/res')).toBe(true);
    expect(topicMatches('#', '$iothub/twin/res/200')).toBe(false);
    expect(topicMatches('+/twin/#', '$iothub/twin/x')).toBe(false);
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+/c', 'a/b/c/d')).toBe(false);
    expect(isValidTopicFilter('a/#/b')).toBe(false);
    expect(isValidTopicFilter('a/b+')).toBe(false);
    expect(isValidTopicFilter('')).toBe(false);
  });

  it('a wildcard-free filter matches exactly itself (property)', () => {
    const level = fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !/[#+/\u0000]/.test(s));
    fc.assert(
      fc.property(fc.array(level, { minLength: 1, maxLength: 5 }), fc.array(level, { minLength: 1, maxLength: 5 }), (a, b) => {
        const fa = a.join('/');
        const tb = b.join('/');
        expect(topicMatches(fa, fa)).toBe(true);
        expect(topicMatches(fa, tb)).toBe(fa === tb);
        if (!fa.startsWith('$')) expect(topicMatches(`${a[0] ?? ''}/#`, fa)).toBe(true);
      }),
    );
  });

  it('never throws anything but HubStandinError on arbitrary topics (fuzz)', () => {
    const prefixed = fc.tuple(
      fc.constantFrom('', 'devices/', 'devices/d/messages/events/', 'devices/d/modules/m/messages/events/', '$iothub/twin/GET/', '$iothub/methods/res/', '$iothub/twin/PATCH/properties/reported/?'),
      anyText,
    );
    fc.assert(
      fc.property(prefixed, ([p, s]) => {
        onlyOwnErrors(() => parseInboundTopic(p + s));
        topicMatches(s, p + s);
      }),
    );
  });
});

describe('SAS tokens', () => {
  const key = randomKey();
  const host = 'hub.azure-devices.net';
  const now = 1_800_000_000;

  it('verifies a token made by the SDK itself', () => {
    const sdkToken = azureDevice.SharedAccessSignature.create(host, 'bed-01', key, now + 60).toString();
    expect(verifySasToken(parseSasToken(sdkToken), resourceFor(host, 'bed-01'), key, now)).toBe('ok');
    expect(verifySasToken(parseSasToken(sdkToken), resourceFor(host, 'bed-01'), randomKey(), now)).toBe('bad-signature');
    expect(verifySasToken(parseSasToken(sdkToken), resourceFor(host, 'bed-02'), key, now)).toBe('wrong-resource');
    expect(verifySasToken(parseSasToken(sdkToken), resourceFor(host, 'bed-01'), key, now + 60)).toBe('expired');
  });

  it('module resources and host case', () => {
    const token = parseSasToken(makeSasToken(resourceFor('HUB.azure-devices.net', 'gw', 'edge agent'), key, now + 1));
    expect(token.resource).toBe('HUB.azure-devices.net/devices/gw/modules/edge agent');
    expect(verifySasToken(token, resourceFor(host, 'gw', 'edge agent'), key, now)).toBe('ok');
  });

  it('rejects malformed tokens with HubStandinError', () => {
    for (const bad of ['', 'SharedAccessSignature', 'SharedAccessSignature sr=a&sig=b', 'SharedAccessSignature sr=a&sig=b&se=x', 'Bearer x', 'SharedAccessSignature sr=a&sr=b&sig=c&se=1']) {
      expect(() => parseSasToken(bad), bad).toThrow(HubStandinError);
    }
  });

  it('any tampering with a valid token is caught (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme' }), fc.integer({ min: 1, max: 1000 }), (deviceId, ttl) => {
        const token = makeSasToken(resourceFor(host, deviceId), key, now + ttl);
        const parsed = parseSasToken(token);
        expect(verifySasToken(parsed, resourceFor(host, deviceId), key, now)).toBe('ok');
        expect(verifySasToken({ ...parsed, expiry: parsed.expiry + 1 }, resourceFor(host, deviceId), key, now)).toBe('bad-signature');
      }),
    );
  });

  it('never throws anything but HubStandinError on arbitrary passwords (fuzz)', () => {
    fc.assert(fc.property(anyText, (s) => onlyOwnErrors(() => parseSasToken('SharedAccessSignature ' + s))));
    fc.assert(fc.property(anyText, (s) => onlyOwnErrors(() => parseSasToken(s))));
  });
});

describe('CONNECT authentication', () => {
  const key = randomKey();
  const host = 'hub.azure-devices.net';
  const ids = new Map<string, Identity>([
    ['d1', { deviceId: 'd1', key }],
    ['d1/m1', { deviceId: 'd1', moduleId: 'm1', key }],
  ]);
  const now = 1_800_000_000;
  const pw = (res: string, exp = now + 60): Buffer => Buffer.from(makeSasToken(res, key, exp));

  it('maps problems to CONNACK codes', () => {
    const user = (cid: string): string => `${host}/${cid}/?api-version=2021-04-12&DeviceClientType=x`;
    expect(authenticateConnect({ clientId: 'd1', username: user('d1'), password: pw(resourceFor(host, 'd1')) }, host, ids, now)).toMatchObject({ ok: true });
    expect(authenticateConnect({ clientId: 'd1/m1', username: user('d1/m1'), password: pw(resourceFor(host, 'd1', 'm1')) }, host, ids, now)).toMatchObject({ ok: true });
    expect(authenticateConnect({ clientId: '', username: user(''), password: pw('x') }, host, ids, now)).toMatchObject({ returnCode: 2 });
    expect(authenticateConnect({ clientId: 'nope', username: user('nope'), password: pw('x') }, host, ids, now)).toMatchObject({ returnCode: 5 });
    expect(authenticateConnect({ clientId: 'd1', username: 'd1', password: pw(resourceFor(host, 'd1')) }, host, ids, now)).toMatchObject({ returnCode: 4 });
    expect(authenticateConnect({ clientId: 'd1', username: user('d1'), password: undefined }, host, ids, now)).toMatchObject({ returnCode: 4 });
    expect(authenticateConnect({ clientId: 'd1', username: user('d1'), password: pw(resourceFor(host, 'd1'), now - 1) }, host, ids, now)).toMatchObject({ returnCode: 5 });
    // a device token does not open a module connection
    expect(authenticateConnect({ clientId: 'd1/m1', username: user('d1/m1'), password: pw(resourceFor(host, 'd1')) }, host, ids, now)).toMatchObject({ returnCode: 5 });
  });
});

describe('twin merge patch', () => {
  it('merges objects, deletes on null, replaces scalars and arrays', () => {
    const out = mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1, 2] }, { a: null, b: { c: null, x: 'y' }, e: [3], f: true });
    expect(toPlain(out)).toEqual({ b: { d: 3, x: 'y' }, e: [3], f: true });
  });

  it('versions start at 1 and bump per patch', () => {
    const t = new TwinState({ desired: { k: 1 } });
    expect(t.getResponseBody()).toEqual({ desired: { k: 1, $version: 1 }, reported: { $version: 1 } });
    expect(t.patchReported({ r: 1 })).toBe(2);
    expect(t.patchDesired({ k: 2 })).toBe(2);
    expect(() => t.patchReported([1])).toThrow(HubStandinError);
    expect(() => t.patchReported({ $version: 1 })).toThrow(HubStandinError);
    expect(t.snapshot().reportedVersion).toBe(2);
  });

  const jsonObject = fc.dictionary(
    fc.string({ minLength: 1, maxLength: 5 }).filter((k) => !k.startsWith('$')),
    fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 5 }), fc.dictionary(fc.string({ minLength: 1, maxLength: 3 }).filter((k) => !k.startsWith('$')), fc.oneof(fc.constant(null), fc.integer()))),
    { maxKeys: 6 },
  ) as fc.Arbitrary<JsonObject>;

  it('is idempotent and never leaves nulls (property)', () => {
    fc.assert(
      fc.property(jsonObject, jsonObject, (base, patch) => {
        const clean = mergePatch({}, base);
        const once = mergePatch(clean, patch);
        expect(toPlain(mergePatch(once, patch))).toEqual(toPlain(once));
        expect(hasNull(once)).toBe(false);
      }),
    );
  });

  it('validatePatch throws only HubStandinError on arbitrary JSON values (fuzz)', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 12 }), (v) => onlyOwnErrors(() => validatePatch(v))));
  });
});

describe('telemetry message id', () => {
  const input = (bag: string) => ({ seq: 1, deviceId: 'd', moduleId: undefined, bag, topic: 't', payload: Buffer.from('{}'), qos: 1 as const, dup: false, retain: false, connectionId: 1 });
  it('accepts the characters IoT Hub allows and refuses others', () => {
    expect(toReceivedMessage(input(`%24.mid=${encodeURIComponent("a1-:.+%_#*?!(),=@;$'")}`)).messageId).toBe("a1-:.+%_#*?!(),=@;$'");
    expect(toReceivedMessage(input('%24.mid=0a1b-t-12.r1')).messageId).toBe('0a1b-t-12.r1');
    for (const bad of ['0a1b-t-12~r1', 'a b', 'ä', 'x'.repeat(129)]) {
      expect(() => toReceivedMessage(input(`%24.mid=${encodeURIComponent(bad)}`))).toThrow(HubStandinError);
    }
  });
});

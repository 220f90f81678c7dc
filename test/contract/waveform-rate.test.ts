// Review rv146 F1: an HL7 NA waveform without a sample rate (the public corpus's ipf_3: no MDC_ATTR_SAMP_RATE facet
// row) goes out with sampleRateHz 0 and sample-rate-unknown; the body it travels in must be valid by the published
// schema, or a validating consumer refuses the whole message, the valid SpO2 beside it too.
import { expect, it } from 'vitest';
import { toRecord } from '../../agent/ingest.js';
import { envelope } from '../../agent/forward/wire.js';
import { Outbox } from '../../agent/store/outbox.js';
import { mapMessage } from '../../drivers/hl7/pcd01.js';
import { parseMessage, readHeader } from '../../drivers/hl7/protocol/index.js';
import { messageSchemaErrors } from '../support/message-schema.js';

it('an HL7 waveform of unknown rate, forwarded, is sampleRateHz 0 with sample-rate-unknown in a body valid by the schema', () => {
  const text = [
    'MSH|^~\\&|AcmeInc^ACDE48234567ABCD^EUI-64||||20090713090030+0000||ORU^R01^ORU_R01|MSGID1234|P|2.6|||NE|AL',
    'PID|||789567^^^Imaginary Hospital^PI ||Doe^John^Joseph^^^^L^A|||M',
    'OBR|1|AB12345^AcmeAHDInc^ACDE48234567ABCD^EUI-64|CD12345^AcmeAHDInc^ACDE48234567ABCD^EUI-64|182777000^monitoring of patient^SNOMED-CT|||20090813095715+0000',
    'OBX|1||528388^MDC_DEV_SPEC_PROFILE_PULS_OXIM^MDC|1|||||||X|||20090715070707+0000||||0123456789ABCDEF^EUI-64',
    'OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.1|80.5|262688^MDC_DIM_PERCENT^MDC|||||R|||20090715070707+0000',
    'OBX|3|NA|150452^MDC_PULS_OXIM_PLETH^MDC|1.0.0.2|12^123^24^12^234^55^66^77^88^99|262656^MDC_DIM_DIMLESS^MDC|||||R|||20090715070707+0000',
  ].join('\r');
  const m = parseMessage(text);
  const events = mapMessage(m, readHeader(m), { source: 'icu-mllp', receivedAt: Date.UTC(2026, 0, 1, 8, 0, 1) }).events;
  const outbox = new Outbox(':memory:');
  try {
    outbox.append(events.map((e) => toRecord(e, true)).filter((r) => r !== null));
    const body = JSON.parse(outbox.pack('telemetry', 262144, envelope('ward3-gw'))!.body) as { records: Record<string, unknown>[] };
    expect(body.records.map((r) => r.type)).toEqual(['numeric', 'waveform']);
    expect(body.records[1]).toMatchObject({ sampleRateHz: 0, quality: 'questionable', qualityReasons: ['sample-rate-unknown'] });
    expect(messageSchemaErrors(body)).toEqual([]);
  } finally {
    outbox.close();
  }
});

// What the FHIR mapping templates are meant to do, stated independently of them: which agent records become
// which Observations. LOINC codes as used for these vital signs by HL7/German MII ICU profiles and other public
// FHIR code (looked up for this project; pulse rate from the oximeter has no LOINC code here, MDC only).
export const MDC_SYSTEM = 'urn:iso:std:iso:11073:10101';
export const LOINC_SYSTEM = 'http://loinc.org';

export interface Expected {
  typeName: string;
  refid: string;
  ucum: string;
  loinc: string[];
}

export const EXPECTED: Record<number, Expected> = {
  147842: { typeName: 'heartrate', refid: 'MDC_ECG_HEART_RATE', ucum: '/min', loinc: ['8867-4'] },
  149530: { typeName: 'pulserate-oximetry', refid: 'MDC_PULS_OXIM_PULS_RATE', ucum: '/min', loinc: [] },
  150456: { typeName: 'spo2', refid: 'MDC_PULS_OXIM_SAT_O2', ucum: '%', loinc: ['59408-5', '2708-6'] },
  151562: { typeName: 'resprate', refid: 'MDC_RESP_RATE', ucum: '/min', loinc: ['9279-1'] },
  150021: { typeName: 'nibp-systolic', refid: 'MDC_PRESS_BLD_NONINV_SYS', ucum: 'mm[Hg]', loinc: ['8480-6'] },
  150022: { typeName: 'nibp-diastolic', refid: 'MDC_PRESS_BLD_NONINV_DIA', ucum: 'mm[Hg]', loinc: ['8462-4'] },
  150023: { typeName: 'nibp-mean', refid: 'MDC_PRESS_BLD_NONINV_MEAN', ucum: 'mm[Hg]', loinc: ['8478-0'] },
  150364: { typeName: 'bodytemp', refid: 'MDC_TEMP_BODY', ucum: 'Cel', loinc: ['8310-5'] },
  // The other terms NEWS2 scores (review rv125 L3; agent/alarms/news2.ts METRIC_PARAMS, BODY_TEMPERATURE). Respiration
  // rate by any method is LOINC 9279-1, and the generic pulse rate is 8867-4 as heart rate is (the FHIR vital-signs
  // heart-rate profile's code). A temperature at any site is 8310-5, the one code of the FHIR vital-signs body
  // temperature value set; the site is in the MDC code.
  149514: { typeName: 'pulserate', refid: 'MDC_PULS_RATE', ucum: '/min', loinc: ['8867-4'] },
  151570: { typeName: 'resprate-airway', refid: 'MDC_AWAY_RESP_RATE', ucum: '/min', loinc: ['9279-1'] },
  151578: { typeName: 'resprate-impedance', refid: 'MDC_TTHOR_RESP_RATE', ucum: '/min', loinc: ['9279-1'] },
  150344: { typeName: 'bodytemp-unspecified-site', refid: 'MDC_TEMP', ucum: 'Cel', loinc: ['8310-5'] },
  150368: { typeName: 'bodytemp-core', refid: 'MDC_TEMP_CORE', ucum: 'Cel', loinc: ['8310-5'] },
  150372: { typeName: 'bodytemp-esophageal', refid: 'MDC_TEMP_ESOPH', ucum: 'Cel', loinc: ['8310-5'] },
  150380: { typeName: 'bodytemp-nasopharyngeal', refid: 'MDC_TEMP_NASOPH', ucum: 'Cel', loinc: ['8310-5'] },
  150392: { typeName: 'bodytemp-tympanic', refid: 'MDC_TEMP_TYMP', ucum: 'Cel', loinc: ['8310-5'] },
  188420: { typeName: 'bodytemp-rectal', refid: 'MDC_TEMP_RECT', ucum: 'Cel', loinc: ['8310-5'] },
  188424: { typeName: 'bodytemp-oral', refid: 'MDC_TEMP_ORAL', ucum: 'Cel', loinc: ['8310-5'] },
  188428: { typeName: 'bodytemp-ear', refid: 'MDC_TEMP_EAR', ucum: 'Cel', loinc: ['8310-5'] },
  188452: { typeName: 'bodytemp-axillary', refid: 'MDC_TEMP_AXILLA', ucum: 'Cel', loinc: ['8310-5'] },
  // NIBP coded as cuff pressure, as Mindray and Comen monitors send it over HL7 (review rv126 H2): the same LOINC
  // codes as the noninvasive terms; the MDC code tells the two codings apart.
  150301: { typeName: 'nibp-systolic-cuff', refid: 'MDC_PRESS_CUFF_SYS', ucum: 'mm[Hg]', loinc: ['8480-6'] },
  150302: { typeName: 'nibp-diastolic-cuff', refid: 'MDC_PRESS_CUFF_DIA', ucum: 'mm[Hg]', loinc: ['8462-4'] },
  150303: { typeName: 'nibp-mean-cuff', refid: 'MDC_PRESS_CUFF_MEAN', ucum: 'mm[Hg]', loinc: ['8478-0'] },
};

/** A record of a message body, as far as the mapping cares. */
export interface WireNumeric {
  type: string;
  deviceId: string;
  patientId?: string;
  code: number | null;
  value: unknown;
  unit: string;
  deviceTime: string | null;
  receivedAt: string;
  quality: string;
  setting?: boolean;
}

/**
 * The rule the templates implement: a numeric measurement (not a device setting) with a known code, quality
 * `valid`, a number for a value and the unit the Observation states becomes one Observation; anything else (a
 * setting, not valid, no value, another unit, an unknown code, alarms, status) becomes none — it stays in the hub's stream, it is not turned into a
 * clinical resource that would hide its quality.
 */
export function shouldMap(r: WireNumeric): Expected | null {
  if (r.type !== 'numeric' || r.code === null) return null;
  const e = EXPECTED[r.code];
  if (!e || r.setting === true || r.quality !== 'valid' || typeof r.value !== 'number' || r.unit !== e.ucum) return null;
  return e;
}

// OBX-6 units: MDC unit codes → UCUM. Extends agent/model/mdc.ts UNITS with units that appear in
// IHE PCD messages (codes taken from the IHE PCD TF / WCM / ACM examples in the test corpus, and IEEE 11073-10101
// partition 4 for °F and kPa: term codes 4416 and 3843, context-free 4 × 65536 + term). The UCUM spellings of °F and
// kPa are those agent/alarms/units.ts converts, so such temperatures and pressures reach the limit rules.
import type { MdcCode, Unit } from '../../agent/model/reading.js';
import { UNITS, canonicalUcum, mdcByRefid, unitByMdc } from '../../agent/model/mdc.js';

const u = (refid: string, code: number, ucum: string): Unit => ({ ucum, mdc: { code, refid } });

const EXTRA: Unit[] = [
  u('MDC_DIM_MILLI_SEC', 264338, 'ms'),
  u('MDC_DIM_SEC', 264320, 's'),
  u('MDC_DIM_MIN', 264352, 'min'),
  u('MDC_DIM_PER_SEC', 264608, '/s'),
  u('MDC_DIM_PULS_PER_MIN', 264896, '/min'),
  u('MDC_DIM_MILLI_L_PER_HR', 265266, 'mL/h'),
  u('MDC_DIM_MICRO_G_PER_KG_PER_MIN', 265619, 'ug/kg/min'),
  u('MDC_DIM_KILO_G', 263875, 'kg'),
  u('MDC_DIM_G', 263872, 'g'),
  u('MDC_DIM_MILLI_G', 263890, 'mg'),
  u('MDC_DIM_MILLI_G_PER_DL', 264274, 'mg/dL'),
  u('MDC_DIM_MILLI_G_PER_ML', 264306, 'mg/mL'),
  u('MDC_DIM_FAHR', 266560, '[degF]'),
  u('MDC_DIM_KILO_PASCAL', 265987, 'kPa'),
];
const extraByCode = new Map(EXTRA.map((x) => [(x.mdc as MdcCode).code, x]));
const extraByRefid = new Map(EXTRA.map((x) => [(x.mdc as MdcCode).refid, x]));

/** Unit for an MDC unit code (or refid when the code is 0/absent); undefined when unknown. */
export function mdcUnit(code: number, refid: string): Unit | undefined {
  if (code > 0) return unitByMdc(code) ?? extraByCode.get(code);
  // The core units (agent/model/mdc.ts UNITS: %, /min, mmHg, °C, …) by refid too, as OBX-3 is read by refid alone.
  const core = mdcByRefid(refid);
  return (core && unitByMdc(core.code)) ?? extraByRefid.get(refid);
}

/**
 * Spellings HL7 senders use for a unit of the agent's table beside agent/model/mdc.ts UNIT_SPELLINGS (review rv178
 * L4): `cmH2O` is no UCUM code, and IntelliVue sends `cm[H2O]` for the same pressure. `cmH20` (a zero) is a common slip.
 */
const HL7_SPELLINGS: Readonly<Record<string, string>> = {
  cmH2O: UNITS.CM_H2O.ucum,
  'cm H2O': UNITS.CM_H2O.ucum,
  cmH20: UNITS.CM_H2O.ucum,
};

/** The agent's UCUM code for a unit spelling (its table, then HL7_SPELLINGS); any other text as it is. */
function canonical(spelling: string): string {
  return Object.hasOwn(HL7_SPELLINGS, spelling) ? (HL7_SPELLINGS[spelling] as string) : canonicalUcum(spelling);
}

/** An MDC unit refid written beside a number it is not (`266016^MDC_DIM_KILO_PASCAL`): what to say, or undefined. */
function refidConflict(n: number, refid: string): string | undefined {
  if (n === 0 || !/^MDC_/.test(refid)) return undefined;
  const byRefid = mdcUnit(0, refid);
  if (!byRefid || (byRefid.mdc as MdcCode).code === n) return undefined;
  const byNumber = mdcUnit(n, '');
  return byNumber
    ? `${n}^${refid}: the agent's table has ${n} as ${(byNumber.mdc as MdcCode).refid} (${byNumber.ucum}), which is used`
    : `${n}^${refid}: the agent's table has ${refid} as ${(byRefid.mdc as MdcCode).code}; the unit is kept as sent`;
}

/** OBX-6.2 texts that name no unit, only that the field is one (seen in the shared corpus: `mmHg^Unit`). */
const GENERIC_UNIT_TEXT = /^(units?|unit of measure|uom)$/i;

/**
 * Unit from OBX-6 components (code^text^system^altCode^altText^altSystem).
 * MDC → UCUM by table; UCUM kept as is; anything unknown becomes a UCUM annotation `{...}` so the
 * original text survives without pretending to be a real unit. Empty → '' (none given).
 */
export function unitFromCwe(c: string[]): Unit {
  return readUnit(c).unit;
}

/**
 * unitFromCwe, and the sender's spelling when it was another spelling of a unit the agent knows (`{beat}/min`,
 * `mmHg`: agent/model/mdc.ts UNIT_SPELLINGS), which the unit then carries in the agent's spelling (`/min`, `mm[Hg]`):
 * one quantity, one unit spelling, for the rules and for cloud consumers (review rv125 M2). Never another unit.
 */
export function readUnit(c: string[]): { unit: Unit; asSent?: string; conflict?: string } {
  const triplets = [
    { code: (c[0] ?? '').trim(), text: (c[1] ?? '').trim(), system: (c[2] ?? '').trim().toUpperCase() },
    { code: (c[3] ?? '').trim(), text: (c[4] ?? '').trim(), system: (c[5] ?? '').trim().toUpperCase() },
  ];
  let ucum: string | undefined;
  let mdc: MdcCode | undefined;
  let mdcLike = false;
  /** A UCUM triplet's code, and which triplet; the MDC unit's UCUM spelling, and which triplet (to compare them). */
  let sentUcum: { code: string; at: number } | undefined;
  let mdcKnown: { ucum: string; at: number } | undefined;
  let conflict: string | undefined;
  for (const [i, t] of triplets.entries()) {
    if (t.system === 'UCUM' && t.code && ucum === undefined) {
      ucum = t.code;
      sentUcum = { code: t.code, at: i };
    }
    // No coding system is read as MDC when the unit is one we know, as OBX-3 is (pcd01.ts isMdcSystem): PCD senders
    // that leave out OBX-3.3 leave out OBX-6.3 too. Only the first triplet, as only OBX-3.1-3 is read.
    const noSystem = i === 0 && t.system === '';
    if (i === 0) mdcLike = t.system === 'MDC' || (noSystem && /^\d+$/.test(t.code));
    if ((t.system === 'MDC' || noSystem) && mdc === undefined && (t.code || t.text)) {
      const n = /^\d+$/.test(t.code) ? Number(t.code) : 0;
      // The number wins over a refid that contradicts it, as in OBX-3 (mdcUnit reads the number first); said.
      conflict ??= refidConflict(n, t.text);
      const known = mdcUnit(n, t.text);
      if (known) {
        mdc = known.mdc;
        mdcKnown = { ucum: known.ucum, at: i };
        if (ucum === undefined) ucum = known.ucum;
      } else if (n > 0 && !noSystem) {
        mdc = { code: n, refid: t.text };
      }
    }
  }
  if (sentUcum && mdcKnown && canonical(sentUcum.code) !== mdcKnown.ucum) {
    // Two units in one OBX-6 (`kPa^kPa^UCUM^266016^MDC_DIM_MMHG^MDC`), review rv178 L4: the first triplet is the unit,
    // never one object with both; the caller marks the value questionable.
    conflict ??= `${sentUcum.code} (UCUM) and ${(mdc as MdcCode).refid || (mdc as MdcCode).code} (MDC, ${mdcKnown.ucum}) are different units; the ${sentUcum.at < mdcKnown.at ? 'UCUM' : 'MDC'} one, sent first, is used`;
    if (sentUcum.at < mdcKnown.at) {
      mdc = undefined;
      ucum = sentUcum.code;
    } else ucum = mdcKnown.ucum;
  }
  let asSent: string | undefined;
  if (ucum === undefined) {
    // The text says the unit (`CD:289^mg/dL`, `999999^MDC_DIM_X`), except when it is a mere label (`mmHg^Unit`):
    // then the identifier. Either falls back to the other.
    const first = triplets[0] as { code: string; text: string };
    const label = !mdcLike && GENERIC_UNIT_TEXT.test(first.text) ? first.code || first.text : first.text || first.code;
    const known = canonical(label);
    if (known !== label) {
      asSent = label;
      ucum = known;
    } else {
      ucum = label === '' ? '' : `{${label}}`;
    }
  } else if (canonical(ucum) !== ucum) {
    asSent = ucum;
    ucum = canonical(ucum);
  }
  const unit = mdc ? { ucum, mdc } : { ucum };
  return { unit, ...(asSent !== undefined && { asSent }), ...(conflict !== undefined && { conflict }) };
}

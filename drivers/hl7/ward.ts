// Generated PCD-01 ward traffic (plausible vitals per bed) for the sender CLI and the benchmark.
import { formatDtm } from './protocol/dtm.js';
import { encodeSegments, segment } from './protocol/encode.js';

export interface BedState {
  bed: number;
  hr: number;
  spo2: number;
  rr: number;
  sys: number;
  dia: number;
  temp: number;
}

/** Small deterministic PRNG so runs are repeatable. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

export function initialBeds(n: number, rand: () => number): BedState[] {
  return Array.from({ length: n }, (_, i) => ({
    bed: i + 1,
    hr: 60 + rand() * 40,
    spo2: 94 + rand() * 5,
    rr: 12 + rand() * 8,
    sys: 105 + rand() * 30,
    dia: 60 + rand() * 20,
    temp: 36.4 + rand() * 1.2,
  }));
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** One random-walk step per bed. */
export function step(b: BedState, rand: () => number): void {
  const walk = (v: number, d: number): number => v + (rand() - 0.5) * d;
  b.hr = clamp(walk(b.hr, 4), 35, 180);
  b.spo2 = clamp(walk(b.spo2, 1), 80, 100);
  b.rr = clamp(walk(b.rr, 1.5), 6, 40);
  b.sys = clamp(walk(b.sys, 3), 70, 200);
  b.dia = clamp(walk(b.dia, 2), 40, b.sys - 15);
  b.temp = clamp(walk(b.temp, 0.05), 35, 41);
}

/** A PCD-01 ORU^R01 for one bed (MDS/VMD/CHAN rows, 7 metrics, a 25-sample pleth with sample rate). */
export function pcd01Message(b: BedState, controlId: string, now: number, opts: { waveform?: boolean } = {}): string {
  const t = formatDtm(now);
  const eui = `00A0C9FFFE${String(b.bed).padStart(6, '0')}`;
  const obx = (set: number, type: string, code: string, cont: string, value: string, unit: string, extra: { range?: string; eq?: string } = {}) =>
    segment('OBX', [String(set), type, code.split('^'), cont, value, unit ? unit.split('^') : '', extra.range ?? '', '', '', '', type ? 'R' : 'X', '', '', type ? t : '', '', '', '', extra.eq ? ['', '', extra.eq, 'EUI-64'] : '']);
  const segs = [
    segment('MSH', [['SIM_GATEWAY', '080019FFFE3ED02D', 'EUI-64'], 'SIMWARD', '', '', t, '', ['ORU', 'R01', 'ORU_R01'], controlId, 'P', '2.6', '', '', 'AL', 'NE', '', 'UNICODE UTF-8', '', '', ['IHE_PCD_001', 'IHE PCD', '1.3.6.1.4.1.19376.1.6.1.1.1', 'ISO']]),
    segment('PID', ['', '', [`PAT${String(b.bed).padStart(4, '0')}`, '', '', 'SIM', 'MR']]),
    segment('PV1', ['', 'I', ['ICU', String(100 + b.bed), '1']]),
    segment('OBR', ['1', '', '', ['182777000', 'monitoring of patient', 'SCT'], '', '', t]),
    obx(1, '', '69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC', '1.0.0.0', '', '', { eq: eui }),
    obx(2, 'NM', '147842^MDC_ECG_HEART_RATE^MDC', '1.1.1.1', b.hr.toFixed(0), '264864^MDC_DIM_BEAT_PER_MIN^MDC', { range: '50-120' }),
    obx(3, 'NM', '150456^MDC_PULS_OXIM_SAT_O2^MDC', '1.2.1.1', b.spo2.toFixed(0), '262688^MDC_DIM_PERCENT^MDC', { range: '90-100' }),
    obx(4, 'NM', '149530^MDC_PULS_OXIM_PULS_RATE^MDC', '1.2.1.2', b.hr.toFixed(0), '264864^MDC_DIM_BEAT_PER_MIN^MDC'),
    obx(5, 'NM', '151562^MDC_RESP_RATE^MDC', '1.3.1.1', b.rr.toFixed(0), '264928^MDC_DIM_RESP_PER_MIN^MDC'),
    obx(6, 'NM', '150021^MDC_PRESS_BLD_NONINV_SYS^MDC', '1.4.1.1', b.sys.toFixed(0), '266016^MDC_DIM_MMHG^MDC'),
    obx(7, 'NM', '150022^MDC_PRESS_BLD_NONINV_DIA^MDC', '1.4.1.2', b.dia.toFixed(0), '266016^MDC_DIM_MMHG^MDC'),
    obx(8, 'NM', '150364^MDC_TEMP_BODY^MDC', '1.5.1.1', b.temp.toFixed(1), '268192^MDC_DIM_DEGC^MDC'),
  ];
  if (opts.waveform !== false) {
    const samples = Array.from({ length: 25 }, (_, i) => String(Math.round(2048 + 900 * Math.sin((i / 25) * 2 * Math.PI * (b.hr / 60)))));
    segs.push(
      segment('OBX', ['9', 'NA', ['150452', 'MDC_PULS_OXIM_PLETH', 'MDC'], '1.2.1.3', samples, ['262656', 'MDC_DIM_DIMLESS', 'MDC'], '', '', '', '', 'R', '', '', t]),
      segment('OBX', ['10', 'NM', ['0', 'MDC_ATTR_SAMP_RATE', 'MDC'], '1.2.1.3.1', '125', ['264608', 'MDC_DIM_PER_SEC', 'MDC'], '', '', '', '', 'R']),
    );
  }
  return encodeSegments(segs);
}

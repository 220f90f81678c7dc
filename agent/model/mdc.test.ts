// IEEE 11073-10101 codes the rules depend on: a wrong number silently takes a metric out of the limit rules and
// NEWS2, or renames another one for every consumer.
import { describe, expect, it } from 'vitest';
import { MDC, mdcByCode } from './mdc.js';

/** Partition and term code: code = partition × 2^16 + term. */
const code = (partition: number, term: number) => partition * 65536 + term;

describe('MDC terms', () => {
  it('respiration rate by method: generic 2::20490, direct airway flow 2::20498, transthoracic impedance 2::20506', () => {
    expect(MDC.RESP_RATE).toEqual({ refid: 'MDC_RESP_RATE', code: code(2, 20490) });
    expect(MDC.AWAY_RESP_RATE).toEqual({ refid: 'MDC_AWAY_RESP_RATE', code: code(2, 20498) });
    expect(MDC.TTHOR_RESP_RATE).toEqual({ refid: 'MDC_TTHOR_RESP_RATE', code: code(2, 20506) });
    expect(mdcByCode(151578)?.refid).toBe('MDC_TTHOR_RESP_RATE');
    expect(mdcByCode(151570)?.refid).toBe('MDC_AWAY_RESP_RATE');
  });

  it('no two terms share a code or a refid', () => {
    const terms = Object.values(MDC);
    expect(new Set(terms.map((t) => t.code)).size).toBe(terms.length);
    expect(new Set(terms.map((t) => t.refid)).size).toBe(terms.length);
  });
});

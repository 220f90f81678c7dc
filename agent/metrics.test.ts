import { describe, expect, it } from 'vitest';
import { Metrics } from './metrics.js';

describe('Metrics', () => {
  it('counts the same counter through inc() and a counter handle, whatever the order of its labels', () => {
    const m = new Metrics();
    const count = m.counter('x_total', { a: '1', b: '2' });
    expect(m.snapshot()).toEqual({ 'x_total{a="1",b="2"}': 0 });
    count(3);
    count();
    m.inc('x_total', { b: '2', a: '1' }, 2);
    expect(m.get('x_total', { a: '1', b: '2' })).toBe(6);
    m.inc('y_total', { source: 'sim' });
    expect(m.get('y_total', { source: 'sim' })).toBe(1);
    expect(m.get('y_total', { source: 'other' })).toBe(0);
  });
});

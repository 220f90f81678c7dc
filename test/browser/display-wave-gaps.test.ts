// ECG samples the device sent as invalid (NaN), which ingest stores as 0 (`zeroed`), are a gap on the bed view's strip,
// not a live green line at 0 mV once the next segment is valid (review rv132 L1): the bed's answer and its stream
// (first burst and live chunks) carry them as null, and the page lifts the pen there. Real Chromium, real agent.
import { describe, expect, it } from 'vitest';
import { call, ecg, openStream } from './display-fixtures.js';
import { browserSuite } from './suite.js';

const RATE = 250;
const sine = (n: number) => Array.from({ length: n }, (_, i) => 0.8 + Math.sin(i / 10));
const invalid = (n: number) => Array.from({ length: n }, () => Number.NaN);
const gaps = (samples: (number | null)[]) => samples.filter((x) => x === null).length;

describe('waveform samples the device marked invalid', () => {
  const browser = browserSuite('display-wave-gaps-');

  it('are gaps in /api/beds/:bed, in the stream, and on the drawn strip', async () => {
    const d = await browser.startAgent();
    const now = Date.now();
    // 1 s valid, 1 s the device marks invalid, 1 s valid.
    await d.agent.ingest.accept('test-source', [ecg(sine(RATE), { at: now - 2000 })]);
    await d.agent.ingest.accept('test-source', [ecg(invalid(RATE), { at: now - 1000 })]);
    await d.agent.ingest.accept('test-source', [ecg(sine(RATE), { at: now })]);

    const bed = (await call(d.url, 'GET', '/api/beds/bed-1')).json() as { waves: { quality: string; samples: (number | null)[] }[] };
    expect(bed.waves[0]!.quality).toBe('valid');
    expect(bed.waves[0]!.samples).toHaveLength(3 * RATE);
    expect(gaps(bed.waves[0]!.samples)).toBe(RATE);
    expect(bed.waves[0]!.samples.slice(RATE, 2 * RATE).every((x) => x === null)).toBe(true);

    const s = await openStream(d.url, '/api/stream?bed=bed-1');
    try {
      const burst = (await s.waitFor((e) => e.event === 'wave')).data as { samples: (number | null)[] };
      expect(gaps(burst.samples)).toBe(RATE);
      await d.agent.ingest.accept('test-source', [ecg([0.1, Number.NaN, 0.2], { at: Date.now() })]);
      const live = (await s.waitFor((e) => e.event === 'wave' && (e.data as { samples: unknown[] }).samples.length === 3)).data as { samples: (number | null)[] };
      expect(live.samples).toEqual([0.1, null, 0.2]);
    } finally {
      s.close();
    }

    const page = await browser.openLive(`${d.url}/#/bed/bed-1`);
    const canvas = page.locator('#waves .wave canvas');
    await canvas.waitFor();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    expect(await page.locator('#waves .wave').getAttribute('class')).not.toContain('no-data');
    // Lit pixels per column range of the strip: the window is 8 s (2000 samples), the newest at the right edge; the
    // 750 samples end there, the invalid second being the samples 250-499 of them.
    const lit = await canvas.evaluate((c: HTMLCanvasElement, n: number) => {
      const ctx = c.getContext('2d')!;
      const img = ctx.getImageData(0, 0, c.width, c.height);
      const x0 = c.width * (1 - 750 / n);
      const count = (fromSample: number, toSample: number) => {
        let k = 0;
        for (let x = Math.ceil(x0 + (fromSample / n) * c.width); x <= Math.floor(x0 + (toSample / n) * c.width); x++) {
          for (let y = 0; y < c.height; y++) {
            const i = (y * c.width + x) * 4;
            if (img.data[i]! + img.data[i + 1]! + img.data[i + 2]! > 90) k++;
          }
        }
        return k;
      };
      return { before: count(20, 230), gap: count(260, 490), after: count(520, 730) };
    }, 8 * RATE);
    expect(lit.before).toBeGreaterThan(50);
    expect(lit.after).toBeGreaterThan(50);
    expect(lit.gap).toBe(0);
  });
});

// ScreenWatch on an injected clock: when an expected screen's alarm is raised and ended, tabs, unknown names.
import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { captureLog } from '../../test/support/log.js';
import { ScreenWatch } from './screens.js';

function setup(specs = [{ name: 'ward3-station', graceS: 30 }]) {
  let t = 1_000_000;
  const reports: { name: string; present: boolean; text: string }[] = [];
  const metrics = new Metrics();
  const captured = captureLog('warn');
  const watch = new ScreenWatch(specs, (name, present, text) => reports.push({ name, present, text }), metrics, captured.log, () => t);
  watch.start();
  const advance = (s: number) => {
    t += s * 1000;
    watch.check();
  };
  const connected = () => metrics.snapshot()['display_screen_connected{screen="ward3-station"}'];
  return { watch, reports, captured, advance, connected };
}

describe('ScreenWatch', () => {
  it('raises the alarm of a screen that never connected once its grace has passed since start, not before', () => {
    const { reports, advance, connected } = setup();
    advance(30);
    expect(reports).toEqual([]);
    advance(1);
    expect(reports).toEqual([{ name: 'ward3-station', present: true, text: 'Display ward3-station not connected for 31 s: its alarms are not shown there' }]);
    advance(60);
    expect(reports).toHaveLength(1); // raised once, not again at every check
    expect(connected()).toBe(0);
  });

  it('ends the alarm when the screen connects, and counts the grace again from its disconnect', () => {
    const { watch, reports, advance, connected } = setup();
    advance(45);
    expect(watch.opened('ward3-station')).toBe(true);
    expect(reports.at(-1)).toEqual({ name: 'ward3-station', present: false, text: 'Display ward3-station connected again' });
    expect(connected()).toBe(1);
    advance(3600);
    expect(reports).toHaveLength(2); // connected: nothing raised however long
    watch.closed('ward3-station');
    advance(30);
    expect(reports).toHaveLength(2);
    advance(5);
    expect(reports.at(-1)).toMatchObject({ present: true, text: 'Display ward3-station not connected for 35 s: its alarms are not shown there' });
  });

  it('a screen that connects within its grace raises nothing', () => {
    const { watch, reports, advance } = setup();
    advance(10);
    watch.opened('ward3-station');
    advance(100);
    expect(reports).toEqual([]);
  });

  it('keeps a screen with two tabs connected when one closes; away when both have', () => {
    const { watch, reports, advance, connected } = setup();
    watch.opened('ward3-station');
    watch.opened('ward3-station');
    watch.closed('ward3-station');
    expect(connected()).toBe(1);
    expect(watch.status()).toEqual([{ name: 'ward3-station', connected: true, streams: 1 }]);
    advance(100);
    expect(reports).toEqual([]);
    watch.closed('ward3-station');
    expect(watch.status()).toEqual([{ name: 'ward3-station', connected: false, streams: 0 }]);
    advance(31);
    expect(reports).toEqual([{ name: 'ward3-station', present: true, text: expect.stringMatching(/not connected for 31 s/) }]);
  });

  it('accepts an unknown name but does not watch it, and logs it once', () => {
    const { watch, reports, captured, advance } = setup();
    watch.opened('ward3-station');
    expect(watch.opened('ward9-corridor')).toBe(false);
    expect(watch.opened('ward9-corridor')).toBe(false);
    watch.closed('ward9-corridor'); // ignored
    advance(100);
    expect(reports).toEqual([]);
    expect(watch.status().map((s) => s.name)).toEqual(['ward3-station']);
    const warnings = captured.lines.filter((l) => l.screen === 'ward9-corridor');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, msg: expect.stringMatching(/does not list: not watched/) });
  });

  it('watches each screen with its own grace', () => {
    const { reports, advance } = setup([{ name: 'a', graceS: 10 }, { name: 'b', graceS: 60 }]);
    advance(11);
    expect(reports.map((r) => [r.name, r.present])).toEqual([['a', true]]);
    advance(50);
    expect(reports.map((r) => [r.name, r.present])).toEqual([['a', true], ['b', true]]);
  });
});

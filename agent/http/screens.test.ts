// ScreenWatch on an injected clock: when an expected screen's alarm is raised and ended, tabs, unknown names.
import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { captureLog } from '../../test/support/log.js';
import { ScreenWatch } from './screens.js';

function setup(specs = [{ name: 'ward3-station', graceS: 30 }]) {
  let t = 1_000_000;
  const reports: { name: string; present: boolean; text: string }[] = [];
  const metrics = new Metrics();
  const captured = captureLog('info');
  const watch = new ScreenWatch(specs, (name, present, text) => reports.push({ name, present, text }), metrics, captured.log, () => t);
  watch.start();
  const advance = (s: number) => {
    t += s * 1000;
    watch.check();
  };
  /** Time passes with the watched screen's page pinging every 5 s, as the page does. */
  const alive = (s: number) => {
    for (let i = 0; i < s; i += 5) {
      advance(Math.min(5, s - i));
      watch.seen('ward3-station');
    }
  };
  const connected = () => metrics.snapshot()['display_screen_connected{screen="ward3-station"}'];
  return { watch, reports, captured, advance, alive, connected, metrics };
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
    const { watch, reports, advance, alive, connected } = setup();
    advance(45);
    expect(watch.opened('ward3-station', '10.0.0.7')).toBe(true);
    expect(reports.at(-1)).toEqual({ name: 'ward3-station', present: false, text: 'Display ward3-station connected again' });
    expect(connected()).toBe(1);
    alive(3600);
    expect(reports).toHaveLength(2); // connected and pinging: nothing raised however long
    watch.closed('ward3-station', '10.0.0.7');
    advance(30);
    expect(reports).toHaveLength(2);
    advance(5);
    expect(reports.at(-1)).toMatchObject({ present: true, text: 'Display ward3-station not connected for 35 s: its alarms are not shown there' });
  });

  it('a screen whose stream stays open but stops pinging (off, unplugged, hung) is away from its last ping', () => {
    const { watch, reports, advance, alive, connected } = setup();
    watch.opened('ward3-station', '10.0.0.7');
    alive(60);
    advance(12);
    expect(connected()).toBe(1); // two heartbeats and 2 s of slack: still connected
    advance(1);
    expect(connected()).toBe(0);
    expect(reports).toEqual([]);
    advance(18); // 31 s since the last ping
    expect(reports).toEqual([{ name: 'ward3-station', present: true, text: 'Display ward3-station not heard from for 31 s (screen off, cable out or page hung?): its alarms may not be shown there' }]);
    expect(watch.seen('ward3-station')).toBe(true);
    expect(reports.at(-1)).toMatchObject({ present: false });
    expect(connected()).toBe(1);
  });

  it('a screen that connects within its grace raises nothing', () => {
    const { watch, reports, advance, alive } = setup();
    advance(10);
    watch.opened('ward3-station');
    alive(100);
    expect(reports).toEqual([]);
  });

  it('keeps a screen with two tabs connected when one closes; away when both have; names more than one address', () => {
    const { watch, reports, advance, alive, connected, captured } = setup();
    watch.opened('ward3-station', '10.0.0.7');
    watch.opened('ward3-station', '10.0.0.9');
    const changed = { from: '10.0.0.7', to: '10.0.0.9', at: expect.any(Number) };
    expect(watch.status()).toEqual([{ name: 'ward3-station', connected: true, streams: 2, addresses: ['10.0.0.7', '10.0.0.9'], address: '10.0.0.9', addressChanged: changed }]);
    expect(captured.lines.filter((l) => String(l.msg).includes('more than one address'))).toHaveLength(1);
    watch.closed('ward3-station', '10.0.0.9');
    expect(connected()).toBe(1);
    expect(watch.status()).toEqual([{ name: 'ward3-station', connected: true, streams: 1, addresses: ['10.0.0.7'], address: '10.0.0.9', addressChanged: changed }]);
    alive(100);
    expect(reports).toEqual([]);
    watch.closed('ward3-station', '10.0.0.7');
    expect(watch.status()).toEqual([{ name: 'ward3-station', connected: false, streams: 0, addresses: [], address: '10.0.0.9', addressChanged: changed }]);
    advance(31);
    expect(reports).toEqual([{ name: 'ward3-station', present: true, text: expect.stringMatching(/not connected for 31 s/) }]);
  });

  it('a name used from another address than the one it last connected from (a takeover) is recorded, counted and logged once a minute', () => {
    const { watch, reports, advance, alive, captured, metrics } = setup();
    const changes = () => metrics.get('display_screen_address_changes_total', { screen: 'ward3-station' });
    const warned = () => captured.lines.filter((l) => String(l.msg).includes('another address than the one it last connected from'));
    watch.opened('ward3-station', '10.0.0.7');
    expect(captured.find(/connected for the first time since the start/)).toMatchObject({ level: 30, screen: 'ward3-station', address: '10.0.0.7' });
    watch.seen('ward3-station', '10.0.0.7');
    watch.closed('ward3-station', '10.0.0.7');
    advance(10);
    watch.opened('ward3-station', '10.0.0.7'); // the screen reconnects from its own address: nothing to say
    expect(watch.status()[0]).toMatchObject({ address: '10.0.0.7', addressChanged: null });
    expect(warned()).toEqual([]);
    // Another machine pings as the screen, then opens a stream as it.
    advance(1);
    watch.seen('ward3-station', '10.0.0.66');
    expect(watch.status()[0]).toMatchObject({ address: '10.0.0.7', addressChanged: { from: '10.0.0.7', to: '10.0.0.66', at: 1_011_000 } });
    expect(warned()).toHaveLength(1);
    expect(warned()[0]).toMatchObject({ level: 40, screen: 'ward3-station', address: '10.0.0.66', lastAddress: '10.0.0.7', openFrom: ['10.0.0.7'], changes: 1 });
    watch.closed('ward3-station', '10.0.0.7');
    watch.opened('ward3-station', '10.0.0.66');
    expect(changes()).toBe(2);
    expect(warned()).toHaveLength(1); // within the minute: counted, not logged again
    expect(watch.status()[0]).toMatchObject({ connected: true, address: '10.0.0.66', addressChanged: { from: '10.0.0.7', to: '10.0.0.66' } });
    // The real screen comes back a minute later: the change back is logged too.
    alive(60);
    watch.opened('ward3-station', '10.0.0.7');
    expect(changes()).toBe(3);
    expect(warned().at(-1)).toMatchObject({ address: '10.0.0.7', lastAddress: '10.0.0.66' });
    expect(reports).toEqual([]);
  });

  it('judges a ping against the addresses of the open streams, and counts each new (from, to) pair of pings once', () => {
    const { watch, captured, metrics } = setup();
    const changes = () => metrics.get('display_screen_address_changes_total', { screen: 'ward3-station' });
    const warned = () => captured.lines.filter((l) => String(l.msg).includes('another address than the one it last connected from'));
    watch.opened('ward3-station', '10.0.0.7');
    watch.opened('ward3-station', '10.0.0.9'); // a second tab on another machine: a change
    expect(changes()).toBe(1);
    // The first tab pings: its address holds an open stream.
    for (let i = 0; i < 20; i++) watch.seen('ward3-station', '10.0.0.7');
    expect(changes()).toBe(1);
    // A dual-stack screen: its pings come over IPv6. One change for all of them, logged once.
    for (let i = 0; i < 20; i++) watch.seen('ward3-station', 'fd00::7');
    expect(changes()).toBe(2);
    expect(warned()).toHaveLength(1);
    expect(watch.status()[0]).toMatchObject({ addressChanged: { from: '10.0.0.9', to: 'fd00::7' } });
  });

  it('accepts an unknown name but does not watch it, and logs it once', () => {
    const { watch, reports, captured, alive } = setup();
    watch.opened('ward3-station');
    expect(watch.opened('ward9-corridor')).toBe(false);
    expect(watch.seen('ward9-corridor')).toBe(false);
    watch.closed('ward9-corridor'); // ignored
    alive(100);
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

describe('ScreenWatch across a step of the gateway\'s wall clock (review rv151 F1)', () => {
  const HOUR = 3_600_000;
  /** Separate clocks: `wall` plays Date.now (a step moves it with no time passing), `mono` performance.now. */
  function stepping() {
    const clock = { wall: 1_700_000_000_000, mono: 5_000 };
    const reports: { present: boolean; text: string }[] = [];
    const watch = new ScreenWatch([{ name: 'ward3-station', graceS: 30 }], (_n, present, text) => reports.push({ present, text }), new Metrics(), captureLog('info').log, () => clock.wall, 12_000, () => clock.mono);
    watch.start();
    /** Real seconds pass; the server checks every second. */
    const run = (s: number) => {
      for (let i = 0; i < s; i++) {
        clock.wall += 1000;
        clock.mono += 1000;
        watch.check();
      }
    };
    return { clock, reports, watch, run };
  }

  it('a screen that never connects: a step back 1 h after the start does not hold its alarm', () => {
    const { clock, reports, run } = stepping();
    run(5);
    clock.wall -= HOUR; // NTP steps back a clock that ran ahead at boot
    run(25);
    expect(reports).toEqual([]);
    run(1);
    expect(reports).toEqual([{ present: true, text: 'Display ward3-station not connected for 31 s: its alarms are not shown there' }]);
  });

  it('a screen unplugged (stream still open), then a step back: disconnected after the stale time, alarm at grace + 1 s', () => {
    const { clock, reports, watch, run } = stepping();
    watch.opened('ward3-station', '10.0.0.5');
    for (let i = 0; i < 6; i++) {
      run(5);
      watch.seen('ward3-station', '10.0.0.5');
    }
    run(5);
    clock.wall -= HOUR;
    run(7);
    expect(watch.status()[0]).toMatchObject({ connected: true, streams: 1 }); // 12 s since its last ping
    run(1);
    expect(watch.status()[0]).toMatchObject({ connected: false, streams: 1 });
    run(17);
    expect(reports).toEqual([]);
    run(1);
    expect(reports).toEqual([{ present: true, text: 'Display ward3-station not heard from for 31 s (screen off, cable out or page hung?): its alarms may not be shown there' }]);
  });

  it('a screen unplugged and its stream closed as lagging, then a step forward: away from its last ping, not 1 h more', () => {
    const { clock, reports, watch, run } = stepping();
    watch.opened('ward3-station', '10.0.0.5');
    watch.seen('ward3-station', '10.0.0.5');
    run(20);
    clock.wall += HOUR;
    watch.closed('ward3-station', '10.0.0.5');
    run(10);
    expect(reports).toEqual([]);
    run(1);
    expect(reports).toEqual([{ present: true, text: 'Display ward3-station not heard from for 31 s (screen off, cable out or page hung?): its alarms may not be shown there' }]);
  });

  it('a healthy screen pinging every 5 s raises nothing when the clock steps forward 1 h (or back)', () => {
    const { clock, reports, watch, run } = stepping();
    watch.opened('ward3-station', '10.0.0.5');
    for (let i = 0; i < 6; i++) {
      run(5);
      watch.seen('ward3-station', '10.0.0.5');
    }
    clock.wall += HOUR;
    for (let i = 0; i < 6; i++) {
      run(5);
      watch.seen('ward3-station', '10.0.0.5');
    }
    clock.wall -= 2 * HOUR;
    for (let i = 0; i < 6; i++) {
      run(5);
      watch.seen('ward3-station', '10.0.0.5');
    }
    expect(reports).toEqual([]);
    expect(watch.status()[0]).toMatchObject({ connected: true });
  });

  it('keeps the wall clock for the instant of an address change it reports', () => {
    const { clock, watch } = stepping();
    watch.opened('ward3-station', '10.0.0.5');
    watch.seen('ward3-station', '10.0.0.66');
    expect(watch.status()[0]!.addressChanged).toEqual({ from: '10.0.0.5', to: '10.0.0.66', at: clock.wall });
  });
});

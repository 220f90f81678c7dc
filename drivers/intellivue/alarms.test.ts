// The alarm tracker's lifecycle of IntelliVue alarm lists, and alarms of a monitor in demo or test mode, which are
// the monitor's simulation and must never reach the bedside as a patient's alarms.
import { describe, expect, it } from 'vitest';
import { AlarmTracker } from './alarms.js';
import { ALERT_STATE, ALERT_TYPE, type AlarmEntry } from './protocol/index.js';

const HR = 0x4182; // NOM_ECG_CARD_BEAT_RATE (SCADA)
const EVT_HI = 40;

function entry(state = 0, type: number = ALERT_TYPE.HI_PRI_P_AL): AlarmEntry {
  return { source: HR, code: EVT_HI, type, state, object: { objClass: 6, contextId: 0, handle: 0 }, infoId: 0, instance: null, textId: null, priority: null, flags: null, text: 'HR HIGH' };
}

const tracker = () => new AlarmTracker({ deviceId: 'mx800-1', bed: 'bed-1', source: 'iv' }, 5000);
const brief = (events: ReturnType<AlarmTracker['update']>) => events.map((e) => `${e.phase} ${e.category} ${e.priority} ${e.text}`);

describe('IntelliVue alarms of a monitor in demo or test mode', () => {
  it('are withheld: one technical alarm says the monitor is in that mode, and ends when its lists hold none', () => {
    const t = tracker();
    for (const state of [ALERT_STATE.DEV_IN_DEMO_MODE, ALERT_STATE.DEV_IN_TEST_MODE]) {
      const started = t.update('P', [entry(state)], 0, 0, null);
      expect(brief(started)).toEqual(["start technical medium Monitor in demo or test mode: its alarms are not a patient's"]);
      expect(t.takeWithheld()).toBe(1);
      expect(t.update('P', [entry(state)], 1000, 1000, null)).toEqual([]); // still in that mode: nothing new
      expect(t.takeWithheld()).toBe(1);
      expect(brief(t.update('P', [], 2000, 2000, null))).toEqual(["end technical medium Monitor in demo or test mode: its alarms are not a patient's"]);
    }
  });

  it("a patient's alarm (no demo or test bit) is passed on as before, beside the mode alarm", () => {
    const t = tracker();
    expect(brief(t.update('P', [entry(0)], 0, 0, null))).toEqual(['start physiological high HR HIGH']);
    expect(t.takeWithheld()).toBe(0);
    // The monitor lost: both end, saying why.
    t.update('T', [entry(ALERT_STATE.DEV_IN_DEMO_MODE, ALERT_TYPE.MED_PRI_T_AL)], 1000, 1000, null);
    const ended = t.endAll(2000);
    expect(ended.map((e) => `${e.phase} ${e.endedBy} ${e.alarmId}`)).toEqual(['end link-lost mx800-1:P:16770:40:0', 'end link-lost mx800-1:demo-or-test-mode']);
  });
});

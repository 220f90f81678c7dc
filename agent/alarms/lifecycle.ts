// The alarm state machine in one place. Each function applies one event to one alarm (mutating it) and says what
// changed, or why it refused; the engine turns every change into an audit record.
//
//   condition present  → raised: active
//   condition ends     : active → resolved, or latched when the alarm latches
//                        acknowledged → resolved
//                        audio-paused → resolved, or stays audio-paused (condition gone) when it latches
//   condition returns  : latched → active; a latched audio-paused alarm stays paused (condition present again), but
//                        the engine ends the edge model's pause: it judged the earlier episode, not this one
//   acknowledge        : active / audio-paused with condition present → acknowledged
//                        latched / audio-paused with condition gone → resolved
//   audio pause        : active / latched / audio-paused → audio-paused until T (from the same state it extends)
//   pause expires      : audio-paused → active (condition present) or latched (condition gone, latching)
//   priority rises     : acknowledged → active when above the priority it was acknowledged at (a worse condition
//                        sounds again, and may escalate again); other states keep their state
//   escalate           : unacknowledged (active / latched / audio-paused) → same state, escalated flag set
import { signalRank, type Alarm, type AlarmChangeKind, type AlarmState, type ConditionSpec, type SignalPriority } from './types.js';

export interface Transition {
  change: AlarmChangeKind;
  from: AlarmState;
  to: AlarmState;
}

export type Refusal = { refused: string };

/**
 * The alarm changed at `at`: updatedAt never goes back. A reading's change is stamped with when the reading was
 * received, which can be before an action applied while the reading waited for its commit (review rv75 H1).
 */
export function touch(alarm: Alarm, at: number): void {
  if (at > alarm.updatedAt) alarm.updatedAt = at;
}

function move(alarm: Alarm, to: AlarmState, change: AlarmChangeKind, at: number): Transition {
  const from = alarm.state;
  alarm.state = to;
  touch(alarm, at);
  // Never before a change already recorded (a reading's end stamped with its receipt, applied after a tick or a click
  // stamped later), so never before the raise either: the record says the same time (review rv162 F3).
  if (to === 'resolved') alarm.resolvedAt = Math.max(at, alarm.updatedAt);
  if (to !== 'audio-paused') delete alarm.audioPausedUntil;
  return { change, from, to };
}

export function isOpen(alarm: Alarm): boolean {
  return alarm.state !== 'resolved';
}

export function isUnacknowledged(alarm: Alarm): boolean {
  return alarm.state === 'active' || alarm.state === 'latched' || alarm.state === 'audio-paused';
}

/**
 * The condition of an open alarm is (still or again) present; may also change its priority or text. `ackedAt`: the
 * priority an acknowledged alarm was acknowledged at, 'none' for a device's information signal (default: its priority
 * before this report).
 */
export function conditionPresent(alarm: Alarm, spec: ConditionSpec, at: number, ackedAt?: SignalPriority): Transition[] {
  const out: Transition[] = [];
  if (!alarm.conditionPresent) {
    alarm.conditionPresent = true;
    delete alarm.conditionEndedAt;
    touch(alarm, at);
    if (alarm.state === 'latched') out.push(move(alarm, 'active', 'condition-returned', at));
    else out.push({ change: 'condition-returned', from: alarm.state, to: alarm.state });
  }
  // Only a priority change updates the alarm (with a record); the text and value stay as they were when raised, so the
  // last audit record always equals the alarm.
  const reportedChanged = spec.reportedPriority !== undefined && spec.reportedPriority !== alarm.reportedPriority;
  if (spec.priority !== alarm.priority || reportedChanged) {
    // A device's information signal (reported 'none', managed as low) ranks below low: one acknowledged as information
    // that the device turns into an alarm is unanswered again (review rv62 L1).
    const rose = signalRank(spec.reportedPriority === 'none' ? 'none' : spec.priority) > signalRank(ackedAt ?? signalPriority(alarm));
    alarm.priority = spec.priority;
    alarm.condition = spec.condition;
    if (spec.reportedPriority !== undefined) alarm.reportedPriority = spec.reportedPriority;
    touch(alarm, at);
    // Acknowledging silences the condition as it was; a worse one (medium → high) must not stay silent for ever. One
    // no worse than what was acknowledged (high → medium → high) stays acknowledged: a wavering priority must not
    // undo the acknowledgement. (An audio pause is the engine's: it ends on a rise above the priority paused at.)
    if (rose && alarm.state === 'acknowledged') {
      // Unanswered again: it may escalate again too.
      alarm.escalated = false;
      delete alarm.escalatedAt;
      out.push(move(alarm, 'active', 'priority-changed', at));
    }
    else out.push({ change: 'priority-changed', from: alarm.state, to: alarm.state });
  }
  return out;
}

/** An alarm's priority as its signal: 'none' for a device's information signal. */
export function signalPriority(alarm: Alarm): SignalPriority {
  return alarm.reportedPriority === 'none' ? 'none' : alarm.priority;
}

export function conditionEnded(alarm: Alarm, at: number): Transition[] {
  if (!alarm.conditionPresent) return [];
  alarm.conditionPresent = false;
  // The reading's time, but not before the raise (a reading received before the tick that confirmed the delay).
  alarm.conditionEndedAt = Math.max(at, alarm.raisedAt);
  touch(alarm, at);
  switch (alarm.state) {
    case 'active':
      return [alarm.latching ? move(alarm, 'latched', 'condition-ended', at) : move(alarm, 'resolved', 'resolved', at)];
    case 'acknowledged':
      return [move(alarm, 'resolved', 'resolved', at)];
    case 'audio-paused':
      return [alarm.latching ? { change: 'condition-ended', from: 'audio-paused', to: 'audio-paused' } : move(alarm, 'resolved', 'resolved', at)];
    default:
      return [];
  }
}

export function acknowledge(alarm: Alarm, at: number): Transition | Refusal {
  if (alarm.state === 'resolved') return { refused: 'alarm is already resolved' };
  if (alarm.state === 'acknowledged') return { refused: 'alarm is already acknowledged' };
  alarm.acknowledgedAt = at;
  return alarm.conditionPresent ? move(alarm, 'acknowledged', 'acknowledged', at) : move(alarm, 'resolved', 'acknowledged', at);
}

export function audioPause(alarm: Alarm, until: number, at: number): Transition | Refusal {
  if (alarm.state === 'resolved') return { refused: 'alarm is already resolved' };
  if (alarm.state === 'acknowledged') return { refused: 'alarm is acknowledged: its audio is already off' };
  const t = move(alarm, 'audio-paused', 'audio-paused', at);
  alarm.audioPausedUntil = until;
  return t;
}

export function expireAudioPause(alarm: Alarm, now: number): Transition | null {
  if (alarm.state !== 'audio-paused' || alarm.audioPausedUntil === undefined || alarm.audioPausedUntil > now) return null;
  return endAudioPause(alarm, now);
}

/** An audio pause ends, at its time or before (the edge model's, when the alarm rose above what it judged). */
export function endAudioPause(alarm: Alarm, now: number): Transition {
  // Not latching with the condition gone cannot be paused (it resolved when the condition ended).
  return move(alarm, alarm.conditionPresent ? 'active' : 'latched', 'audio-pause-expired', now);
}

export function escalate(alarm: Alarm, now: number): Transition {
  alarm.escalated = true;
  alarm.escalatedAt = now;
  touch(alarm, now);
  return { change: 'escalated', from: alarm.state, to: alarm.state };
}

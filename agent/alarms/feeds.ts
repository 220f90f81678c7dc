// Which device sends for which bed, and when it last did. One record for the engine: the technical monitor writes it
// (every reading it is told of) and raises "no data for bed X" from it; the limit evaluator reads it to end the alarms
// of a bed its device no longer sends for. Pure: plain method calls with times.

/** What one device last sent for one bed. */
export interface BedFeed {
  deviceId: string;
  bed: string;
  /** Latest receipt time of anything the device sent for the bed. */
  at: number;
  patientId?: string;
}

/** What the limit evaluator needs to know of the feeds (read only). */
export interface FeedView {
  /** How long the device may send nothing before it is silent (its silentAfterS). */
  silentAfterMs(deviceId: string): number;
  lastHeard(deviceId: string, bed: string): number | undefined;
  /** The device was seen sending for several beds at once (a central station or an HL7 gateway relaying beds). */
  carriesSeveralBeds(deviceId: string): boolean;
  /** The beds the device sent for within its silentAfterS before `now`. */
  bedsSending(deviceId: string, now: number): string[];
}

export class BedFeeds implements FeedView {
  /** By `device|bed`; and by device, then bed, so that a device's beds are found without scanning every feed. */
  private readonly feeds = new Map<string, BedFeed>();
  private readonly byDevice = new Map<string, Map<string, BedFeed>>();
  private readonly lastBed = new Map<string, string>();
  private readonly severalBeds = new Set<string>();

  constructor(readonly silentAfterMs: (deviceId: string) => number) {}

  /** Anything a device sent for a bed (a reading of any kind): the bed is monitored by it. Returns the bed's feed. */
  heard(deviceId: string, bed: string, at: number, patientId?: string): BedFeed {
    const k = `${deviceId}|${bed}`;
    let f = this.feeds.get(k);
    // Back to this bed within the device's interval after a reading for another: it sends for several beds at once.
    // A monitor moved from one bed to the next (and back hours later) never goes back so.
    const last = this.lastBed.get(deviceId);
    if (f && last !== undefined && last !== bed && at - f.at <= this.silentAfterMs(deviceId)) this.severalBeds.add(deviceId);
    this.lastBed.set(deviceId, bed);
    if (!f) {
      f = { deviceId, bed, at };
      this.feeds.set(k, f);
      let beds = this.byDevice.get(deviceId);
      if (!beds) this.byDevice.set(deviceId, (beds = new Map()));
      beds.set(bed, f);
    }
    f.at = Math.max(f.at, at);
    if (patientId !== undefined) f.patientId = patientId;
    return f;
  }

  lastHeard(deviceId: string, bed: string): number | undefined {
    return this.feeds.get(`${deviceId}|${bed}`)?.at;
  }

  carriesSeveralBeds(deviceId: string): boolean {
    return this.severalBeds.has(deviceId);
  }

  bedsSending(deviceId: string, now: number): string[] {
    const silentMs = this.silentAfterMs(deviceId);
    const beds: string[] = [];
    for (const f of this.byDevice.get(deviceId)?.values() ?? []) if (now - f.at <= silentMs) beds.push(f.bed);
    return beds;
  }

  /** The beds a device has a feed for. */
  bedsOf(deviceId: string): IterableIterator<BedFeed> | BedFeed[] {
    return this.byDevice.get(deviceId)?.values() ?? [];
  }

  /** Drop every feed of these devices, and these single feeds (state of devices and beds nobody needs any more). */
  forget(devices: ReadonlySet<string>, feeds: readonly { deviceId: string; bed: string }[]): void {
    for (const d of devices) {
      for (const f of this.byDevice.get(d)?.values() ?? []) this.feeds.delete(`${d}|${f.bed}`);
      this.byDevice.delete(d);
      this.lastBed.delete(d);
      this.severalBeds.delete(d);
    }
    for (const { deviceId, bed } of feeds) {
      this.feeds.delete(`${deviceId}|${bed}`);
      const beds = this.byDevice.get(deviceId);
      beds?.delete(bed);
      if (beds?.size === 0) this.byDevice.delete(deviceId);
    }
  }

  get size(): number {
    return this.feeds.size;
  }

  /** The gateway's clock stepped (AlarmEngine.shiftClock): every feed's last receipt moves with it. */
  shiftClock(deltaMs: number): void {
    for (const f of this.feeds.values()) f.at += deltaMs;
  }

  /** Every device × bed heard of, by `device|bed`. */
  all(): IterableIterator<[string, BedFeed]> {
    return this.feeds.entries();
  }
}

/** The beds of each device among `feeds` (device × bed pairs): what forget() calls look a track up in. */
export function bedsByDevice(feeds: readonly { deviceId: string; bed: string }[]): Map<string, Set<string>> {
  const pairs = new Map<string, Set<string>>();
  for (const f of feeds) {
    let beds = pairs.get(f.deviceId);
    if (!beds) pairs.set(f.deviceId, (beds = new Set()));
    beds.add(f.bed);
  }
  return pairs;
}

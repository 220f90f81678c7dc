// Per-bed alarm settings (alarms.limits.beds, alarms.news2.beds) are keyed by bed name, and bed names come from the
// devices (HL7 "ICU/3001/1", a simulator's "ICU-01"). A key that no bed ever reports is a setting that silently does
// nothing: the agent says so, naming the field and a bed name that looks like it.

export interface BedOverrideKey {
  /** The config field, e.g. alarms.limits.beds.ICU-1 */
  field: string;
  bed: string;
}

export interface UnmatchedBedOverride extends BedOverrideKey {
  /** A bed seen with a name like it (case, separators or leading zeros apart). */
  similar?: string;
}

export function bedOverrideKeys(policy: { limits: { beds: Record<string, unknown> }; news2: { beds: Record<string, unknown> } }): BedOverrideKey[] {
  return [
    ...Object.keys(policy.limits.beds).map((bed) => ({ field: `alarms.limits.beds.${bed}`, bed })),
    ...Object.keys(policy.news2.beds).map((bed) => ({ field: `alarms.news2.beds.${bed}`, bed })),
  ];
}

/** Lower case, letters and digits only, numbers without leading zeros: "ICU-01" and "icu 1" look alike. */
function looks(bed: string): string {
  return bed.toLowerCase().replace(/[^a-z0-9]+/g, ' ').replace(/\b0+(\d)/g, '$1').replace(/ /g, '');
}

/** The keys no seen bed has, each with a seen bed that looks like it, if any. */
export function unmatchedBedOverrides(keys: readonly BedOverrideKey[], seen: ReadonlySet<string>): UnmatchedBedOverride[] {
  const byLook = new Map<string, string>();
  for (const b of seen) byLook.set(looks(b), b);
  return keys
    .filter((k) => !seen.has(k.bed))
    .map((k) => {
      const similar = byLook.get(looks(k.bed));
      return similar !== undefined ? { ...k, similar } : { ...k };
    });
}

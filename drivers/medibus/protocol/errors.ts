// The one error type the Medibus parsers throw: says which structure, where (byte offset within the
// data field), and what was wrong.
export class MedibusParseError extends Error {
  constructor(
    readonly structure: string,
    readonly offset: number,
    readonly field: string,
    detail: string,
  ) {
    super(`${structure}: ${field} at offset ${offset}: ${detail}`);
    this.name = 'MedibusParseError';
  }
}

// The one error type the IntelliVue parsers throw: which structure, where (byte offset within the
// buffer being parsed), which field, and what was wrong.
export class IntellivueParseError extends Error {
  constructor(
    readonly structure: string,
    readonly offset: number,
    readonly field: string,
    detail: string,
  ) {
    super(`${structure}: ${field} at offset ${offset}: ${detail}`);
    this.name = 'IntellivueParseError';
  }
}

/**
 * The one error type thrown by the stand-in's pure parsers (SAS tokens, topics, property bags,
 * twin patches). Fuzz tests assert nothing else ever escapes them.
 */
export class HubStandinError extends Error {
  /** What was being parsed, e.g. 'sas', 'topic', 'property-bag', 'twin-patch'. */
  readonly where: string;
  /** Character offset in the input where the problem was found, when it is known. */
  readonly offset: number | undefined;

  constructor(where: string, message: string, offset?: number) {
    super(offset === undefined ? `${where}: ${message}` : `${where} @${offset}: ${message}`);
    this.name = 'HubStandinError';
    this.where = where;
    this.offset = offset;
  }
}

/**
 * What of an event's data the projection can hold. Data is whatever a publisher put on the stream; the projection
 * stores it as JSON text and SQLite reads that text back (the index on `id_token_jti` parses every row's data as it
 * is written). SQLite's JSON functions refuse text nested more than 1,000 levels deep ("malformed JSON"), and
 * JSON.stringify overflows the stack a few thousand levels down: either fails the whole batch's commit, which is held
 * and tried again for ever, so one such event would stop the audit trail. No event the stack publishes nests more
 * than a few levels.
 */

/** Levels of objects and arrays kept in a record's data: deeper values are replaced by {@link CUT_MARKER}. */
export const MAX_DATA_DEPTH = 32;
/** What stands in for a value nested deeper than {@link MAX_DATA_DEPTH}, so the record says that something was cut. */
export const CUT_MARKER = `[nested deeper than ${MAX_DATA_DEPTH} levels: not recorded]`;

function bounded(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (depth > MAX_DATA_DEPTH) return CUT_MARKER;
  if (Array.isArray(value)) return value.map((v) => bounded(v, depth + 1));
  // fromEntries defines each member, as JSON.parse did: a member named __proto__ stays data, not a prototype.
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bounded(v, depth + 1)]));
}

/** An event's data with every object or array below {@link MAX_DATA_DEPTH} levels replaced by {@link CUT_MARKER}. */
export function boundedData(data: Record<string, unknown>): Record<string, unknown> {
  return bounded(data, 1) as Record<string, unknown>;
}

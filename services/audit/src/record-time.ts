/**
 * Time bounds of Query and Tail. Records keep the CloudEvents `time` their event was published with, which the stack's
 * publisher always writes as `Date#toISOString` does: UTC, milliseconds, `Z` (`2025-06-01T10:30:00.000Z`). In that
 * one fixed-width form, text order is time order, so SQLite's index on `time` serves the bounds. A bound in any
 * other form does not compare as text: `…T12:00:00+02:00` (10:00Z) sorts after every record of 10:00 to 11:59Z,
 * and `…T10:00:00Z` after `…T10:00:00.500Z` ('.' < 'Z'). So a bound is parsed strictly and rewritten in that form.
 */

/**
 * RFC 3339 §5.6 `date-time`: full date, `T`, time with optional fraction, and a required offset (`Z` or ±hh:mm).
 * The ABNF is case-insensitive, so `t` and `z` are allowed; the readability variant with a space is not.
 */
const DATE_TIME =
  /^(?<year>\d{4})-(?<month>\d{2})-(?<day>\d{2})[Tt](?<hour>\d{2}):(?<minute>\d{2}):(?<second>\d{2})(?:\.(?<fraction>\d+))?(?:[Zz]|(?<sign>[+-])(?<offHour>\d{2}):(?<offMinute>\d{2}))$/;

/** Year 0000 to 9999 in UTC: the four-digit years of RFC 3339 and of the fixed-width stored form. */
const EARLIEST = Date.parse("0000-01-01T00:00:00.000Z");
const LATEST = Date.parse("9999-12-31T23:59:59.999Z");

/**
 * The stored form of an RFC 3339 date-time (UTC, milliseconds, `Z`), or undefined when `text` is not one or falls
 * outside years 0000 to 9999 in UTC. A fraction finer than a millisecond rounds up: records are stored to the
 * millisecond, so the next millisecond keeps both an inclusive lower and an exclusive upper bound exact. A leap
 * second (`:60`) counts as the next minute's first: no record is stored within one.
 */
export function storedTime(text: string): string | undefined {
  const g = DATE_TIME.exec(text)?.groups;
  if (!g) return undefined;
  const part = (name: string): number => Number(g[name] ?? 0);
  const [year, month, day, hour, minute, second] = [part("year"), part("month"), part("day"), part("hour"), part("minute"), part("second")];
  const [offHour, offMinute] = [part("offHour"), part("offMinute")];
  if (hour > 23 || minute > 59 || second > 60 || offHour > 23 || offMinute > 59) return undefined;
  const fraction = g.fraction ?? "";
  const millis = Number(fraction.slice(0, 3).padEnd(3, "0")) + (/[1-9]/.test(fraction.slice(3)) ? 1 : 0);
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0 to 99 as 1900 to 1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  // A day the month does not have (02-30) rolls over into the next month: refused, not moved.
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  const offset = (g.sign === "-" ? -1 : 1) * (offHour * 60 + offMinute) * 60_000;
  const at = date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000 + millis - offset;
  return at >= EARLIEST && at <= LATEST ? new Date(at).toISOString() : undefined;
}

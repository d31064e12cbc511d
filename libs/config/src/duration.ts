/** Durations in the config file: whole seconds, or a number with s/m/h/d. */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** Parses `300`, `"300"`, `"5m"`, `"1h"`, `"7d"` into seconds; undefined when malformed. */
export function parseDurationSeconds(input: unknown): number | undefined {
  if (typeof input === "number") return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  if (typeof input !== "string") return undefined;
  const m = /^(\d{1,9})\s*([smhd]?)$/.exec(input.trim());
  if (!m) return undefined;
  const unit = (m[2] || "s") as keyof typeof UNIT_SECONDS;
  return Number(m[1]) * UNIT_SECONDS[unit];
}

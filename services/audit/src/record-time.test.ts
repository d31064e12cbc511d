import { describe, expect, it } from "vitest";
import { storedTime } from "./record-time.js";

describe("storedTime (RFC 3339 §5.6 date-time → the stored form)", () => {
  it.each([
    ["2025-06-01T12:00:00+02:00", "2025-06-01T10:00:00.000Z"],
    ["2025-06-01T10:00:00Z", "2025-06-01T10:00:00.000Z"],
    ["2025-06-01T08:30:00-01:30", "2025-06-01T10:00:00.000Z"],
    ["2025-06-01t10:00:00.5z", "2025-06-01T10:00:00.500Z"],
    ["2024-02-29T23:59:59.999+00:00", "2024-02-29T23:59:59.999Z"],
    ["0099-01-01T00:00:00Z", "0099-01-01T00:00:00.000Z"],
    // Records are stored to the millisecond: a finer bound moves up to the next one.
    ["2025-06-01T10:00:00.0001Z", "2025-06-01T10:00:00.001Z"],
    ["2025-06-01T10:00:00.123000000Z", "2025-06-01T10:00:00.123Z"],
    // A leap second: no record carries one, so it counts as the next minute's first.
    ["2016-12-31T23:59:60Z", "2017-01-01T00:00:00.000Z"],
  ])("reads %s as %s", (text, stored) => {
    expect(storedTime(text)).toBe(stored);
  });

  it.each([
    "June 1, 2025",
    "2025-06-01",
    "2025-06-01T10:00:00",
    "2025-06-01 10:00:00Z",
    "2025-06-01T10:00Z",
    "2025-06-01T10:00:00+0200",
    "2025-06-01T10:00:00.Z",
    "2025-02-29T00:00:00Z",
    "2025-13-01T00:00:00Z",
    "2025-06-31T00:00:00Z",
    "2025-06-01T24:00:00Z",
    "2025-06-01T10:60:00Z",
    "2025-06-01T10:00:00+24:00",
    "1748772000000",
    " 2025-06-01T10:00:00Z",
    // Outside years 0000 to 9999 once in UTC: no stored form.
    "0000-01-01T00:30:00+01:00",
    "9999-12-31T23:00:00-02:00",
  ])("refuses %s", (text) => {
    expect(storedTime(text)).toBeUndefined();
  });

  it("orders as text exactly as the instants order", () => {
    const records = ["2025-06-01T09:59:59.999Z", "2025-06-01T10:00:00.000Z", "2025-06-01T10:00:00.500Z", "2025-06-01T11:00:00.000Z"];
    const since = storedTime("2025-06-01T12:00:00+02:00") ?? "";
    expect(records.filter((t) => t >= since)).toEqual(records.slice(1));
  });
});

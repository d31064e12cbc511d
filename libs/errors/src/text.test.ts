import { describe, expect, it } from "vitest";
import { isCleanText, isWellFormed } from "./text.js";

describe("isWellFormed", () => {
  it("accepts surrogate pairs and refuses an unpaired half at any position", () => {
    expect(isWellFormed("a😀b")).toBe(true);
    expect(isWellFormed("")).toBe(true);
    for (const s of ["\ud83d", "a\ud83db", "\ude00", "x\ude00\ud83d"]) expect(isWellFormed(s)).toBe(false);
  });
});

describe("isCleanText", () => {
  it("refuses C0, DEL and C1 controls, and broken UTF-16", () => {
    expect(isCleanText("admin:test/vo_1 é")).toBe(true);
    for (const s of ["a\nb", "a\u0000", "a\u007f", "a\u0085", "a\u009f", "a\ud800"]) expect(isCleanText(s)).toBe(false);
    expect(isCleanText("a\u00a0")).toBe(true);
  });
});

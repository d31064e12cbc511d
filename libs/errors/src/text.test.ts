import { describe, expect, it } from "vitest";
import { escapeUnshown, isCleanText, isShownAsWritten, isWellFormed } from "./text.js";

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

describe("isShownAsWritten and escapeUnshown", () => {
  const acting = ["\u001b[2J", "a\nb", "\u0085", "\u2028", "\u202e", "\u2066", "\u061c", "\u200f"];

  it("refuses controls, line separators and bidi controls, and keeps other text", () => {
    expect(isShownAsWritten("alice é 😀 \\ x")).toBe(true);
    for (const s of acting) expect(isShownAsWritten(s)).toBe(false);
  });

  it("writes each as its escape, and a backslash doubled, so an escape never reads as the text it stands for", () => {
    expect(escapeUnshown("ok\u001b[2J\u202e!")).toBe("ok\\u{1b}[2J\\u{202e}!");
    expect(escapeUnshown("\\u{1b}")).toBe("\\\\u{1b}");
    for (const s of acting) expect(isShownAsWritten(escapeUnshown(s))).toBe(true);
  });
});

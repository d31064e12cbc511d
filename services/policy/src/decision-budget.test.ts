/**
 * A decision question bigger than an exchanger can send is refused before Cedar sees it: cedar-wasm converts the
 * context on every question (the gate and each requested scope), so a question of 256 short scopes beside 70 KB of
 * actors, within the 76 KiB gRPC limit, held the replica's event loop for 0.6 s. One at each bound still decides.
 */
import { describe, expect, it } from "vitest";
import { MAX_DECISION_CHARS, MAX_DECISION_REQUESTED_SCOPES, MAX_DECISION_SUBJECT_SCOPES } from "@sts/scopes";
import { PolicyEngine } from "./cedar-engine.js";
import type { DecideInput } from "./cedar-engine.js";
import { compileHops } from "./hops.js";

// A may get any of s0 … s199 for B; the subject's scopes are other names (templates are taken in a subject's scope).
const granted = Array.from({ length: 200 }, (_, i) => `s${i}`);
const engine = new PolicyEngine(compileHops([{ from: "A", to: "B", scopes: granted, default_scopes: ["s0"] }]));

const input = (over: Partial<DecideInput> = {}): DecideInput => ({
  clientId: "A",
  audience: "B",
  requestedScopes: ["s1"],
  subject: { sub: "alice", clientId: "app", iss: "https://sts.example", scopes: ["s1"], audience: ["A"] },
  depth: 1,
  actors: [],
  callerInAudience: true,
  ...over,
});

/** `count` distinct names of `length` characters each. */
const names = (count: number, length: number, prefix = "n"): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}-`.padEnd(length, "x"));

/** The characters `input(over)` sums to, as the engine counts them. */
function chars(d: DecideInput): number {
  const s = d.subject;
  return [d.clientId, d.audience, s.sub, s.clientId, s.iss, ...d.requestedScopes, ...d.actors, ...s.scopes, ...s.audience].join("").length;
}

describe("decide: the question's budget (MAX_DECISION_*, libs/scopes)", () => {
  it(`decides ${MAX_DECISION_REQUESTED_SCOPES} requested scopes, and refuses one more naming the bound`, () => {
    const at = engine.decide(input({ requestedScopes: granted.slice(0, MAX_DECISION_REQUESTED_SCOPES) }));
    expect(at).toMatchObject({ allow: true, allowedScopes: granted.slice(0, MAX_DECISION_REQUESTED_SCOPES), errors: [] });
    const over = engine.decide(input({ requestedScopes: granted.slice(0, MAX_DECISION_REQUESTED_SCOPES + 1) }));
    expect(over).toEqual({
      allow: false,
      policyIds: [],
      allowedScopes: [],
      defaultScopes: [],
      maxDepth: 0,
      reason: `malformed decision request: requested_scopes has more than ${MAX_DECISION_REQUESTED_SCOPES} entries`,
      errors: [`requested_scopes has more than ${MAX_DECISION_REQUESTED_SCOPES} entries`],
    });
  });

  it(`decides ${MAX_DECISION_SUBJECT_SCOPES} subject scopes (what a scope claim may hold), and refuses one more naming the bound`, () => {
    const subject = (n: number): DecideInput["subject"] => ({ ...input().subject, scopes: names(n, 8, "t") });
    expect(engine.decide(input({ subject: subject(MAX_DECISION_SUBJECT_SCOPES) }))).toMatchObject({ allow: true, allowedScopes: ["s1"] });
    expect(engine.decide(input({ subject: subject(MAX_DECISION_SUBJECT_SCOPES + 1) }))).toMatchObject({
      allow: false,
      reason: `malformed decision request: subject.scopes has more than ${MAX_DECISION_SUBJECT_SCOPES} entries`,
    });
  });

  it(`decides a question whose strings sum to ${MAX_DECISION_CHARS} characters, and refuses one character more naming the bound`, () => {
    // Audiences and actors of 1,000 characters, the last audience cut to land on the bound exactly.
    const base = input({ actors: names(20, 1000, "actor") });
    const room = MAX_DECISION_CHARS - chars(base);
    const audience = [...base.subject.audience, ...names(Math.floor(room / 1000), 1000, "aud"), "z".repeat(room % 1000)];
    const at = { ...base, subject: { ...base.subject, audience } };
    expect(chars(at)).toBe(MAX_DECISION_CHARS);
    expect(engine.decide(at)).toMatchObject({ allow: true, allowedScopes: ["s1"], defaultScopes: ["s0"], errors: [] });

    const over = { ...at, subject: { ...at.subject, sub: `${at.subject.sub}!` } };
    expect(engine.decide(over)).toMatchObject({
      allow: false,
      policyIds: [],
      allowedScopes: [],
      reason: `malformed decision request: its strings sum to more than ${MAX_DECISION_CHARS} characters`,
    });
    // Every string counts, wherever it is.
    const overByScope = { ...at, requestedScopes: ["s1", "s2"] };
    expect(engine.decide(overByScope).reason).toBe(`malformed decision request: its strings sum to more than ${MAX_DECISION_CHARS} characters`);
  });

  it("a what-if (Validate) is held to the same budget", () => {
    const over = input({ actors: names(MAX_DECISION_CHARS / 1000 + 1, 1000) });
    expect(engine.whatIf(over, { without: "hop/A/B/scopes" })).toMatchObject({
      allow: false,
      reason: `malformed decision request: its strings sum to more than ${MAX_DECISION_CHARS} characters`,
    });
  });
});

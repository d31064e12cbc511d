import { describe, expect, it } from "vitest";
import { lineageKidsFor } from "./lineage-kids.js";

describe("the keys a new token's chain rests on (lineage_kids)", () => {
  it("names the key that signed the subject token and those that signed its ancestors, each once", () => {
    expect(lineageKidsFor({ kid: "k2", claims: {}, foreign: false })).toEqual(["k2"]);
    expect(lineageKidsFor({ kid: "k3", claims: { lineage_kids: ["k2", "k1"] }, foreign: false })).toEqual(["k3", "k2", "k1"]);
    // A key named by the header and by the claim alike is named once.
    expect(lineageKidsFor({ kid: "k1", claims: { lineage_kids: ["k1"] }, foreign: false })).toEqual(["k1"]);
  });

  it("adds an actor token's keys, since the delegation rests on it too", () => {
    const subject = { kid: "k2", claims: { lineage_kids: ["k1"] }, foreign: false };
    expect(lineageKidsFor(subject, { kid: "k3", claims: { lineage_kids: ["k0", "k1"] }, foreign: false })).toEqual(["k2", "k1", "k3", "k0"]);
    expect(lineageKidsFor(subject, { kid: "k2", claims: {}, foreign: false })).toEqual(["k2", "k1"]);
  });

  it("takes nothing from another issuer's subject token: its keys are not ours to withdraw", () => {
    const foreign = { kid: "idp-key", claims: { lineage_kids: ["idp-old"] }, foreign: true };
    expect(lineageKidsFor(foreign)).toEqual([]);
    // With an actor token of ours, only the actor token's keys.
    expect(lineageKidsFor(foreign, { kid: "k2", claims: { lineage_kids: ["k1"] }, foreign: false })).toEqual(["k2", "k1"]);
  });
});

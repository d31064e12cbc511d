import { describe, expect, it } from "vitest";
import { OAuthError } from "@sts/errors";
import { StalenessGuard } from "./revocation-list.js";
import type { CopyFreshness } from "./revocation-list.js";

/** A connection whose status the test sets, and a clock it moves. */
function setup(connected: boolean) {
  let status = connected;
  const listeners: Array<(c: boolean) => void> = [];
  let t = 1_000_000;
  const connection = {
    isConnected: () => status,
    onStatusChange: (cb: (c: boolean) => void) => listeners.push(cb),
  };
  const set = (c: boolean): void => {
    status = c;
    for (const l of listeners) l(c);
  };
  const guard = new StalenessGuard(connection, 30_000, () => t);
  return { guard, set, advance: (ms: number) => (t += ms), now: () => t };
}

const failure = (guard: StalenessGuard, copy?: CopyFreshness): string | undefined => {
  try {
    guard.check(copy);
    return undefined;
  } catch (err) {
    return err instanceof OAuthError ? err.code : "other";
  }
};

describe("StalenessGuard", () => {
  it("trusts the cache while connected, however long", () => {
    const { guard, advance } = setup(true);
    advance(3_600_000);
    expect(failure(guard)).toBeUndefined();
  });

  it("keeps answering for the bounded staleness after a disconnect, then fails closed", () => {
    const { guard, set, advance } = setup(true);
    set(false);
    advance(30_000);
    expect(failure(guard)).toBeUndefined();
    advance(1);
    expect(failure(guard)).toBe("temporarily_unavailable");
  });

  it("counts from the first disconnect, not from each status report", () => {
    const { guard, set, advance } = setup(true);
    set(false);
    advance(20_000);
    set(false);
    advance(20_000);
    expect(failure(guard)).toBe("temporarily_unavailable");
  });

  it("trusts the cache again once reconnected, and starts from a disconnected state when it starts so", () => {
    const { guard, set, advance } = setup(false);
    advance(30_001);
    expect(failure(guard)).toBe("temporarily_unavailable");
    set(true);
    expect(failure(guard)).toBeUndefined();
  });

  it("fails closed, though connected, once the copy was last seen current longer ago than the bound and two probe periods", () => {
    const { guard, advance, now } = setup(true);
    const copy = { confirmedAt: now(), probeIntervalMs: 5_000 };
    advance(40_000);
    expect(failure(guard, copy)).toBeUndefined();
    advance(1);
    expect(failure(guard, copy)).toBe("temporarily_unavailable");
    // Seen current again (the watch caught up): trusted again.
    copy.confirmedAt = now();
    expect(failure(guard, copy)).toBeUndefined();
    // A copy not loaded yet says nothing (readers wait for it to load before they serve).
    expect(failure(guard, { confirmedAt: undefined, probeIntervalMs: 5_000 })).toBeUndefined();
  });

  it("keeps a copy confirmed before a short cut for the bound and two probe periods from that confirmation, not from the reconnect", () => {
    const { guard, set, advance, now } = setup(true);
    const copy = { confirmedAt: now(), probeIntervalMs: 5_000 };
    set(false);
    advance(20_000);
    expect(failure(guard, copy)).toBeUndefined();
    set(true);
    advance(20_000);
    expect(failure(guard, copy)).toBeUndefined();
    advance(1);
    expect(failure(guard, copy)).toBe("temporarily_unavailable");
    // The copy's read after the reconnect confirms it.
    copy.confirmedAt = now();
    expect(failure(guard, copy)).toBeUndefined();
  });

  it("refuses, while cut off within the bound, a copy already too old when the cut began", () => {
    const { guard, set, advance, now } = setup(true);
    const copy = { confirmedAt: now(), probeIntervalMs: 5_000 };
    advance(39_000);
    expect(failure(guard, copy)).toBeUndefined();
    set(false);
    advance(2_000);
    expect(failure(guard, copy)).toBe("temporarily_unavailable");
  });

  it("bounds a copy's age however often the connection comes back (short cuts never restart the count)", () => {
    const { guard, set, advance, now } = setup(true);
    // Confirmed once, never again (its JetStream requests failing); every cut shorter than the bound.
    const copy = { confirmedAt: now(), probeIntervalMs: 5_000 };
    const outcomes: Array<string | undefined> = [];
    for (let cycle = 0; cycle < 10; cycle++) {
      advance(9_000);
      outcomes.push(failure(guard, copy));
      set(false);
      advance(9_000);
      outcomes.push(failure(guard, copy));
      set(true);
    }
    // 40 s is the bound and two probe periods: answered until 36 s, refused from 45 s on.
    expect(outcomes.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(outcomes.slice(4)).toEqual(Array<string>(16).fill("temporarily_unavailable"));
  });
});

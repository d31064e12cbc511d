import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { IdentityBoundChannel } from "./identity-channel.js";
import type { IdentityState } from "./tls.js";

/** An identity the test withdraws and restores by hand. */
function manualIdentity(): IdentityState & { set(held: boolean): void } {
  let held = true;
  const listeners = new Set<(held: boolean) => void>();
  return {
    held: () => held,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(next) {
      held = next;
      for (const l of listeners) l(next);
    },
  };
}

/** The status a started call reports, or "none" when nothing comes within a second. */
function statusOf(call: ReturnType<grpc.ChannelInterface["createCall"]>): Promise<grpc.StatusObject | "none"> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("none"), 1_000);
    call.start(new grpc.Metadata(), {
      onReceiveMetadata: () => undefined,
      onReceiveMessage: () => undefined,
      onReceiveStatus: (status) => {
        clearTimeout(timer);
        resolve(status);
      },
    });
  });
}

describe("IdentityBoundChannel", () => {
  it("reports UNAVAILABLE to a call that the withdrawal failed before it started (an async interceptor in between)", async () => {
    const identity = manualIdentity();
    // Nothing listens there: the call must never get far enough to need it.
    const channel = new IdentityBoundChannel("127.0.0.1:9", grpc.credentials.createInsecure(), {}, identity);
    try {
      const call = channel.createCall("/test.Service/Method", Date.now() + 5_000, undefined, null, undefined);
      identity.set(false);
      const status = await statusOf(call);
      expect(status === "none" ? status : [status.code, status.details]).toEqual([
        grpc.status.UNAVAILABLE,
        "the X.509-SVID this call was made with was withdrawn",
      ]);
    } finally {
      channel.close();
    }
  });
});

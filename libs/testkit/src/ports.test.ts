import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freePort } from "./ports.js";

const ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);

describe("freePort", () => {
  it("never hands out the same port twice, and stays below the ephemeral range", async () => {
    const ports: number[] = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(50);
    for (const p of ports) expect(p).toBeLessThan(ephemeralLow);
  });

  it("skips a port something else is listening on", async () => {
    expect(ephemeralLow).toBeGreaterThan(11_000); // so freePort draws from its slices, the case tested here
    const first = await freePort();
    // The next candidates after `first`: freePort walks its 1000-port slice (aligned on multiples of 1000) and wraps at its end.
    const candidates = [1, 2, 3].map((d) => ((first % 1000) + d >= 1000 ? first + d - 1000 : first + d));
    // Occupy them: a candidate is blocked either by our listener or, if the bind fails with EADDRINUSE, by someone else's.
    const blockers = await Promise.all(
      candidates.map(
        (port) =>
          new Promise<ReturnType<typeof createServer> | undefined>((resolve, reject) => {
            const s = createServer();
            s.once("error", (err: NodeJS.ErrnoException) => (err.code === "EADDRINUSE" ? resolve(undefined) : reject(err)));
            s.listen(port, "127.0.0.1", () => resolve(s));
          }),
      ),
    );
    try {
      const port = await freePort();
      expect(candidates).not.toContain(port);
      await new Promise<void>((resolve, reject) => {
        const s = createServer();
        s.once("error", reject);
        s.listen(port, "127.0.0.1", () => s.close(() => resolve()));
      });
    } finally {
      await Promise.all(blockers.map((b) => new Promise((r) => (b ? b.close(r) : r(undefined)))));
    }
  });
});

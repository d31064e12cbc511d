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
    const first = await freePort();
    // Occupy the next candidates: whatever comes back must still be bindable.
    const blockers = await Promise.all(
      [1, 2, 3].map(
        (d) =>
          new Promise<ReturnType<typeof createServer> | undefined>((resolve) => {
            const s = createServer();
            s.once("error", () => resolve(undefined));
            s.listen(first + d, "127.0.0.1", () => resolve(s));
          }),
      ),
    );
    const port = await freePort();
    for (const [i, b] of blockers.entries()) if (b) expect(port).not.toBe(first + i + 1);
    await new Promise<void>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => s.close(() => resolve()));
    });
    await Promise.all(blockers.map((b) => new Promise((r) => (b ? b.close(r) : r(undefined)))));
  });
});

import { metrics } from "@opentelemetry/api";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { beforeAll, describe, expect, it } from "vitest";
import { ScryptGate, hashSecret, verifySecret } from "./index.js";

/** A reader collected on demand. */
class OnDemandReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const reader = new OnDemandReader();

/** The counter's value per `sts.result`. */
async function checksByResult(): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const out: Record<string, number> = {};
  for (const scope of resourceMetrics.scopeMetrics)
    for (const metric of scope.metrics)
      if (metric.descriptor.name === "sts.client_auth.secret_checks")
        for (const point of metric.dataPoints) out[String(point.attributes["sts.result"])] = point.value as number;
  return out;
}

describe("secret check metric", () => {
  // Set before the first check: the counter is made on first use, as in a service after startTelemetry.
  beforeAll(() => {
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  });

  it("counts match, cached, mismatch and gate refusals, each once", async () => {
    const stored = await hashSecret("right-secret-0000000001");
    expect(await verifySecret(stored, "right-secret-0000000001")).toBe(true);
    expect(await verifySecret(stored, "right-secret-0000000001")).toBe(true);
    expect(await verifySecret(stored, "wrong-secret-0000000001")).toBe(false);
    // One slot, no queue: of two first-time checks at once, the second is refused.
    const gate = new ScryptGate(1, 0);
    const both = await Promise.allSettled([verifySecret(stored, "guess-1-000000000000001", gate), verifySecret(stored, "guess-2-000000000000001", gate)]);
    expect(both.map((r) => r.status)).toEqual(["fulfilled", "rejected"]);
    expect(await checksByResult()).toEqual({ match: 1, cached: 1, mismatch: 2, refused: 1 });
  });
});

describe("a stored hash whose scrypt parameters scrypt refuses", () => {
  it("is a mismatch for any secret, never an error the caller would see as the server's fault", async () => {
    const [, , , , salt, hash] = (await hashSecret("right-secret-0000000001")).split("$");
    // An N that is no power of two, as an earlier release or a hand-written record could hold.
    expect(await verifySecret(`scrypt$1000$8$1$${salt}$${hash}`, "right-secret-0000000001")).toBe(false);
  });
});

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import type { DataPoint, Histogram } from "@opentelemetry/sdk-metrics";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DURATION_BUCKETS_S } from "./metrics.js";
import { recordRuntimeMetrics } from "./runtime-metrics.js";

setFlagsFromString("--expose-gc");
/** A full collection on demand, as `--expose-gc` gives one. */
const gc = runInNewContext("gc") as () => void;

let exporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let stop: () => void;

beforeEach(() => {
  exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  stop = recordRuntimeMetrics(new MeterProvider({ readers: [reader] }).getMeter("test"), DURATION_BUCKETS_S);
});

afterEach(async () => {
  stop();
  await reader.shutdown();
});

/** The data points of one instrument at a fresh collection. */
async function points(name: string): Promise<Array<DataPoint<unknown>>> {
  exporter.reset();
  await reader.forceFlush();
  return exporter
    .getMetrics()
    .flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
    .filter((m) => m.descriptor.name === name)
    .flatMap((m) => m.dataPoints as Array<DataPoint<unknown>>);
}

const majorPauses = async (): Promise<Histogram | undefined> =>
  (await points("v8js.gc.duration")).find((p) => p.attributes["v8js.gc.type"] === "major")?.value as Histogram | undefined;

const turn = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("runtime metrics", () => {
  it("records every pause, several in one event-loop turn included, by kind and in the stack's buckets", async () => {
    const before = (await majorPauses())?.count ?? 0;
    // Three collections before the observer can run: it hands them over together.
    gc();
    gc();
    gc();
    await turn(50);
    const after = await majorPauses();
    expect((after?.count ?? 0) - before).toBeGreaterThanOrEqual(3);
    expect(after?.buckets.boundaries).toEqual(DURATION_BUCKETS_S);
    expect(after?.sum).toBeGreaterThan(0);
  });

  it("stops recording when stopped", async () => {
    stop();
    const before = (await majorPauses())?.count ?? 0;
    gc();
    await turn(50);
    expect((await majorPauses())?.count ?? 0).toBe(before);
    stop = () => undefined;
  });

  it("reports the event-loop delay since the previous collection, in seconds, and the heap in use by space", async () => {
    await turn(50);
    await points("nodejs.eventloop.delay.max");
    await turn(30);
    // The loop held for 300 ms: the timer's interval that spans it is at least that long.
    const until = performance.now() + 300;
    while (performance.now() < until);
    await turn(30);
    const held = (await points("nodejs.eventloop.delay.max"))[0]?.value as number;
    expect(held).toBeGreaterThanOrEqual(0.3);
    expect(held).toBeLessThan(5);
    // That collection started a new window: an idle one shows intervals near the 10 ms period again.
    await turn(60);
    expect((await points("nodejs.eventloop.delay.max"))[0]?.value as number).toBeLessThan(held);
    const heap = await points("v8js.memory.heap.used");
    expect(heap.find((p) => p.attributes["v8js.heap.space.name"] === "old_space")?.value as number).toBeGreaterThan(0);
  });
});

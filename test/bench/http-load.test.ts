import { describe, expect, it } from "vitest";
import { parseWrk } from "./http-load.js";

// Output of `wrk -t1 -c2 -d1s --latency`, as wrk 4.1 prints it.
const WRK_OUTPUT = `Running 1s test @ http://127.0.0.1:18555/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.31ms    0.89ms  11.93ms   93.37%
    Req/Sec     1.53k   143.58     1.74k    70.00%
  Latency Distribution
     50%    1.16ms
     75%    1.48ms
     90%    1.88ms
     99%    5.55ms
  1524 requests in 1.00s, 2.11MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1523.60
Transfer/sec:      2.11MB
`;

describe("parseWrk", () => {
  it("reads requests, rate, percentiles and every kind of error, counting only successful answers as throughput", () => {
    expect(parseWrk(WRK_OUTPUT)).toEqual({
      requests: 1520,
      errors: 7,
      errorDetail: "non-2xx/3xx 4, socket errors 3; latencies include them",
      rps: 1520,
      p50: 1.16,
      p99: 5.55,
      max: 11.93,
    });
  });

  it("converts microseconds and seconds to milliseconds", () => {
    const out = WRK_OUTPUT.replace("50%    1.16ms", "50%  870.00us").replace("99%    5.55ms", "99%    1.20s");
    const r = parseWrk(out);
    expect(r.p50).toBeCloseTo(0.87, 6);
    expect(r.p99).toBe(1200);
  });

  it("refuses output without the latency distribution rather than report zeros", () => {
    expect(() => parseWrk(WRK_OUTPUT.replace(/ {5}99%.*\n/, ""))).toThrow(/99%/);
  });
});

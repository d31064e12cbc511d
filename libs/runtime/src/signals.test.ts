/**
 * The shutdown signal handler in a real child process: a stop that never finishes ends the process at the deadline,
 * with status 1 and a line saying so, instead of leaving it to a SIGKILL that says nothing.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";

const SIGNALS = new URL("../dist/signals.js", import.meta.url).href;

/** Runs a process whose shutdown is `stop` (JS source of a function returning a promise), sends it SIGTERM once ready. */
function shutDown(stop: string, deadlineMs: number): Promise<{ code: number | null; output: string }> {
  const script = `
    const { onShutdownSignal } = await import(${JSON.stringify(SIGNALS)});
    const logger = { info: () => {}, error: (fields, msg) => console.log(msg, JSON.stringify(fields)) };
    onShutdownSignal(${stop}, logger, ${deadlineMs});
    setInterval(() => {}, 1000);
    console.log("ready");
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  let signalled = false;
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    if (!signalled && output.includes("ready")) {
      signalled = true;
      child.kill("SIGTERM");
    }
  });
  // A process still running when the test gives up is killed, not left behind.
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

describe("onShutdownSignal", () => {
  it("ends a process whose stop never finishes at the deadline, status 1, saying so", async () => {
    const r = await shutDown("() => new Promise(() => {})", 300);
    expect([r.code, r.output]).toEqual([1, expect.stringContaining('shutdown did not finish in time: exiting {"deadline_ms":300}')]);
  });

  it("exits 0 as soon as a stop finishes, before the deadline", async () => {
    const r = await shutDown("() => Promise.resolve()", 60_000);
    expect([r.code, r.output]).toEqual([0, "ready\n"]);
  });
});

/**
 * startProcess's children do not outlive the test process: a test process that is signalled (as vitest stops a fork
 * worker, or Ctrl-C) kills them first. Each case is a real Node process that starts a real `sleep` through the built
 * testkit, then gets the signal.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "./ports.js";
import { isProcessRunning, startProcess } from "./process.js";

const TESTKIT = new URL("../dist/index.js", import.meta.url).href;

const started: { dirs: string[]; pids: number[]; parents: ChildProcess[] } = { dirs: [], pids: [], parents: [] };

afterEach(() => {
  // Whatever a failed case left behind.
  for (const pid of started.pids.splice(0)) if (isProcessRunning(pid)) process.kill(pid, "SIGKILL");
  for (const parent of started.parents.splice(0)) if (parent.exitCode === null && parent.signalCode === null) parent.kill("SIGKILL");
  for (const dir of started.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts a Node process that starts `sleep 987` with startProcess and prints its pid; `ownHandler` gives that process
 * a SIGTERM listener of its own, which exits on a message on stdin.
 */
async function parentOfSleep(ownHandler = false): Promise<{ parent: ChildProcess; sleepPid: number; exited: Promise<NodeJS.Signals | number | null> }> {
  const dir = mkdtempSync(join(tmpdir(), "testkit-process-"));
  started.dirs.push(dir);
  const script = join(dir, "parent.mjs");
  writeFileSync(
    script,
    [
      `import { startProcess } from ${JSON.stringify(TESTKIT)};`,
      ownHandler ? `process.on("SIGTERM", () => console.log("own handler"));` : "",
      `process.stdin.on("data", () => process.exit(7));`,
      `const sleep = await startProcess({ name: "sleep", command: "sleep", args: ["987"], ready: async () => true });`,
      `console.log(JSON.stringify({ sleep: sleep.pid }));`,
      // Keeps the process alive until it is signalled, as a test file's worker is.
      `setInterval(() => undefined, 1000);`,
    ].join("\n"),
  );
  const parent = spawn(process.execPath, [script], { stdio: ["pipe", "pipe", "inherit"] });
  started.parents.push(parent);
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => parent.once("exit", (code, signal) => resolve(signal ?? code)));
  let out = "";
  parent.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const sleepPid = await waitFor(async () => (/"sleep":(\d+)/.exec(out) ? Number(/"sleep":(\d+)/.exec(out)?.[1]) : undefined), {
    timeoutMs: 10_000,
    message: "the parent never started sleep",
  });
  started.pids.push(sleepPid);
  expect(isProcessRunning(sleepPid)).toBe(true);
  return { parent, sleepPid, exited };
}

describe("startProcess children and the test process's end", () => {
  it.each(["SIGTERM", "SIGINT", "SIGHUP"] as const)("kills the children when the test process gets %s, which then ends it", async (signal) => {
    const { parent, sleepPid, exited } = await parentOfSleep();
    parent.kill(signal);
    // Ended by the same signal, as without the handler: no exit code of its own making.
    expect(await exited).toBe(signal);
    await waitFor(async () => !isProcessRunning(sleepPid), { timeoutMs: 5_000, message: `sleep ${sleepPid} outlived its parent, ended by ${signal}` });
  });

  it("leaves ending the process to a SIGTERM listener of its own, having killed the children", async () => {
    const { parent, sleepPid, exited } = await parentOfSleep(true);
    parent.kill("SIGTERM");
    await waitFor(async () => !isProcessRunning(sleepPid), { timeoutMs: 5_000, message: `sleep ${sleepPid} outlived the SIGTERM` });
    expect(parent.exitCode).toBeNull();
    expect(parent.signalCode).toBeNull();
    parent.stdin?.write("exit\n");
    expect(await exited).toBe(7);
  });
});

describe("output since a mark", () => {
  /** A shell that prints `first`, waits for `go` to exist, then prints what `then` prints, and stays up. */
  async function printer(then: string) {
    const dir = mkdtempSync(join(tmpdir(), "testkit-output-"));
    started.dirs.push(dir);
    const go = join(dir, "go");
    const handle = await startProcess({
      name: "printer",
      command: "sh",
      args: ["-c", `echo first; while [ ! -e ${go} ]; do sleep 0.05; done; ${then}; exec sleep 987`],
      ready: async () => true,
    });
    started.pids.push(handle.pid);
    await waitFor(() => handle.output().includes("first"), { timeoutMs: 5_000, message: "never printed first" });
    return { handle, go: () => writeFileSync(go, "") };
  }

  it("holds only what was printed after the mark", async () => {
    const { handle, go } = await printer("echo second");
    try {
      const mark = handle.mark();
      expect(handle.outputSince(mark)).toBe("");
      go();
      await waitFor(() => handle.outputSince(mark).includes("second"), { timeoutMs: 5_000, message: "never printed second" });
      expect(handle.outputSince(mark)).toBe("second\n");
      expect(handle.outputSince(0)).toBe("first\nsecond\n");
    } finally {
      await handle.stop();
    }
  });

  it("refuses a mark whose output is no longer kept, rather than answer with what is", async () => {
    const { handle, go } = await printer(`head -c 70000 /dev/zero | tr '\\0' x; echo; echo last`);
    try {
      const mark = handle.mark();
      go();
      await waitFor(() => handle.output().endsWith("last\n"), { timeoutMs: 5_000, message: "never printed last" });
      expect(() => handle.outputSince(mark)).toThrow(/printer: output since \d+ no longer kept/);
      expect(handle.outputSince(handle.mark() - 5)).toBe("last\n");
    } finally {
      await handle.stop();
    }
  });
});

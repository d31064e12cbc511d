/**
 * The local runner (deploy/local/run.mjs, what `npm start` runs) when its terminal goes away: closing the window or
 * losing the ssh session sends SIGHUP to every process of the job, and the runner's output has nowhere to go. It must
 * still stop what it started, nats-server included, which takes SIGHUP as "reload your config" and keeps running.
 * And STS_NATS_PORT, its own nats-server's port, is read as the config reads a port: a value that is none is refused
 * before anything starts, naming the variable.
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, tcpOpen, waitFor } from "@sts/testkit";
import { ROOT } from "./harness.js";

/** The processes of process group `pgid` still in the process table (zombies included), with their command lines. */
function groupMembers(pgid: number): string[] {
  const members: string[] = [];
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the command (in parentheses, which may hold spaces): state, ppid, pgrp.
      const [, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid) members.push(`${entry} ${readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim()}`);
    } catch {
      // Gone between the listing and the read.
    }
  }
  return members;
}

describe("the local runner (npm start) when its terminal hangs up", () => {
  let dir: string;
  let runner: ChildProcess;
  let natsPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sts-runner-hup-"));
    const ports = Object.fromEntries(await Promise.all(["gateway", "issuer", "exchanger", "policy", "audit"].map(async (n) => [n, await freePort()] as const)));
    const file = join(dir, "sts.yaml");
    const services = Object.entries(ports)
      .map(([name, port]) => `  ${name}: { host: 127.0.0.1, port: ${port} }`)
      .join("\n");
    writeFileSync(file, `issuer: http://127.0.0.1:${ports.gateway}\nservices:\n${services}\n`);
    natsPort = await freePort();
    // A process group of its own, as a terminal's job is: the hang-up goes to every process in it.
    runner = spawn(process.execPath, [join(ROOT, "deploy/local/run.mjs")], {
      cwd: ROOT,
      env: { ...process.env, STS_CONFIG: file, STS_DATA_DIR: join(dir, "data"), STS_NATS_PORT: String(natsPort), NATS_URL: "" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
  });

  afterAll(() => {
    // Whatever the runner left behind (the group is this test's own), so that no later test finds the port taken.
    try {
      if (runner.pid) process.kill(-runner.pid, "SIGKILL");
    } catch {
      // Nothing left.
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("stops every process it started, nats-server included, though its output has nowhere to go", async () => {
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => runner.once("exit", (code, signal) => resolve([code, signal])));
    await waitFor(() => tcpOpen(natsPort), { timeoutMs: 30_000, message: "the runner's nats-server listening" });
    const pgid = runner.pid!;
    expect(groupMembers(pgid).some((p) => p.includes("nats-server"))).toBe(true);
    // The terminal gone: nothing reads the runner's output any more, and the whole job gets SIGHUP.
    runner.stdout!.destroy();
    runner.stderr!.destroy();
    process.kill(-pgid, "SIGHUP");
    const end = await exited;
    // The runner ends only once every process it started has ended (and been reaped): none may be left in the job.
    expect(groupMembers(pgid), "processes of the runner's job still in the process table").toEqual([]);
    expect(end).toEqual([0, null]);
    expect(await tcpOpen(natsPort)).toBe(false);
  }, 60_000);
});

describe("the local runner (npm start) given an STS_NATS_PORT that is no port", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sts-runner-port-"));
    writeFileSync(join(dir, "sts.yaml"), "services:\n  gateway: { port: 0 }\n");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Number() read " " and "0" as port 0 and "abc" as NaN, which the port checks let through to nats-server's -p.
  it.each([" ", "0", "abc", "0x1f90", "70000"])("refuses %j before starting anything, naming the variable", (value) => {
    const r = spawnSync(process.execPath, [join(ROOT, "deploy/local/run.mjs")], {
      cwd: ROOT,
      env: { ...process.env, STS_CONFIG: join(dir, "sts.yaml"), STS_DATA_DIR: join(dir, "data"), STS_NATS_PORT: value, NATS_URL: "" },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect([r.status, r.stderr]).toEqual([
      1,
      "mesh-sts: STS_NATS_PORT: expected a port number from 1 to 65535, in decimal digits (the local nats-server's port)\n",
    ]);
    expect(r.stdout).not.toContain("[nats]");
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Resident set size of a process in MB (VmRSS of /proc/<pid>/status), or null when unreadable. */
export function rssMb(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; `stop()` returns the largest sample. */
export function sampleRss(pid: number, everyMs = 200): { stop(): number | null } {
  let max: number | null = rssMb(pid);
  const timer = setInterval(() => {
    const now = rssMb(pid);
    if (now !== null && (max === null || now > max)) max = now;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const now = rssMb(pid);
      if (now !== null && (max === null || now > max)) max = now;
      return max;
    },
  };
}

/** CPU time (user + system) in clock ticks from a /proc stat file: a process's, or one thread's; 0 when unreadable. */
function processTicks(pid: number, thread?: number): number {
  try {
    const stat = readFileSync(
      thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`,
      'utf8',
    );
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** Busy CPU time of the whole machine in clock ticks (everything but idle and iowait), from /proc/stat. */
function machineBusyTicks(): number {
  try {
    const cpu =
      readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
    return user + nice + system + irq + softirq + steal;
  } catch {
    return 0;
  }
}

const TICKS_PER_S = 100; // USER_HZ on Linux

export interface CpuUse {
  /** The server process, all threads (null for in-process measurements). */
  server: number | null;
  /** The server's main thread alone: the event loop. 1.0 means it is saturated. */
  serverMain: number | null;
  /** This process: the load generator, or the in-process baseline. */
  self: number;
  /** Everything else on the machine: other users' work, i.e. noise. */
  other: number;
}

/** Measures CPU use over an interval, in cores (see CpuUse). */
export function cpuMeter(server: number | null) {
  const started = performance.now();
  const busy0 = machineBusyTicks();
  const self0 = processTicks(process.pid);
  const server0 = server === null ? 0 : processTicks(server);
  const main0 = server === null ? 0 : processTicks(server, server);
  return {
    stop(): CpuUse {
      const seconds = (performance.now() - started) / 1000;
      const cores = (ticks: number) => ticks / TICKS_PER_S / seconds;
      const self = processTicks(process.pid) - self0;
      const srv = server === null ? 0 : processTicks(server) - server0;
      const main = server === null ? 0 : processTicks(server, server) - main0;
      const other = Math.max(0, machineBusyTicks() - busy0 - self - srv);
      return {
        server: server === null ? null : cores(srv),
        serverMain: server === null ? null : cores(main),
        self: cores(self),
        other: cores(other),
      };
    },
  };
}

export interface ServerProcess {
  readonly pid: number;
  readonly url: string;
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed by a signal). */
  stop(graceMs?: number): Promise<number | null>;
  /** Non-null once the process has exited. */
  exitCode(): number | null | undefined;
}

/**
 * Starts `node <args>` with `env`, its output appended to `logFile`, and waits until `readyPath`
 * answers 200 (at most `timeoutMs`). Fails with the log's tail when the process exits or never gets ready.
 */
export async function startProcess(options: {
  args: string[];
  env: NodeJS.ProcessEnv;
  port: number;
  readyPath: string;
  logFile: string;
  cwd?: string;
  timeoutMs?: number;
}): Promise<ServerProcess> {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child: ChildProcess = spawn(process.execPath, options.args, {
    env: options.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  // Never leave a server behind, whatever way the benchmark ends.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      process.off('exit', killOnExit);
      exited = code;
      resolve(code);
    });
  });
  const url = `http://127.0.0.1:${options.port}`;
  const tail = () => {
    try {
      return readFileSync(options.logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (exited !== undefined)
      throw new Error(`process exited with ${exited} before it was ready:\n${tail()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`process not ready within ${options.timeoutMs ?? 30_000} ms:\n${tail()}`);
    }
    try {
      const res = await fetch(url + options.readyPath, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('spawned process has no pid');
  return {
    pid,
    url,
    logFile: options.logFile,
    exitCode: () => exited,
    async stop(graceMs = 15_000) {
      if (exited !== undefined) return exited;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exit;
      clearTimeout(killer);
      log.end();
      return code;
    },
  };
}

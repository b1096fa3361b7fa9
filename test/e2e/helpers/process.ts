import { spawn } from 'node:child_process';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Reject unless the exit code is 0 (default true). */
  check?: boolean;
  /** Stream output to the test log while it runs (long builds). */
  echo?: boolean;
}

/** Runs a command without a shell, bounded in time; its output is collected. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { env = process.env, cwd, timeoutMs = 120_000, check = true, echo = false } = options;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (echo) process.stdout.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      if (echo) process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr, ms: Date.now() - started };
      if (check && code !== 0) {
        const why = signal
          ? `killed by ${signal} after ${result.ms} ms (timeout ${timeoutMs} ms)`
          : `exit ${code}`;
        reject(new Error(`${cmd} ${args.join(' ')}: ${why}\n${tail(stderr || stdout, 4000)}`));
      } else {
        resolve(result);
      }
    });
  });
}

export function tail(text: string, chars: number): string {
  return text.length > chars ? `…${text.slice(-chars)}` : text;
}

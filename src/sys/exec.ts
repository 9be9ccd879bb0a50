/**
 * The one door to the system: every external command the harness runs goes through here.
 * Argv arrays only, a timeout on every call, cancellation, and one error type that can be
 * pasted back into a shell.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { execa, type ResultPromise } from 'execa';

/** Default time limit for one command, long enough for clang on a loaded 2-core machine. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** Options shared by every command the harness runs. */
export interface RunOptions {
  /** Kill the command after this many milliseconds (default {@link DEFAULT_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Abort the command when this signal fires. */
  signal?: AbortSignal;
  /** Written to the command's standard input (bytes as they are: a crafted packet, say). */
  input?: string | Uint8Array;
  /** When false, a non-zero exit is returned rather than thrown. */
  reject?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
}

/** What a finished command left behind. */
export interface RunResult {
  argv: string[];
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word so that a POSIX shell reads it back unchanged. */
export function shellQuoteWord(word: string): string {
  if (word !== '' && SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Renders an argv as one line a person can paste into a shell. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map(shellQuoteWord).join(' ');
}

/** A command that failed: it carries everything needed to run it again by hand. */
export class CommandError extends Error {
  readonly argv: string[];
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** The failing command, quoted for a shell. */
  readonly commandLine: string;

  constructor(init: {
    argv: string[];
    exitCode?: number | undefined;
    stdout?: string;
    stderr?: string;
    timedOut?: boolean;
    aborted?: boolean;
    cause?: unknown;
  }) {
    const commandLine = shellQuote(init.argv);
    const why = init.timedOut
      ? 'timed out'
      : init.aborted
        ? 'was cancelled'
        : init.exitCode === undefined
          ? 'could not start'
          : `exited ${init.exitCode}`;
    const detail = firstLine(init.stderr) ?? (init.cause instanceof Error ? init.cause.message : undefined);
    super(`command ${why}: ${commandLine}${detail ? ` — ${detail}` : ''}`, { cause: init.cause });
    this.name = 'CommandError';
    this.argv = init.argv;
    this.exitCode = init.exitCode;
    this.stdout = init.stdout ?? '';
    this.stderr = init.stderr ?? '';
    this.timedOut = init.timedOut ?? false;
    this.aborted = init.aborted ?? false;
    this.commandLine = commandLine;
  }
}

function firstLine(text: string | undefined): string | undefined {
  const line = text
    ?.split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  return line === undefined ? undefined : line.slice(0, 300);
}

function fullArgv(argv: readonly string[]): string[] {
  if (argv.length === 0) throw new Error('run: empty argv');
  return [...argv];
}

/** Runs a command to completion and returns its output; throws {@link CommandError} on failure. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = fullArgv(argv);
  const started = performance.now();
  const [file, ...args] = full as [string, ...string[]];
  const result = await execa(file, args, {
    reject: false,
    timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    cancelSignal: opts.signal,
    input: opts.input,
    env: opts.env,
    cwd: opts.cwd,
    stripFinalNewline: false,
    forceKillAfterDelay: 2000,
  });
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  const exitCode = typeof result.exitCode === 'number' ? result.exitCode : undefined;
  const durationMs = performance.now() - started;
  if (result.timedOut || result.isCanceled || exitCode === undefined) {
    throw new CommandError({
      argv: full,
      exitCode,
      stdout,
      stderr,
      timedOut: result.timedOut,
      aborted: result.isCanceled,
      cause: result.cause,
    });
  }
  if (exitCode !== 0 && opts.reject !== false) {
    throw new CommandError({ argv: full, exitCode, stdout, stderr });
  }
  return { argv: full, stdout, stderr, exitCode, durationMs };
}

/** Runs a command whose standard output is JSON (`ip -j`, `tc -j`, `bpftool -j`) and parses it. */
export async function runJson<T>(argv: readonly string[], opts: RunOptions = {}): Promise<T> {
  const result = await run(argv, opts);
  const text = result.stdout.trim();
  if (text === '') return [] as T;
  try {
    return JSON.parse(text) as T;
  } catch (cause) {
    throw new CommandError({
      argv: result.argv,
      exitCode: result.exitCode,
      stdout: result.stdout,
      stderr: `output is not JSON: ${text.slice(0, 120)}`,
      cause,
    });
  }
}

/** A long-lived process (an agent, a capture) the harness started and must stop. */
export interface Started {
  readonly pid: number;
  readonly argv: string[];
  /** Resolves when the process has exited, with what it printed. */
  readonly exited: Promise<RunResult>;
  /** Sends a signal and waits for the exit (escalating to SIGKILL after the grace period). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<RunResult>;
  /** Standard output so far. */
  output(): string;
}

/** Options for a long-lived process. */
export interface StartOptions extends Omit<RunOptions, 'timeoutMs' | 'reject'> {
  /** Leave the process running when this Node process exits (it is then found by name at teardown). */
  detached?: boolean;
  /** Where standard output and error go for a detached process. */
  logFile?: string;
}

/** Starts a long-lived process; its lifetime is the caller's to manage. */
export function start(argv: readonly string[], opts: StartOptions = {}): Started {
  const full = fullArgv(argv);
  if (opts.detached) return startDetached(full, opts);
  const [file, ...args] = full as [string, ...string[]];
  const started = performance.now();
  let out = '';
  const child: ResultPromise = execa(file, args, {
    reject: false,
    cancelSignal: opts.signal,
    env: opts.env,
    cwd: opts.cwd,
    input: opts.input,
    stdout: opts.logFile ? { file: opts.logFile, append: true } : 'pipe',
    stderr: opts.logFile ? { file: opts.logFile, append: true } : 'pipe',
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    buffer: !opts.logFile,
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = child.then((r) => ({
    argv: full,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    exitCode: typeof r.exitCode === 'number' ? r.exitCode : -1,
    durationMs: performance.now() - started,
  }));
  const pid = child.pid;
  if (pid === undefined) {
    throw new CommandError({ argv: full, stderr: 'process did not start' });
  }
  return {
    pid,
    argv: full,
    exited,
    output: () => out,
    stop: (signal = 'SIGTERM', graceMs = 2000) =>
      stopProcess((sig) => child.kill(sig), exited, signal, graceMs),
  };
}

/** Signals a process and waits for its exit, escalating to SIGKILL after the grace period. */
async function stopProcess(
  kill: (signal: NodeJS.Signals) => unknown,
  exited: Promise<RunResult>,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<RunResult> {
  kill(signal);
  const timer = setTimeout(() => kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A process that outlives this one (an agent left running by `dpconform up`): its own session,
 * output straight to a file descriptor of its own, and nothing of ours holding it, so this
 * process can exit while it runs on.
 */
function startDetached(full: string[], opts: StartOptions): Started {
  const [file, ...args] = full as [string, ...string[]];
  const started = performance.now();
  const fd = opts.logFile ? openSync(opts.logFile, 'a') : 'ignore';
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      cwd: opts.cwd,
    });
  } finally {
    if (typeof fd === 'number') closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new CommandError({ argv: full, stderr: 'process did not start' });
  child.unref();
  const exited = new Promise<RunResult>((resolve) => {
    child.once('exit', (code, signal) =>
      resolve({
        argv: full,
        stdout: '',
        stderr: signal ?? '',
        exitCode: code ?? -1,
        durationMs: performance.now() - started,
      }),
    );
    child.once('error', (err) =>
      resolve({
        argv: full,
        stdout: '',
        stderr: err.message,
        exitCode: -1,
        durationMs: performance.now() - started,
      }),
    );
  });
  return {
    pid,
    argv: full,
    exited,
    output: () => '',
    stop: (signal = 'SIGTERM', graceMs = 2000) =>
      stopProcess((sig) => child.kill(sig), exited, signal, graceMs),
  };
}

/** True when the command can be found on PATH. */
export async function haveCommand(name: string): Promise<boolean> {
  const r = await run(['sh', '-c', 'command -v "$1"', 'sh', name], { reject: false, timeoutMs: 5000 });
  return r.exitCode === 0;
}

/**
 * The `--kernel`, `--accel` and `--time-scale` options of `dpconform run`: read and checked
 * before anything is built, then the kernel matrix run and what it prints.
 */
import { relative } from 'node:path';
import { kernelPreflight, runKernels } from '../../kernel/matrix-run.ts';
import type { Accel } from '../../kernel/qemu.ts';
import { KERNEL_FORMS, type KernelSpec, KernelSpecError, parseKernelList } from '../../kernel/spec.ts';
import { exitCodeFor, type PassMode } from '../../report/model.ts';
import { parseTimeScale, TIME_SCALE_ENV, timeScale } from '../../sys/time-scale.ts';
import { CliError, EXIT, type OptionSpec, type Parsed, strOption } from '../command.ts';

/** The options `run` takes for kernels and slow machines. */
export const KERNEL_OPTIONS: Record<string, OptionSpec> = {
  kernel: {
    type: 'string',
    arg: 'LIST',
    help: `run the suites on these kernels, comma-separated, and write one matrix report: ${KERNEL_FORMS}`,
  },
  accel: {
    type: 'string',
    arg: 'HOW',
    help: 'how --kernel VMs run: auto (KVM when a boot check passes, else software emulation), kvm or tcg',
    default: 'auto',
  },
  'time-scale': {
    type: 'string',
    arg: 'FACTOR',
    help: `stretch probe timeouts, start budgets and test limits by FACTOR for a slow machine (default: 1 here, measured in each VM; or ${TIME_SCALE_ENV})`,
  },
};

/** A `--kernel` run, checked. */
export interface KernelRequest {
  kernels: KernelSpec[];
  accel: 'auto' | Accel;
  timeScale?: number;
}

/**
 * Reads the kernel options; undefined without `--kernel`. A bad value is a usage error naming
 * what is accepted. `--time-scale` alone applies to this machine's run.
 */
export function kernelRequest(args: Parsed, provider: string): KernelRequest | undefined {
  const usage = (message: string) => new CliError(message, EXIT.usage);
  let scale: number | undefined;
  try {
    const given = strOption(args, 'time-scale');
    scale = given === undefined ? undefined : parseTimeScale(given, '--time-scale');
    timeScale();
  } catch (err) {
    throw usage(err instanceof Error ? err.message : String(err));
  }
  const accel = strOption(args, 'accel') ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') {
    throw usage(`--accel must be auto, kvm or tcg, got "${accel}"`);
  }
  const list = strOption(args, 'kernel');
  if (list === undefined) {
    if (accel !== 'auto') throw usage('--accel applies to --kernel VMs: give --kernel too');
    if (scale !== undefined) process.env[TIME_SCALE_ENV] = String(scale);
    return undefined;
  }
  if (provider !== 'netns')
    throw usage(`--kernel runs the netns provider inside each kernel, not ${provider}`);
  if (args.values.keep === true)
    throw usage('--keep cannot keep a cluster inside a VM that powers off: drop it');
  let kernels: KernelSpec[];
  try {
    kernels = parseKernelList(list);
  } catch (err) {
    if (err instanceof KernelSpecError) throw usage(err.message);
    throw err;
  }
  return { kernels, accel, ...(scale !== undefined ? { timeScale: scale } : {}) };
}

/** Checks this machine can boot the kernels asked for; a problem stops the run before it starts. */
export async function checkKernelMachine(req: KernelRequest): Promise<void> {
  const problems = await kernelPreflight(req.kernels);
  if (problems.length > 0) {
    throw new CliError(
      `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : ''}`,
      EXIT.cannotStart,
    );
  }
}

/** Runs the matrix and prints its verdict and files; returns the exit code. */
export async function runKernelMatrix(
  req: KernelRequest,
  run: { areas: string[]; passes: PassMode[]; nodes: number; reportsRoot: string; manifests: string[] },
  log: (line: string) => void,
): Promise<number> {
  const started = performance.now();
  const outcome = await runKernels({ ...req, ...run, argv: process.argv.slice(2), log });
  const m = outcome.matrix;
  const minutes = ((performance.now() - started) / 60_000).toFixed(1);
  process.stdout.write(`\n${m.verdict.toUpperCase()}: ${m.kernels.length} kernel(s) in ${minutes} min\n`);
  for (const k of m.kernels) {
    process.stdout.write(`  ${k.label.padEnd(12)} ${k.verdict}${k.error ? `: ${k.error}` : ''}\n`);
  }
  for (const f of outcome.files) process.stdout.write(`report: ${relative(process.cwd(), f) || f}\n`);
  return exitCodeFor(m.verdict);
}

/**
 * `dpconform run` (the main job) and `dpconform build`.
 */
import { join, relative } from 'node:path';
import { onInterrupt } from '../../cluster/cleanup.ts';
import { ProviderUnavailableError } from '../../cluster/providers.ts';
import { buildBpf, mapSizesFrom } from '../../dataplane/bpf/build.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../k8s/felix-settings.ts';
import { type EvidenceOptions, parseEvidencePolicy, parseSize } from '../../report/evidence-files.ts';
import { formatBytes } from '../../report/evidence-text.ts';
import { allRequirements, countVerdicts, exitCodeFor } from '../../report/model.ts';
import { REPO_ROOT, runConformance } from '../../run/conformance.ts';
import { DEFAULT_MODES } from '../../run/passes.ts';
import { availableAreas, defaultAreas, ON_REQUEST_AREAS } from '../../run/suites.ts';
import { preflight } from '../../sys/preflight.ts';
import { reapAbandonedFirst } from '../attach.ts';
import {
  CliError,
  type Command,
  EXIT,
  intOption,
  NO_REAP_OPTION,
  type Parsed,
  strOption,
} from '../command.ts';
import { checkReportRoot, runSelection } from '../inputs.ts';
import { checkStartInput, providerOption } from './cluster.ts';
import { checkKernelMachine, KERNEL_OPTIONS, kernelRequest, runKernelMatrix } from './kernel-run.ts';

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** `dpconform run`. */
export const runCommand: Command = {
  name: 'run',
  summary:
    'The main job: build the dataplane, bring up a cluster, run the conformance suites, write the report.',
  usage:
    '[--provider netns|docker|kind] [--suite a,b] [--dataplane bpf|iptables|both] [--service-mode Tunnel|DSR|both] [--qualify] [--nodes N] [--keep] [--report-dir DIR] [--evidence all|failures|none] [--evidence-cap SIZE] [-f FILE|DIR]... [--no-reap] [--kernel LIST [--accel auto|kvm|tcg]] [--time-scale FACTOR]',
  options: {
    ...NO_REAP_OPTION,
    ...KERNEL_OPTIONS,
    provider: {
      type: 'string',
      arg: 'NAME',
      help: 'who builds the cluster: netns (default), docker or kind',
    },
    suite: {
      type: 'string',
      arg: 'LIST',
      help: `suites to run, comma-separated (default all: ${defaultAreas(availableAreas()).join(', ')}; on request: ${ON_REQUEST_AREAS.join(', ')})`,
    },
    // Defaults in the help only: `--qualify` tells a flag given from one left out.
    dataplane: {
      type: 'string',
      arg: 'MODE',
      help: `bpf, iptables or both (default ${DEFAULT_MODES.dataplane})`,
    },
    'service-mode': {
      type: 'string',
      arg: 'MODE',
      help: `Tunnel, DSR or both, for the eBPF passes (default ${DEFAULT_MODES.serviceMode})`,
    },
    qualify: {
      type: 'boolean',
      help: `release qualification: every suite, on request ones too (${ON_REQUEST_AREAS.join(', ')}), in every mode (--dataplane both --service-mode both)`,
    },
    nodes: { type: 'string', arg: 'N', help: 'number of nodes', default: '3' },
    keep: { type: 'boolean', help: 'keep the cluster after the run and print how to reach it' },
    'report-dir': { type: 'string', arg: 'DIR', help: 'where reports/<run-id>/ goes', default: 'reports' },
    evidence: {
      type: 'string',
      arg: 'WHICH',
      help: 'evidence files (captures, map dumps, counters, scrapes, transcripts) kept beside the report: all, failures (only failing requirements) or none',
      default: 'all',
    },
    'evidence-cap': {
      type: 'string',
      arg: 'SIZE',
      help: "the most bytes of evidence files a run keeps (failing requirements' first); the report says when it is reached",
      default: '256M',
    },
    filename: {
      type: 'string',
      short: 'f',
      multiple: true,
      arg: 'PATH',
      help: 'manifests to apply before the suites (e.g. a FelixConfiguration)',
    },
  },
  async run(args) {
    const { areas, passes } = runSelection(args, availableAreas());
    let evidence: EvidenceOptions;
    try {
      evidence = {
        policy: parseEvidencePolicy(strOption(args, 'evidence')),
        capBytes: parseSize(strOption(args, 'evidence-cap') ?? '256M'),
      };
    } catch (err) {
      throw new CliError(err instanceof Error ? err.message : String(err), EXIT.usage);
    }
    const nodes = intOption(args, 'nodes', 3);
    const provider = providerOption(args);
    const reportsRoot = strOption(args, 'report-dir') ?? 'reports';
    const manifests = (args.values.filename as string[] | undefined) ?? [];
    // Every input, whole, before anything is built: a bad one costs nothing.
    await checkReportRoot(reportsRoot);
    await checkStartInput(provider, { nodes, manifests });
    const kernels = kernelRequest(args, provider);
    const problems = await preflight({ provider });
    if (problems.length > 0) {
      throw new CliError(
        `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : ''}`,
        EXIT.cannotStart,
      );
    }
    if (kernels) await checkKernelMachine(kernels);
    // From here on an interrupt is this process's to handle, whatever stage the run is at.
    const unregister = onInterrupt({ label: '', run: async () => {} });
    try {
      if (kernels)
        return await runKernelMatrix(kernels, { areas, passes, nodes, reportsRoot, manifests }, log);
      return await conform(args, { areas, passes, nodes, provider, reportsRoot, manifests, evidence });
    } finally {
      unregister();
    }
  },
};

/** What `run` checked before anything was built. */
type CheckedRun = Pick<
  Parameters<typeof runConformance>[0],
  'areas' | 'passes' | 'nodes' | 'provider' | 'reportsRoot' | 'manifests' | 'evidence'
>;

/** The run itself, once every input is known good. */
async function conform(args: Parsed, checked: CheckedRun): Promise<number> {
  await reapAbandonedFirst(args);
  const started = performance.now();
  const outcome = await runConformance({
    ...checked,
    keep: args.values.keep === true,
    argv: process.argv.slice(2),
    log,
  }).catch((err: unknown) => {
    if (err instanceof ProviderUnavailableError) throw new CliError(err.message, EXIT.cannotStart);
    throw new CliError(
      `the run could not start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
      EXIT.cannotStart,
    );
  });
  const counts = countVerdicts([...allRequirements(outcome.run)].map((r) => r.requirement));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `\n${outcome.run.verdict.toUpperCase()}: ${counts.conformant} conformant, ${counts['non-conformant']} non-conformant, ${counts.error} error, ${counts.skipped} skipped in ${seconds} s\n`,
  );
  for (const f of outcome.files) process.stdout.write(`report: ${relative(process.cwd(), f) || f}\n`);
  const evidence = outcome.run.evidenceFiles;
  if (evidence && evidence.files + evidence.omittedFiles > 0) {
    const where = relative(process.cwd(), join(outcome.reportDir, 'evidence')) || 'evidence';
    const left = evidence.omittedFiles
      ? `; size cap reached: ${evidence.omittedFiles} file(s), ${formatBytes(evidence.omittedBytes)}, not kept (--evidence-cap)`
      : '';
    process.stdout.write(
      `evidence: ${evidence.files} file(s), ${formatBytes(evidence.bytes)} in ${where}${left}\n`,
    );
  }
  if (outcome.keptRunId) {
    process.stdout.write(
      `cluster kept: dpconform status --run ${outcome.keptRunId}; dpconform exec --run ${outcome.keptRunId} <node|pod|client> -- CMD; dpconform down --run ${outcome.keptRunId}\n`,
    );
  }
  return exitCodeFor(outcome.run.verdict);
}

/** `dpconform build`. */
export const build: Command = {
  name: 'build',
  summary: 'Compile the eBPF dataplane in bpf/ with clang into build/bpf/.',
  usage: '',
  options: {},
  async run() {
    const r = await buildBpf({ sizes: mapSizesFrom(DEFAULT_FELIX_SETTINGS) }).catch((err: unknown) => {
      // clang's own diagnostics, verbatim, then the one-line error.
      if (err instanceof Error && err.name === 'BpfCompileError')
        process.stderr.write(`${(err as Error & { diagnostics: string }).diagnostics}\n`);
      throw new CliError(
        `build failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
        EXIT.failed,
      );
    });
    for (const [name, path] of Object.entries(r.objects)) {
      process.stdout.write(`${name}: ${relative(REPO_ROOT, path)}${r.cached ? ' (cached)' : ''}\n`);
    }
    return EXIT.ok;
  },
};

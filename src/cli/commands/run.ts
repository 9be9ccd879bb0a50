/**
 * `dpconform run` (the main job) and `dpconform build`.
 */
import { relative } from 'node:path';
import { ProviderUnavailableError } from '../../cluster/providers.ts';
import { buildBpf, mapSizesFrom } from '../../dataplane/bpf/build.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../k8s/felix-settings.ts';
import { allRequirements, countVerdicts, exitCodeFor } from '../../report/model.ts';
import { REPO_ROOT, runConformance } from '../../run/conformance.ts';
import { planPasses } from '../../run/passes.ts';
import { availableAreas, selectAreas } from '../../run/suites.ts';
import { preflight } from '../../sys/preflight.ts';
import { CliError, type Command, EXIT, intOption, strOption } from '../command.ts';
import { providerOption } from './cluster.ts';

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** `dpconform run`. */
export const runCommand: Command = {
  name: 'run',
  summary:
    'The main job: build the dataplane, bring up a cluster, run the conformance suites, write the report.',
  usage:
    '[--provider netns] [--suite a,b] [--dataplane bpf|iptables|both] [--service-mode Tunnel|DSR|both] [--nodes N] [--keep] [--report-dir DIR]',
  options: {
    provider: { type: 'string', arg: 'NAME', help: 'who builds the cluster: netns (default) or kind' },
    suite: {
      type: 'string',
      arg: 'LIST',
      help: `suites to run, comma-separated (default all: ${availableAreas().join(', ')})`,
    },
    dataplane: { type: 'string', arg: 'MODE', help: 'bpf, iptables or both', default: 'bpf' },
    'service-mode': {
      type: 'string',
      arg: 'MODE',
      help: 'Tunnel, DSR or both (eBPF passes)',
      default: 'Tunnel',
    },
    nodes: { type: 'string', arg: 'N', help: 'number of nodes', default: '3' },
    keep: { type: 'boolean', help: 'keep the cluster after the run and print how to reach it' },
    'report-dir': { type: 'string', arg: 'DIR', help: 'where reports/<run-id>/ goes', default: 'reports' },
    filename: {
      type: 'string',
      short: 'f',
      multiple: true,
      arg: 'PATH',
      help: 'manifests to apply before the suites (e.g. a FelixConfiguration)',
    },
  },
  async run(args) {
    let areas: string[];
    let passes: ReturnType<typeof planPasses>;
    try {
      areas = selectAreas(strOption(args, 'suite'), availableAreas());
      passes = planPasses({
        dataplane: strOption(args, 'dataplane') ?? 'bpf',
        serviceMode: strOption(args, 'service-mode') ?? 'Tunnel',
      });
    } catch (err) {
      throw new CliError(err instanceof Error ? err.message : String(err), EXIT.usage);
    }
    const nodes = intOption(args, 'nodes', 3);
    const provider = providerOption(args);
    const problems = await preflight({ provider });
    if (problems.length > 0) {
      throw new CliError(
        `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : ''}`,
        EXIT.cannotStart,
      );
    }
    const started = performance.now();
    const outcome = await runConformance({
      areas,
      passes,
      nodes,
      provider,
      reportsRoot: strOption(args, 'report-dir') ?? 'reports',
      keep: args.values.keep === true,
      manifests: (args.values.filename as string[] | undefined) ?? [],
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
    if (outcome.keptRunId) {
      process.stdout.write(
        `cluster kept: dpconform status --run ${outcome.keptRunId}; dpconform exec --run ${outcome.keptRunId} <node|pod|client> -- CMD; dpconform down --run ${outcome.keptRunId}\n`,
      );
    }
    return exitCodeFor(outcome.run.verdict);
  },
};

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

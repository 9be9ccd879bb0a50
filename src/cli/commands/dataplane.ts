/**
 * `dpconform dataplane switch --to iptables|bpf`: moves a running cluster to the other
 * dataplane, as `calicoctl patch felixconfiguration default ... bpfEnabled` does.
 */
import type { DataplaneMode } from '../../k8s/felix-settings.ts';
import { attachFromArgs } from '../attach.ts';
import { CliError, type Command, EXIT, FORCE_OPTION, strOption } from '../command.ts';

/** A checked `dataplane` command line. */
export interface DataplaneRequest {
  action: 'switch';
  to: DataplaneMode;
}

/** Checks the positionals and `--to` of `dataplane` before anything is touched. */
export function parseDataplaneRequest(
  positionals: readonly string[],
  to: string | undefined,
): DataplaneRequest {
  const [action, extra] = positionals;
  if (action !== 'switch')
    throw new CliError(
      action === undefined
        ? 'dataplane: say what to do (switch --to iptables|bpf)'
        : `dataplane: unknown action "${action}" (switch)`,
      EXIT.usage,
    );
  if (extra !== undefined) throw new CliError(`dataplane: unexpected argument "${extra}"`, EXIT.usage);
  if (to !== 'iptables' && to !== 'bpf')
    throw new CliError(
      `dataplane switch: --to must be iptables or bpf${to === undefined ? '' : `, got "${to}"`}`,
      EXIT.usage,
    );
  return { action, to };
}

/** `dpconform dataplane`. */
export const dataplane: Command = {
  name: 'dataplane',
  summary: 'Switch a running cluster between the eBPF and the iptables dataplane (bpfEnabled).',
  usage: 'switch --to iptables|bpf [--run ID [--force]]',
  positionals: true,
  options: {
    ...FORCE_OPTION,
    to: { type: 'string', arg: 'MODE', help: 'the dataplane to switch to: iptables or bpf' },
  },
  async run(args) {
    const req = parseDataplaneRequest(args.positionals, strOption(args, 'to'));
    const cluster = await attachFromArgs(args, 'change', 'dataplane switch');
    const from = cluster.dataplaneMode();
    if (from === req.to) {
      process.stdout.write(`run ${cluster.runId} already runs the ${req.to} dataplane\n`);
      return EXIT.ok;
    }
    const started = performance.now();
    await cluster.switchDataplane(req.to);
    const ms = Math.round(performance.now() - started);
    process.stdout.write(`run ${cluster.runId}: ${from} -> ${cluster.dataplaneMode()} in ${ms} ms\n`);
    for (const w of cluster.settings().warnings) process.stdout.write(`warning: ${w}\n`);
    for (const e of cluster.syncErrors()) process.stdout.write(`error: ${e}\n`);
    return EXIT.ok;
  },
};

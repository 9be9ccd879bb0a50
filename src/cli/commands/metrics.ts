/**
 * `dpconform metrics`: a node's Prometheus metrics, scraped from inside the cluster the way
 * Prometheus would (through the node's probe agent, at the node's IP, port 9091), or where and
 * as often as an applied ServiceMonitor says.
 */
import { attachFromArgs } from '../attach.ts';
import { CliError, type Command, EXIT, intOption, strOption } from '../command.ts';
import { selectNodes } from './bpf.ts';

/** `dpconform metrics`. */
export const metrics: Command = {
  name: 'metrics',
  summary:
    "Scrape a node's Prometheus metrics endpoint (:9091/metrics, or a ServiceMonitor's port, path and interval) and print it.",
  usage: '[--node N] [--count N] [--run ID]',
  options: {
    node: { type: 'string', arg: 'N', help: 'the node to scrape (default: the first node)' },
    count: { type: 'string', arg: 'N', help: 'scrape N times, at the ServiceMonitor interval (default 1)' },
  },
  async run(args) {
    const cluster = await attachFromArgs(args);
    if (cluster.dataplaneMode() !== 'bpf')
      throw new CliError(
        `run ${cluster.runId} runs the ${cluster.dataplaneMode()} dataplane: the eBPF metrics are not served`,
        EXIT.usage,
      );
    const nodes = cluster.topology().nodes;
    const [node] = selectNodes(nodes, strOption(args, 'node') ?? nodes[0]?.name);
    if (!node) throw new CliError('the cluster has no nodes', EXIT.failed);
    const count = intOption(args, 'count', 1);
    if (count < 1) throw new CliError(`--count must be at least 1, got ${count}`, EXIT.usage);
    const target = cluster.metricsTarget();
    const by = target.monitor ? `ServiceMonitor ${target.monitor}` : 'Felix defaults';
    for (let i = 0; i < count; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, target.intervalSeconds * 1000));
      try {
        const s = await cluster.metrics(node.name);
        process.stdout.write(
          `# scrape ${i + 1} of ${s.url} (${by}, every ${target.intervalSeconds}s)\n${s.text}`,
        );
      } catch (err) {
        throw new CliError(err instanceof Error ? err.message : String(err), EXIT.failed);
      }
    }
    return EXIT.ok;
  },
};

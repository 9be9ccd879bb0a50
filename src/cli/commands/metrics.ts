/**
 * `dpconform metrics`: a node's Prometheus metrics, scraped from inside the cluster the way
 * Prometheus would (through the node's probe agent, at the node's IP, port 9091).
 */
import { attachFromArgs } from '../attach.ts';
import { CliError, type Command, EXIT, strOption } from '../command.ts';
import { selectNodes } from './bpf.ts';

/** `dpconform metrics`. */
export const metrics: Command = {
  name: 'metrics',
  summary: "Scrape a node's Prometheus metrics endpoint (:9091/metrics) and print it.",
  usage: '[--node N] [--run ID]',
  options: {
    node: { type: 'string', arg: 'N', help: 'the node to scrape (default: the first node)' },
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
    try {
      const s = await cluster.metrics(node.name);
      process.stdout.write(s.text);
    } catch (err) {
      throw new CliError(err instanceof Error ? err.message : String(err), EXIT.failed);
    }
    return EXIT.ok;
  },
};

/**
 * Commands that manage a cluster: up, down, status, apply, delete, exec, probe.
 */
import {
  attachCluster,
  ProviderUnavailableError,
  parseProvider,
  reapRuns,
  resolveRun,
  startCluster,
} from '../../cluster/providers.ts';
import type { DataplaneMode } from '../../k8s/felix-settings.ts';
import type { ProbeRequest } from '../../workload/types.ts';
import { attachFromArgs, logLine as log } from '../attach.ts';
import { CliError, type Command, EXIT, intOption, type Parsed, strOption } from '../command.ts';
import { formatServices, formatTopology } from '../format.ts';
import { requireClusterHost } from '../host.ts';

function dataplaneOption(args: Parsed): DataplaneMode | undefined {
  const v = strOption(args, 'dataplane');
  if (v === undefined) return undefined;
  if (v !== 'bpf' && v !== 'iptables')
    throw new CliError(`--dataplane must be bpf or iptables, got "${v}"`, EXIT.usage);
  return v;
}

/** `--provider` as given, checked before anything is built. */
export function providerOption(args: Parsed) {
  try {
    return parseProvider(strOption(args, 'provider'));
  } catch (err) {
    throw new CliError(errText(err), EXIT.usage);
  }
}

/** `dpconform up`. */
export const up: Command = {
  name: 'up',
  summary: 'Bring up a cluster (node network, nodes, external clients) and leave it running.',
  usage: '[--provider netns] [--nodes N] [--clients N] [--dataplane bpf|iptables] [-f FILE|DIR]... [--json]',
  options: {
    provider: { type: 'string', arg: 'NAME', help: 'who builds the cluster: netns (default) or kind' },
    nodes: { type: 'string', arg: 'N', help: 'number of nodes (1-200)', default: '3' },
    clients: { type: 'string', arg: 'N', help: 'number of external clients', default: '1' },
    dataplane: {
      type: 'string',
      arg: 'MODE',
      help: 'bpf or iptables (default: from FelixConfiguration bpfEnabled)',
    },
    filename: {
      type: 'string',
      short: 'f',
      multiple: true,
      arg: 'PATH',
      help: 'apply these manifests once up',
    },
    json: { type: 'boolean', help: 'print the topology as JSON' },
  },
  async run(args) {
    const provider = providerOption(args);
    await requireClusterHost();
    const cluster = await startCluster(provider, {
      nodes: intOption(args, 'nodes', 3),
      clients: intOption(args, 'clients', 1),
      dataplane: dataplaneOption(args),
      log,
      persistent: true,
    }).catch((err: unknown) => {
      if (err instanceof ProviderUnavailableError) throw new CliError(err.message, EXIT.cannotStart);
      throw new CliError(`up failed (nothing was left behind): ${errText(err)}`, EXIT.cannotStart);
    });
    for (const f of (args.values.filename as string[] | undefined) ?? []) await cluster.apply(f);
    const t = cluster.topology();
    if (args.values.json) {
      process.stdout.write(`${JSON.stringify({ ...t, dataplane: cluster.dataplaneMode() }, null, 2)}\n`);
    } else {
      process.stdout.write(`${formatTopology(t)}\n\ndataplane: ${cluster.dataplaneMode()}\n`);
      process.stdout.write(`tear it down with: dpconform down --run ${t.runId}\n`);
    }
    return EXIT.ok;
  },
};

/** `dpconform down`. */
export const down: Command = {
  name: 'down',
  summary: 'Tear down a cluster; with --all, remove everything any earlier run left behind.',
  usage: '[--run ID] [--all]',
  options: { all: { type: 'boolean', help: 'remove every namespace, pin, cgroup and state of every run' } },
  async run(args) {
    await requireClusterHost();
    if (args.values.all) {
      const r = await reapRuns();
      process.stdout.write(
        r.removed.length === 0
          ? 'nothing to remove\n'
          : `removed ${r.removed.join(', ')} (runs ${r.runs.join(', ')})\n`,
      );
      return EXIT.ok;
    }
    const runId = await resolveRun(strOption(args, 'run'));
    try {
      const cluster = await attachCluster(runId, log);
      await cluster.down();
    } catch (err) {
      // A state file that cannot be read must not keep the run's namespaces alive.
      log(`could not attach to run ${runId} (${errText(err)}); removing by name`);
      await reapRuns(runId);
    }
    process.stdout.write(`run ${runId} removed\n`);
    return EXIT.ok;
  },
};

/** `dpconform status`. */
export const status: Command = {
  name: 'status',
  summary: 'Show a running cluster: topology, dataplane, services, warnings and programming errors.',
  usage: '[--run ID] [--json]',
  options: { json: { type: 'boolean', help: 'print as JSON' } },
  async run(args) {
    const cluster = await attachFromArgs(args);
    const { settings, warnings } = cluster.settings();
    if (args.values.json) {
      const out = {
        topology: cluster.topology(),
        dataplane: cluster.dataplaneMode(),
        settings,
        warnings,
        syncErrors: cluster.syncErrors(),
        model: cluster.model(),
      };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return EXIT.ok;
    }
    const lines = [formatTopology(cluster.topology()), '', `dataplane: ${cluster.dataplaneMode()}`];
    lines.push(`bpfExternalServiceMode: ${settings.bpfExternalServiceMode}`);
    for (const w of warnings) lines.push(`warning: ${w}`);
    for (const e of cluster.syncErrors()) lines.push(`error: ${e}`);
    lines.push('', formatServices(cluster.model()));
    process.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  },
};

function fileArgs(args: Parsed, verb: string): string[] {
  const files = (args.values.filename as string[] | undefined) ?? [];
  if (files.length === 0) throw new CliError(`${verb}: say what to ${verb} with -f FILE|DIR`, EXIT.usage);
  return files;
}

/** `apply -f` and `delete -f` differ only in the verb they hand the cluster. */
function manifestCommand(verb: 'apply' | 'delete', summary: string): Command {
  return {
    name: verb,
    summary,
    usage: '-f FILE|DIR [-f ...] [--run ID]',
    options: {
      filename: {
        type: 'string',
        short: 'f',
        multiple: true,
        arg: 'PATH',
        help: 'a YAML file or a directory of them',
      },
    },
    async run(args) {
      const files = fileArgs(args, verb);
      const cluster = await attachFromArgs(args);
      for (const f of files) await (verb === 'apply' ? cluster.apply(f) : cluster.delete(f));
      process.stdout.write(`${formatServices(cluster.model())}\n`);
      for (const e of cluster.syncErrors()) process.stdout.write(`error: ${e}\n`);
      return cluster.syncErrors().length > 0 ? EXIT.failed : EXIT.ok;
    },
  };
}

/** `dpconform apply -f`. */
export const apply = manifestCommand(
  'apply',
  'Apply Kubernetes manifests (Namespace, Deployment, Service, NetworkPolicy, FelixConfiguration).',
);

/** `dpconform delete -f`. */
export const del = manifestCommand('delete', 'Delete the objects named in Kubernetes manifests.');

/** `dpconform exec`. */
export const exec: Command = {
  name: 'exec',
  summary: 'Run a command inside a node, pod (namespace/name) or external client.',
  usage: '<node|pod|client> [--run ID] -- CMD [ARGS...]',
  options: {},
  positionals: true,
  async run(args) {
    const [place] = args.positionals;
    if (!place || args.rest.length === 0)
      throw new CliError('exec: usage: dpconform exec <node|pod|client> -- CMD...', EXIT.usage);
    const cluster = await attachFromArgs(args);
    const r = await cluster.exec(place, args.rest, { reject: false, timeoutMs: 10 * 60_000 });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.exitCode;
  },
};

/** Parses a probe target: `http://host:port/path`, or `host:port`. */
export function parseProbeTarget(target: string, udp: boolean): ProbeRequest {
  if (/^https?:\/\//.test(target)) {
    if (udp) throw new CliError('probe: --udp takes host:port, not a URL', EXIT.usage);
    const url = new URL(target);
    if (url.protocol !== 'http:') throw new CliError('probe: only http:// URLs are supported', EXIT.usage);
    return {
      kind: 'http',
      host: url.hostname,
      port: Number(url.port || 80),
      path: `${url.pathname}${url.search}`,
    };
  }
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(target);
  if (!m)
    throw new CliError(`probe: target must be http://IP:PORT/PATH or IP:PORT, got "${target}"`, EXIT.usage);
  return { kind: udp ? 'udp' : 'tcp', host: m[1]!, port: Number(m[2]) };
}

/** `dpconform probe`. */
export const probe: Command = {
  name: 'probe',
  summary: 'Make an HTTP, TCP or UDP request from a node, pod or client and show what came back.',
  usage: '<from> <http://IP:PORT/PATH | IP:PORT> [--udp] [--timeout MS] [--json]',
  options: {
    udp: { type: 'boolean', help: 'send a UDP datagram to IP:PORT' },
    payload: { type: 'string', arg: 'TEXT', help: 'bytes to send (tcp/udp; udp default "clientip")' },
    timeout: { type: 'string', arg: 'MS', help: 'give up after this long', default: '2000' },
    json: { type: 'boolean', help: 'print the result as JSON' },
  },
  positionals: true,
  async run(args) {
    const [from, target] = args.positionals;
    if (!from || !target)
      throw new CliError('probe: usage: dpconform probe <from> <url|ip:port>', EXIT.usage);
    const req = parseProbeTarget(target, args.values.udp === true);
    req.timeoutMs = intOption(args, 'timeout', 2000);
    const payload = strOption(args, 'payload');
    if (payload !== undefined) req.payload = payload;
    const cluster = await attachFromArgs(args);
    const r = await cluster.probe(from, req);
    if (args.values.json) {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    } else if (r.ok) {
      const head = r.status !== undefined ? `HTTP ${r.status} ` : '';
      process.stdout.write(`${head}${r.body ?? ''}${r.body?.endsWith('\n') ? '' : '\n'}`);
      log(`${r.kind} ${r.target} from ${r.localAddress}:${r.localPort} in ${r.totalMs.toFixed(1)} ms`);
    } else {
      process.stdout.write(
        `${r.error}: ${r.errorMessage ?? ''} (${r.kind} ${r.target}, ${r.totalMs.toFixed(0)} ms)\n`,
      );
    }
    return r.ok ? EXIT.ok : EXIT.failed;
  },
};

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

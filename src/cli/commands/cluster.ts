/**
 * Commands that manage a cluster: up, down, status, apply, delete, exec, probe.
 */
import { onInterrupt } from '../../cluster/cleanup.ts';
import {
  attachCluster,
  checkStart,
  ProviderUnavailableError,
  parseProvider,
  reapRuns,
  runStatuses,
  type StartRequest,
  startCluster,
} from '../../cluster/providers.ts';
import type { DataplaneMode } from '../../k8s/felix-settings.ts';
import type { ProbeRequest } from '../../workload/types.ts';
import {
  attachFromArgs,
  chooseRun,
  logLine as log,
  reapAbandonedFirst,
  requireFreeToChange,
  warnAbandoned,
} from '../attach.ts';
import {
  CliError,
  type Command,
  EXIT,
  FORCE_OPTION,
  intOption,
  NO_REAP_OPTION,
  type Parsed,
  strOption,
} from '../command.ts';
import { formatServices, formatTopology } from '../format.ts';
import { requireClusterHost } from '../host.ts';
import { checkManifestFiles } from '../inputs.ts';

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

/**
 * Checks what a new cluster is asked for (size, every manifest) before anything is built: bad
 * input is a usage error, a provider that cannot run here a start failure.
 */
export async function checkStartInput(
  provider: ReturnType<typeof providerOption>,
  req: StartRequest,
): Promise<void> {
  try {
    await checkStart(provider, req);
  } catch (err) {
    if (err instanceof ProviderUnavailableError) throw new CliError(err.message, EXIT.cannotStart);
    if (err instanceof Error && ['StartInputError', 'ManifestError', 'FelixConfigError'].includes(err.name))
      throw new CliError(err.message, EXIT.usage);
    throw err;
  }
}

function filesOf(args: Parsed): string[] {
  return (args.values.filename as string[] | undefined) ?? [];
}

/** `dpconform up`. */
export const up: Command = {
  name: 'up',
  summary: 'Bring up a cluster (node network, nodes, external clients) and leave it running.',
  usage:
    '[--provider netns|docker|kind] [--nodes N] [--clients N] [--dataplane bpf|iptables] [-f FILE|DIR]... [--json] [--no-reap]',
  options: {
    ...NO_REAP_OPTION,
    provider: {
      type: 'string',
      arg: 'NAME',
      help: 'who builds the cluster: netns (default), docker or kind',
    },
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
    const nodes = intOption(args, 'nodes', 3);
    const clients = intOption(args, 'clients', 1);
    const dataplane = dataplaneOption(args);
    const files = filesOf(args);
    await checkStartInput(provider, { nodes, clients, manifests: files });
    await requireClusterHost();
    await reapAbandonedFirst(args);
    const cluster = await startCluster(provider, {
      nodes,
      clients,
      dataplane,
      log,
      owner: 'dpconform up',
    }).catch((err: unknown) => {
      if (err instanceof ProviderUnavailableError) throw new CliError(err.message, EXIT.cannotStart);
      throw new CliError(`up failed (nothing was left behind): ${errText(err)}`, EXIT.cannotStart);
    });
    try {
      for (const f of files) await cluster.apply(f);
    } catch (err) {
      // A cluster the user never heard of must not stay behind.
      await cluster.down();
      throw new CliError(`up failed (nothing was left behind): ${errText(err)}`, EXIT.cannotStart);
    }
    await cluster.keep();
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
  usage: '[--run ID [--force]] [--all]',
  options: {
    all: {
      type: 'boolean',
      help: 'remove every namespace, pin, cgroup, process and state of every run, running or not',
    },
    ...FORCE_OPTION,
  },
  async run(args) {
    await requireClusterHost();
    if (args.values.all) {
      const running = (await runStatuses()).filter((r) => r.state === 'alive' && !r.owner?.kept);
      const r = await reapRuns();
      process.stdout.write(
        r.removed.length === 0
          ? 'nothing to remove\n'
          : `removed ${r.removed.join(', ')} (runs ${r.runs.join(', ')})\n`,
      );
      for (const s of running)
        log(`warning: run ${s.runId} belonged to ${s.owner?.command} (pid ${s.owner?.pid}), still running`);
      return EXIT.ok;
    }
    await warnAbandoned();
    const runId = await chooseRun(args);
    await requireFreeToChange(runId, args, 'down');
    const removing = removeRun(runId);
    // Ctrl-C finishes the removal rather than stop halfway; a second one says how to finish.
    const unregister = onInterrupt({
      label: `run ${runId}`,
      run: () => removing,
      left: () => `run ${runId} is partly removed; finish with: dpconform down --run ${runId}`,
    });
    try {
      await removing;
    } finally {
      unregister();
    }
    process.stdout.write(`run ${runId} removed\n`);
    return EXIT.ok;
  },
};

/** Tears a run down through its cluster, or by name when its state cannot be read. */
async function removeRun(runId: string): Promise<void> {
  try {
    const cluster = await attachCluster(runId, log);
    await cluster.down();
  } catch (err) {
    // A state file that cannot be read must not keep the run's namespaces alive.
    log(`could not attach to run ${runId} (${errText(err)}); removing by name`);
    await reapRuns(runId);
  }
}

/** `dpconform status`. */
export const status: Command = {
  name: 'status',
  summary: 'Show a running cluster: topology, dataplane, services, warnings and programming errors.',
  usage: '[--run ID] [--json]',
  options: { json: { type: 'boolean', help: 'print as JSON' } },
  async run(args) {
    await warnAbandoned();
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
    usage: '-f FILE|DIR [-f ...] [--run ID [--force]]',
    options: {
      ...FORCE_OPTION,
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
      checkManifestFiles(files, verb);
      const cluster = await attachFromArgs(args, 'change', verb);
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
  usage: '<node|pod|client> [--run ID [--force]] -- CMD [ARGS...]',
  options: { ...FORCE_OPTION },
  positionals: true,
  async run(args) {
    const [place] = args.positionals;
    if (!place || args.rest.length === 0)
      throw new CliError('exec: usage: dpconform exec <node|pod|client> -- CMD...', EXIT.usage);
    // A command inside a node can change anything: it counts as a change.
    const cluster = await attachFromArgs(args, 'change', 'exec');
    const r = await cluster.exec(place, args.rest, { reject: false, timeoutMs: 10 * 60_000 });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.exitCode;
  },
};

const PROBE_FORMS = 'http://IP:PORT/PATH or IP:PORT';

/** The IPv4 address and port of a probe target, or a usage error naming what is wrong in it. */
function checkAddress(target: string, host: string, port: string | undefined): number {
  const bad = (what: string): never => {
    throw new CliError(`probe: "${target}": ${what} (a target is ${PROBE_FORMS})`, EXIT.usage);
  };
  const parts = host.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    bad(`${host} is not an IPv4 address (four numbers from 0 to 255)`);
  const n = Number(port);
  if (port === undefined || !/^\d{1,5}$/.test(port) || n < 1 || n > 65535)
    bad(port === undefined ? 'no port' : `port ${port} is not from 1 to 65535`);
  return n;
}

/** Parses a probe target: `http://IP:PORT/PATH` (port 80 by default), or `IP:PORT`. */
export function parseProbeTarget(target: string, udp: boolean): ProbeRequest {
  const url = /^([a-z][a-z0-9+.-]*):\/\/([^/:?#]*)(?::([^/?#]*))?([/?#].*)?$/i.exec(target);
  if (url) {
    const [, scheme, host = '', port, rest = '/'] = url;
    if (udp) throw new CliError(`probe: --udp takes IP:PORT, not a URL ("${target}")`, EXIT.usage);
    if (scheme?.toLowerCase() !== 'http')
      throw new CliError(`probe: "${target}": only http:// URLs are supported`, EXIT.usage);
    const p = checkAddress(target, host, port === undefined || port === '' ? '80' : port);
    const parsed = new URL(`http://${host}:${p}${rest.startsWith('/') ? rest : `/${rest}`}`);
    return { kind: 'http', host, port: p, path: `${parsed.pathname}${parsed.search}` };
  }
  const m = /^([^:/]+):([^:/]*)$/.exec(target);
  if (!m) throw new CliError(`probe: target must be ${PROBE_FORMS}, got "${target}"`, EXIT.usage);
  const port = checkAddress(target, m[1]!, m[2] === '' ? undefined : m[2]);
  return { kind: udp ? 'udp' : 'tcp', host: m[1]!, port };
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

/**
 * The command line of the metrics server program, built by the starter and parsed by the
 * program, kept in one place so the two cannot drift.
 */
import { parseArgs } from 'node:util';

/** What the metrics server of one node needs to know. */
export interface ServerArgs {
  /** The node's name (labels, messages, and how a later process finds its server again). */
  node: string;
  /** Where the node's programs and maps are pinned (the node's pin root, not the run's). */
  bpffsDir: string;
  /** Address and port to listen on (the node's IP, 9091). */
  host: string;
  port: number;
  /** Written with the server's pid once it listens: the starter's readiness signal. */
  pidFile: string;
}

/** Arguments after the script path. */
export function serverArgs(a: ServerArgs): string[] {
  return [
    '--node',
    a.node,
    '--bpffs',
    a.bpffsDir,
    '--host',
    a.host,
    '--port',
    String(a.port),
    '--pid-file',
    a.pidFile,
  ];
}

/** Parses {@link serverArgs}' output; throws naming what is missing or wrong. */
export function parseServerArgs(argv: readonly string[]): ServerArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      node: { type: 'string' },
      bpffs: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'pid-file': { type: 'string' },
    },
    strict: true,
  });
  const need = (k: keyof typeof values): string => {
    const v = values[k];
    if (typeof v !== 'string' || v === '') throw new Error(`metrics server: --${k} is required`);
    return v;
  };
  const port = Number(need('port'));
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`metrics server: --port must be 1-65535, got ${values.port}`);
  return {
    node: need('node'),
    bpffsDir: need('bpffs'),
    host: need('host'),
    port,
    pidFile: need('pid-file'),
  };
}

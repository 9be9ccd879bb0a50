/** The agent's command line. */

/** What the agent was asked to be. */
export interface AgentArgs {
  socket: string;
  name: string;
  listen: number[];
  cgroup?: string;
}

/** Parses `80,81,8080` into distinct ports in ascending order; throws on anything else. */
export function parsePortList(text: string): number[] {
  if (text.trim() === '') return [];
  const ports = text.split(',').map((part) => {
    const p = part.trim();
    const n = /^\d+$/.test(p) ? Number(p) : Number.NaN;
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`not a port: ${JSON.stringify(part)}`);
    return n;
  });
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** Usage line printed with argument errors. */
export const USAGE = 'usage: agent.ts --socket PATH --name NAME [--listen 80,81,8080] [--cgroup DIR]';

/** Parses the agent's argv (without node and script); throws with the usage on bad input. */
export function parseAgentArgs(argv: readonly string[]): AgentArgs {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const [key, inline] =
      arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    if (!['--socket', '--name', '--listen', '--cgroup'].includes(key)) {
      throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${key} needs a value\n${USAGE}`);
    values.set(key, value);
  }
  const socket = values.get('--socket');
  const name = values.get('--name');
  if (!socket || !name) throw new Error(`--socket and --name are required\n${USAGE}`);
  const listen = parsePortList(values.get('--listen') ?? '');
  const cgroup = values.get('--cgroup');
  return cgroup === undefined ? { socket, name, listen } : { socket, name, listen, cgroup };
}

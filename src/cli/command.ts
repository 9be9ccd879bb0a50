/**
 * The shape of a CLI command and the errors commands raise, so that every failure ends as one
 * line and a distinct exit code.
 */
import { parseArgs } from 'node:util';

/** Exit codes: a CI system tells these apart. */
export const EXIT = {
  ok: 0,
  /** A conformance run finished and some requirement was not met. */
  nonConformant: 1,
  /** The command line or an input file was wrong; nothing was built. */
  usage: 2,
  /** The run could not start: not root, host not ready, tool missing, bring-up failed. */
  cannotStart: 3,
  /** The command could not do what was asked on the cluster it found (or found none). */
  failed: 4,
} as const;

/** Every exit code with what it means, as `--help` and the README list them. */
export const EXIT_CODES: readonly (readonly [string, string])[] = [
  ['0', 'done; for `run`, every requirement that ran is conformant'],
  [
    '1',
    'a verdict against: a requirement non-conformant or errored (`run`, `report merge`), a regression (`report diff`), a fault not caught (`selftest`)',
  ],
  ['2', 'bad command line or input (flag, `--nodes`, manifest file, URL); nothing was built'],
  ['3', 'cannot start: not root, host not ready, tool or provider missing, bring-up failed'],
  [
    '4',
    'the command failed: no cluster or no such run, node, pod or client; the cluster belongs to a running `dpconform run`; a probe got no answer; objects could not be programmed',
  ],
  ['130, 143, 129', 'interrupted by SIGINT (Ctrl-C), SIGTERM or SIGHUP, after tearing down what it built'],
  ['other', '`exec`: the exit code of the command it ran'],
];

/** The exit codes as help text. */
export function exitCodesHelp(): string {
  return `Exit codes:\n${EXIT_CODES.map(([code, what]) => `  ${code.padEnd(14)} ${what}`).join('\n')}\n`;
}

/** An error whose message is the one line the user sees, with the exit code to use. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.failed) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** One option of a command, as node:util parseArgs takes it plus its help text. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  help: string;
  /** Shown in help after the flag, e.g. `N`. */
  arg?: string;
}

/** Parsed command line of one command. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Everything after `--`, for `exec`. */
  rest: string[];
}

/** A `dpconform` command. */
export interface Command {
  name: string;
  summary: string;
  /** Usage line after the command name, e.g. `[--nodes N]`. */
  usage: string;
  options: Record<string, OptionSpec>;
  /** Whether positionals are allowed (they are checked by the command). */
  positionals?: boolean;
  run(args: Parsed): Promise<number>;
}

/** Options every command takes. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', help: 'show this help' },
  run: { type: 'string', arg: 'ID', help: 'the run (cluster) to act on, when more than one is up' },
};

/** The option of commands that change a cluster: how to change one a running `dpconform run` owns. */
export const FORCE_OPTION: Record<string, OptionSpec> = {
  force: {
    type: 'boolean',
    help: 'with --run ID: change the cluster even while the `dpconform run` that owns it is running',
  },
};

/** The option of commands that start a cluster: leave abandoned runs alone. */
export const NO_REAP_OPTION: Record<string, OptionSpec> = {
  'no-reap': {
    type: 'boolean',
    help: 'do not remove runs whose owner is gone (killed, or the machine rebooted) first',
  },
};

/** Parses argv for a command; unknown flags become a usage error naming the flag. */
export function parseCommand(cmd: Command, argv: string[]): Parsed {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const rest = dash >= 0 ? argv.slice(dash + 1) : [];
  const options = { ...COMMON_OPTIONS, ...cmd.options };
  try {
    const { values, positionals } = parseArgs({
      args: own,
      options: Object.fromEntries(
        Object.entries(options).map(([k, o]) => [
          k,
          {
            type: o.type,
            ...(o.short ? { short: o.short } : {}),
            ...(o.multiple ? { multiple: true } : {}),
            ...(o.default !== undefined ? { default: o.default } : {}),
          },
        ]),
      ) as never,
      allowPositionals: true,
      strict: true,
    });
    if (!cmd.positionals && positionals.length > 0 && !(values as Record<string, unknown>).help) {
      throw new CliError(
        `${cmd.name}: unexpected argument "${positionals[0]}" (see dpconform ${cmd.name} --help)`,
        EXIT.usage,
      );
    }
    return { values: values as Parsed['values'], positionals, rest };
  } catch (err) {
    if (err instanceof CliError) throw err;
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new CliError(`${cmd.name}: ${msg} (see dpconform ${cmd.name} --help)`, EXIT.usage);
  }
}

/** Help text for a command. */
export function commandHelp(cmd: Command): string {
  const options = { ...cmd.options, ...COMMON_OPTIONS };
  const rows = Object.entries(options).map(([k, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${k}${o.arg ? ` ${o.arg}` : ''}`;
    return `  ${flag.padEnd(30)} ${o.help}${o.default !== undefined && o.default !== false ? ` (default ${o.default})` : ''}`;
  });
  return `dpconform ${cmd.name} ${cmd.usage}\n\n${cmd.summary}\n\nOptions:\n${rows.join('\n')}\n\n${exitCodesHelp()}`;
}

/** Reads an integer option, or a usage error naming it. */
export function intOption(args: Parsed, name: string, fallback: number): number {
  const v = args.values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n)) {
    throw new CliError(`--${name} must be a whole number, got "${String(v)}"`, EXIT.usage);
  }
  return n;
}

/** Reads a string option. */
export function strOption(args: Parsed, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * `dpconform`: dispatches to a command and turns any failure into one line and an exit code.
 */
import { interruptedBy } from '../cluster/cleanup.ts';
import { CommandError } from '../sys/exec.ts';
import { CliError, type Command, commandHelp, EXIT, exitCodesHelp, parseCommand } from './command.ts';
import { bpf } from './commands/bpf.ts';
import { apply, del, down, exec, probe, status, up } from './commands/cluster.ts';
import { dataplane } from './commands/dataplane.ts';
import { image } from './commands/image.ts';
import { metrics } from './commands/metrics.ts';
import { report } from './commands/report.ts';
import { build, runCommand } from './commands/run.ts';
import { selftest } from './commands/selftest.ts';
import { requireRoot } from './host.ts';

/** Every command, in the order `--help` lists them. */
export const COMMANDS: Command[] = [
  runCommand,
  build,
  image,
  up,
  down,
  status,
  apply,
  del,
  exec,
  probe,
  dataplane,
  bpf,
  metrics,
  report,
  selftest,
];

/** Commands that only read and write report files: they need no privileges. */
const ROOTLESS = new Set(['report']);

/** Top-level help. */
export function mainHelp(): string {
  const rows = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return `dpconform — conformance suite for an eBPF Kubernetes dataplane\n\nUsage: dpconform <command> [options]\n\nCommands:\n${rows.join('\n')}\n\nRun \`dpconform <command> --help\` for a command's options.\n\n${exitCodesHelp()}`;
}

/** Runs the CLI with argv (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name ? EXIT.ok : EXIT.usage;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  try {
    if (!cmd)
      throw new CliError(
        `unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`,
        EXIT.usage,
      );
    const args = parseCommand(cmd, rest);
    if (args.values.help) {
      process.stdout.write(commandHelp(cmd));
      return EXIT.ok;
    }
    if (!ROOTLESS.has(cmd.name)) requireRoot();
    return await cmd.run(args);
  } catch (err) {
    // The teardown under way says what happens and exits with the signal's code.
    if (interruptedBy()) return new Promise<never>(() => {});
    process.stderr.write(`dpconform: ${oneLine(err)}\n`);
    if (process.env.DPCONFORM_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return err instanceof CliError ? err.exitCode : isInputError(err) ? EXIT.usage : EXIT.failed;
  }
}

function isInputError(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err.name === 'ManifestError' || err.name === 'FelixConfigError' || err.name === 'StartInputError')
  );
}

function oneLine(err: unknown): string {
  if (err instanceof CommandError) return err.message;
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

/**
 * `dpconform selftest`: puts each fault of the project's list into a copy of the dataplane and
 * shows which requirements caught it. Exit 0 only when every fault was caught.
 */
import { FAULTS } from '../../selftest/faults.ts';
import { checkFaults, runSelftest, selectFaults } from '../../selftest/runner.ts';
import { allCaught, renderTable, summaryLine } from '../../selftest/table.ts';
import { preflight } from '../../sys/preflight.ts';
import { CliError, type Command, EXIT, intOption, strOption } from '../command.ts';

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** `dpconform selftest`. */
export const selftest: Command = {
  name: 'selftest',
  summary:
    'Prove the suites catch bugs: put each fault of a list into a copy of the dataplane and run its requirements.',
  usage: '[--fault a,b] [--list] [--nodes N]',
  options: {
    fault: { type: 'string', arg: 'LIST', help: 'faults to run, comma-separated (default: all; see --list)' },
    list: { type: 'boolean', help: 'print the faults and the requirements that must catch each, and exit' },
    nodes: { type: 'string', arg: 'N', help: 'number of nodes', default: '3' },
  },
  async run(args) {
    const asked = strOption(args, 'fault')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    let faults: ReturnType<typeof selectFaults>;
    try {
      faults = selectFaults(FAULTS, asked);
      await checkFaults(faults);
    } catch (err) {
      throw new CliError(err instanceof Error ? err.message : String(err), EXIT.usage);
    }
    if (args.values.list) {
      const idWidth = Math.max(...faults.map((f) => f.id.length));
      const catchesWidth = Math.max(...faults.map((f) => f.catches.join(',').length));
      for (const f of faults) {
        process.stdout.write(
          `${f.id.padEnd(idWidth)}  ${`${f.mode.dataplane}/${f.mode.serviceMode}`.padEnd(11)} ${f.catches.join(',').padEnd(catchesWidth)}  ${f.summary}\n`,
        );
      }
      return EXIT.ok;
    }
    const nodes = intOption(args, 'nodes', 3);
    // The suites the faults meet need nodes with a backend and nodes without one.
    if (nodes < 3)
      throw new CliError(`--nodes must be at least 3 for the self-test, got ${nodes}`, EXIT.usage);
    const problems = await preflight({ provider: 'netns' });
    if (problems.length > 0) throw new CliError(problems[0]!, EXIT.cannotStart);
    const outcome = await runSelftest({ faults: faults.map((f) => f.id), nodes, log });
    process.stdout.write(
      `\n${renderTable(outcome.results)}\n\n${summaryLine(outcome.results, outcome.durationMs)}\n`,
    );
    return allCaught(outcome.results) ? EXIT.ok : EXIT.nonConformant;
  },
};

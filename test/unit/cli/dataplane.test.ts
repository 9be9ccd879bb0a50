import { describe, expect, it } from 'vitest';
import { CliError, EXIT, parseCommand } from '../../../src/cli/command.ts';
import { dataplane, parseDataplaneRequest } from '../../../src/cli/commands/dataplane.ts';

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.usage);
    return (err as Error).message;
  }
  throw new Error('no error raised');
}

describe('dpconform dataplane', () => {
  it('reads switch --to MODE', () => {
    const args = parseCommand(dataplane, ['switch', '--to', 'iptables', '--run', 'ab12cd']);
    expect(parseDataplaneRequest(args.positionals, args.values.to as string)).toEqual({
      action: 'switch',
      to: 'iptables',
    });
    expect(parseDataplaneRequest(['switch'], 'bpf').to).toBe('bpf');
  });

  it('refuses a missing or unknown action, a missing or wrong --to, extra arguments', () => {
    expect(usageError(() => parseDataplaneRequest([], 'bpf'))).toMatch(/say what to do/);
    expect(usageError(() => parseDataplaneRequest(['flip'], 'bpf'))).toMatch(/unknown action "flip"/);
    expect(usageError(() => parseDataplaneRequest(['switch'], undefined))).toMatch(
      /--to must be iptables or bpf$/,
    );
    expect(usageError(() => parseDataplaneRequest(['switch'], 'ebpf'))).toMatch(/got "ebpf"/);
    expect(usageError(() => parseDataplaneRequest(['switch', 'now'], 'bpf'))).toMatch(
      /unexpected argument "now"/,
    );
  });
});

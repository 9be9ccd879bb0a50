import { describe, expect, it } from 'vitest';
import { enterNetns } from '../../../src/cluster/netns/ip.ts';
import { CommandError, run, shellQuote } from '../../../src/sys/exec.ts';

describe('sys/exec', () => {
  it('quotes argv into a line a shell reads back unchanged', () => {
    expect(shellQuote(['ip', '-n', 'dpc-x', 'route', 'add', '10.0.0.0/8'])).toBe(
      'ip -n dpc-x route add 10.0.0.0/8',
    );
    expect(shellQuote(['sh', '-c', "echo 'hi' there"])).toBe(`sh -c 'echo '\\''hi'\\'' there'`);
    expect(shellQuote(['a', ''])).toBe("a ''");
  });

  it('runs in a namespace with nsenter (keeping bpffs visible)', () => {
    expect(enterNetns('dpc-a', ['tc', 'filter', 'show'])).toEqual([
      'nsenter',
      '--net=/run/netns/dpc-a',
      '--',
      'tc',
      'filter',
      'show',
    ]);
  });

  it('throws a CommandError carrying argv, exit code, stderr and a pasteable line', async () => {
    const err = (await run(['sh', '-c', 'echo nope >&2; exit 3']).catch((e: unknown) => e)) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.exitCode).toBe(3);
    expect(err.stderr).toBe('nope\n');
    expect(err.commandLine).toBe("sh -c 'echo nope >&2; exit 3'");
    expect(err.message).toBe("command exited 3: sh -c 'echo nope >&2; exit 3' — nope");
  });

  it('returns a non-zero exit when asked not to reject', async () => {
    const r = await run(['sh', '-c', 'exit 5'], { reject: false });
    expect(r.exitCode).toBe(5);
  });

  it('times out', async () => {
    const err = (await run(['sleep', '5'], { timeoutMs: 100 }).catch((e: unknown) => e)) as CommandError;
    expect(err.timedOut).toBe(true);
    expect(err.message).toMatch(/^command timed out: sleep 5/);
  });

  it('is cancelled by an AbortSignal', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = (await run(['sleep', '5'], { signal: ac.signal }).catch((e: unknown) => e)) as CommandError;
    expect(err.aborted).toBe(true);
  });

  it('says when a command does not exist', async () => {
    const err = (await run(['dpc-no-such-tool']).catch((e: unknown) => e)) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.message).toMatch(/dpc-no-such-tool/);
  });
});

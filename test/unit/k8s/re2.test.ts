import { describe, expect, it } from 'vitest';
import { compileRe2, Re2Error, translateRe2 } from '../../../src/k8s/validate-re2.ts';

/** The names a pattern picks out of a list of interface names. */
function picks(pattern: string, names: readonly string[]): string[] {
  const re = compileRe2(pattern);
  return names.filter((n) => re.test(n));
}

const IFACES = ['eth0', 'eth1', 'ens3', 'enp0s3', 'bond0', 'tunl0', 'lo', 'vx', 'cali1234567890a', 'ETH9'];

describe('RE2 patterns as Felix reads them', () => {
  it("RE2-001 the guide's patterns pick the interfaces they name", () => {
    expect(picks('^(en.*|eth.*|tunl0)$', IFACES)).toEqual(['eth0', 'eth1', 'ens3', 'enp0s3', 'tunl0']);
    expect(picks('^(en.*|eth.*|bond.*)$', IFACES)).toEqual(['eth0', 'eth1', 'ens3', 'enp0s3', 'bond0']);
  });

  it('RE2-002 spellings JavaScript lacks are translated to the same meaning', () => {
    expect(picks('(?i)^eth[0-9]$', IFACES)).toEqual(['eth0', 'eth1', 'ETH9']);
    expect(picks('^(?P<kind>eth)[0-9]$', IFACES)).toEqual(['eth0', 'eth1']);
    expect(picks('^(?<kind>en)p?[0-9s]+$', IFACES)).toEqual(['ens3', 'enp0s3']);
    expect(picks('\\Aeth1\\z', [...IFACES, 'eth1\n'])).toEqual(['eth1']);
    expect(picks('^\\Qeth1\\E$', ['eth1', 'ethx1'])).toEqual(['eth1']);
    expect(picks('^[[:alpha:]]+[[:digit:]]$', IFACES)).toEqual([
      'eth0',
      'eth1',
      'ens3',
      'bond0',
      'tunl0',
      'ETH9',
    ]);
    expect(picks('^eth\\x{30}$', IFACES)).toEqual(['eth0']);
    expect(picks('^eth\\061$', IFACES)).toEqual(['eth1']);
    expect(picks('^e(?i:TH)0$', IFACES)).toEqual(['eth0']);
  });

  it("RE2-003 constructs whose JavaScript meaning differs are pinned to RE2's", () => {
    // RE2's `.` excludes only \n; JavaScript's would also refuse \r.
    expect(picks('^a.b$', ['a\rb', 'a\nb'])).toEqual(['a\rb']);
    // RE2's \s has no \v; JavaScript's does.
    expect(picks('^a\\sb$', ['a b', 'a\vb'])).toEqual(['a b']);
    // A `]` right after `[` is a literal in RE2; in JavaScript `[]` would match nothing.
    expect(picks('^[]x]$', [']', 'x', 'y'])).toEqual([']', 'x']);
    expect(translateRe2('(?s)^a.b$').source).toBe('^a[\\s\\S]b$');
  });

  it('RE2-004 what RE2 rejects, or JavaScript cannot match the same way, is refused with the reason', () => {
    const reason = (p: string) => {
      try {
        compileRe2(p);
        return 'accepted';
      } catch (err) {
        expect(err).toBeInstanceOf(Re2Error);
        return (err as Error).message;
      }
    };
    expect(reason('^(?!cali).*')).toMatch(/lookaround/);
    expect(reason('^(?<=x)eth')).toMatch(/lookaround/);
    expect(reason('(eth)\\1')).toMatch(/backreference/);
    expect(reason('\\pL+')).toMatch(/Unicode/);
    expect(reason('(?U)eth.*')).toMatch(/ungreedy/);
    expect(reason('eth(?i)0')).toMatch(/flags can only be set/);
    expect(reason('\\C')).toMatch(/any byte/);
    expect(reason('\\e')).toMatch(/not an escape RE2 knows/);
    expect(reason('[[:^alpha:]]')).toMatch(/negated POSIX/);
    expect(reason('(eth')).toMatch(/missing \)/);
    expect(reason('eth[0-9')).toMatch(/missing closing \]/);
    expect(reason('a**')).not.toBe('accepted');
  });
});

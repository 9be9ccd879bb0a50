import { describe, expect, it } from 'vitest';
import type { Place } from '../../../src/node/place.ts';
import { wrappedPlace } from '../../../src/node/wrapped.ts';
import { CaptureError, startCapture, tcpdumpArgv } from '../../../src/observe/capture.ts';
import { start } from '../../../src/sys/exec.ts';

const FIXTURE = new URL('../../../fixtures/pcap/any-sll2.pcap', import.meta.url).pathname;

// Stands in for tcpdump: copies a recorded capture to `-w`, says it listens, answers SIGUSR1
// with its counters and exits 0 on SIGINT, as tcpdump does.
const FAKE_TCPDUMP = `
src=$1; shift
while [ $# -gt 0 ]; do [ "$1" = -w ] && out=$2; shift; done
cp "$src" "$out"
counts='2 packets captured, 2 packets received by filter, 0 packets dropped by kernel'
trap 'echo "tcpdump: $counts" >&2' USR1
trap 'echo "$counts" | tr , "\\n" >&2; exit 0' INT
echo 'tcpdump: listening on any, link-type LINUX_SLL2' >&2
while :; do sleep 0.02; done
`;

/** A place that records what it is asked to spawn and run, and runs `program` for tcpdump. */
function testPlace(program: (argv: readonly string[]) => string[]) {
  const spawned: string[][] = [];
  const asked: string[][] = [];
  const inner = wrappedPlace({
    name: 'dpc-worker',
    kind: 'node',
    where: 'test place dpc-worker',
    wrap: (argv) => ['enter-dpc-worker', ...argv],
  });
  const place: Place = {
    ...inner,
    spawn: (argv, opts) => {
      spawned.push([...argv]);
      return start(program(argv), opts);
    },
    async execJson<T>(argv: readonly string[]): Promise<T> {
      asked.push([...argv]);
      return [{ ifindex: 2, ifname: 'eth0' }] as T;
    },
  };
  return { place, spawned, asked };
}

describe('captures in a place', () => {
  it('starts tcpdump through the place, names interfaces as the place sees them', async () => {
    const { place, spawned, asked } = testPlace((argv) => ['sh', '-c', FAKE_TCPDUMP, 'sh', FIXTURE, ...argv]);
    const cap = await startCapture({ place, iface: 'any' });
    expect(cap.label).toBe('dpc-worker');
    expect(spawned).toEqual([tcpdumpArgv({ place, iface: 'any' }, cap.file)]);
    expect(cap.argv).toEqual(['enter-dpc-worker', ...tcpdumpArgv({ place, iface: 'any' }, cap.file)]);
    const packets = await cap.stop();
    expect(packets).toHaveLength(2);
    expect(packets.map((p) => p.iface)).toEqual(['eth0', 'eth0']);
    expect(asked[0]).toEqual(['ip', '-j', 'link', 'show']);
    expect(cap.stats()).toMatchObject({ captured: 2, exitCode: 0 });
  });

  it('says where tcpdump failed, in the place’s words and its own', async () => {
    const { place } = testPlace(() => [
      'sh',
      '-c',
      'echo "tcpdump: eth9: No such device exists" >&2; exit 1',
    ]);
    const err = await startCapture({ place, iface: 'eth9', label: 'entry' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaptureError);
    expect((err as CaptureError).message).toMatch(
      /^capture entry: tcpdump on eth9 in test place dpc-worker exited 1 before it was listening — tcpdump said: .*No such device/,
    );
    expect((err as CaptureError).argv[0]).toBe('enter-dpc-worker');
  });
});

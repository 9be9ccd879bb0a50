import { describe, expect, it } from 'vitest';
import { currentPlace } from '../../../src/node/wrapped.ts';
import { parseTcpdumpStats, tcpdumpArgv } from '../../../src/observe/capture.ts';

const place = currentPlace('n');

describe('tcpdump argv', () => {
  it('captures unbuffered, numeric, in immediate mode, whole frames, with a large buffer by default', () => {
    expect(tcpdumpArgv({ place, iface: 'eth0' }, '/tmp/x.pcap')).toEqual([
      'tcpdump',
      '-i',
      'eth0',
      '-n',
      '-U',
      '-Z',
      'root',
      '-w',
      '/tmp/x.pcap',
      '--immediate-mode',
      '-s',
      '1600',
      '-B',
      '8192',
    ]);
  });

  it('passes a filter string as one argument and filter words as they are', () => {
    const one = tcpdumpArgv({ place, iface: 'eth0', filter: 'tcp port 80 and host 1.2.3.4' }, 'f');
    expect(one.slice(-1)).toEqual(['tcp port 80 and host 1.2.3.4']);
    const words = tcpdumpArgv({ place, iface: 'eth0', filter: ['udp', 'port', '4789'] }, 'f');
    expect(words.slice(-3)).toEqual(['udp', 'port', '4789']);
    expect(tcpdumpArgv({ place, iface: 'eth0', filter: '  ' }, 'f').at(-1)).toBe('8192');
  });

  it('sets snap length, buffer, nanosecond timestamps and link type when asked', () => {
    const argv = tcpdumpArgv(
      {
        place,
        iface: 'any',
        snaplen: 96,
        bufferKiB: 1024,
        nanosecond: true,
        linkType: 'LINUX_SLL',
        immediate: false,
      },
      'f',
    );
    expect(argv).not.toContain('--immediate-mode');
    expect(argv.slice(9)).toEqual([
      '-s',
      '96',
      '-B',
      '1024',
      '--time-stamp-precision=nano',
      '-y',
      'LINUX_SLL',
    ]);
  });
});

describe('tcpdump statistics', () => {
  it('reads the lines tcpdump prints at exit', () => {
    const stderr = [
      'tcpdump: listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes',
      'tcpdump: 3 packets captured, 3 packets received by filter, 0 packets dropped by kernel',
      '12 packets captured',
      '14 packets received by filter',
      '2 packets dropped by kernel',
      '1 packet dropped by interface',
    ].join('\n');
    expect(parseTcpdumpStats(stderr)).toEqual({
      captured: 12,
      receivedByFilter: 14,
      droppedByKernel: 2,
      droppedByInterface: 1,
    });
  });

  it('reads the one-line form SIGUSR1 prints, and singular counts', () => {
    expect(
      parseTcpdumpStats(
        'tcpdump: 1 packet captured, 1 packet received by filter, 0 packets dropped by kernel\n',
      ),
    ).toEqual({ captured: 1, receivedByFilter: 1, droppedByKernel: 0, droppedByInterface: 0 });
  });

  it('has nothing to say before tcpdump printed its counts', () => {
    expect(parseTcpdumpStats('tcpdump: listening on eth0\n')).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { modeOf, modeProblems, type NodeMode } from '../../../src/run/pass-mode.ts';

const node = (name: string, over: Partial<NodeMode> = {}): NodeMode => ({
  node: name,
  bpfAttached: true,
  kubeServices: false,
  dsr: false,
  ...over,
});

describe('the mode a pass finds the nodes in', () => {
  it('reads eBPF and its service mode from every node, iptables from the chains', () => {
    expect(modeOf([node('a'), node('b')])).toMatchObject({ dataplane: 'bpf', serviceMode: 'Tunnel' });
    expect(modeOf([node('a', { dsr: true }), node('b', { dsr: true })]).serviceMode).toBe('DSR');
    const ipt = { bpfAttached: false, kubeServices: true, dsr: undefined };
    expect(modeOf([node('a', ipt), node('b', ipt)])).toMatchObject({ dataplane: 'iptables' });
    expect(modeOf([node('a', ipt), node('b', ipt)]).serviceMode).toBeUndefined();
  });

  it('calls nodes that disagree mixed, and a missing record unknown', () => {
    expect(modeOf([node('a'), node('b', { bpfAttached: false, kubeServices: true })]).dataplane).toBe(
      'mixed',
    );
    expect(modeOf([node('a'), node('b', { dsr: true })]).serviceMode).toBe('mixed');
    expect(modeOf([node('a'), node('b', { dsr: undefined })]).serviceMode).toBe('unknown');
    expect(modeOf([node('a', { bpfAttached: false })]).dataplane).toBe('none');
  });

  it('errs a pass whose label the nodes contradict, naming what each node holds', () => {
    const ipt = modeOf([node('a', { bpfAttached: false, kubeServices: true })]);
    const [problem] = modeProblems({ dataplane: 'bpf', serviceMode: 'Tunnel' }, ipt);
    expect(problem).toMatch(/labelled bpf but the nodes run the iptables dataplane: a: no tc programs/);
    const dsr = modeOf([node('a', { dsr: true })]);
    expect(modeProblems({ dataplane: 'bpf', serviceMode: 'Tunnel' }, dsr)[0]).toMatch(
      /labelled Tunnel but the nodes' configuration says DSR/,
    );
    expect(modeProblems({ dataplane: 'bpf', serviceMode: 'DSR' }, dsr)).toEqual([]);
    // The iptables dataplane has no service mode of its own: the label's is not checked.
    expect(modeProblems({ dataplane: 'iptables', serviceMode: 'Tunnel' }, ipt)).toEqual([]);
  });
});

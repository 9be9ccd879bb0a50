/**
 * The tunnel-key probe runs the dataplane's own code on this kernel: it says yes for bpf/ as it
 * is, and no for a bpf/ that passes a key size no kernel accepts, which probing the helpers by
 * name could never tell apart.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { listNetns } from '../../../src/cluster/netns/ip.ts';
import { newRunId } from '../../../src/cluster/run-id.ts';
import { REPO_ROOT } from '../../../src/dataplane/bpf/build.ts';
import { probeTunnel } from '../../../src/kernel/probes.ts';

const scratch = mkdtempSync(join(tmpdir(), 'dpconform-probe-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** What a probe with this id could leave: pins and namespaces named `dpc-<id>-probe*`. */
async function leftovers(id: string): Promise<string[]> {
  return [...readdirSync('/sys/fs/bpf'), ...(await listNetns())].filter((e) =>
    e.startsWith(`dpc-${id}-probe`),
  );
}

describe('the tunnel-key probe', () => {
  test('bpf/ as it is: this kernel sets and reads back its key, and a packet crosses the tunnel', async () => {
    const id = newRunId();
    const r = await probeTunnel({ outDir: join(scratch, 'out'), id });
    expect(r.key, r.key.detail).toMatchObject({ state: 'yes' });
    expect(r.key.detail).toMatch(/key size \d+ bytes/);
    expect(r.path, r.path.detail).toMatchObject({ state: 'yes' });
    expect(r.path.detail).toMatch(/^\d+ packet\(s\) arrived with their VNI in another namespace/);
    expect(await leftovers(id)).toEqual([]);
  });

  test('a bpf/ passing a size no kernel knows: the probe says no, and names the size', async () => {
    const bpf = join(scratch, 'bpf');
    cpSync(join(REPO_ROOT, 'bpf'), bpf, { recursive: true });
    const header = join(bpf, 'lib', 'tunnel.h');
    const text = readFileSync(header, 'utf8');
    const broken = text.replace(/#define DPC_TUNNEL_KEY_SIZE .*/, '#define DPC_TUNNEL_KEY_SIZE 40');
    expect(broken).not.toBe(text);
    writeFileSync(header, broken);
    const id = newRunId();
    const r = await probeTunnel({ bpfDir: bpf, outDir: join(scratch, 'out'), id });
    expect(r.key).toMatchObject({ state: 'no' });
    expect(r.key.detail).toMatch(/bpf_skb_set_tunnel_key refused .*key size 40 bytes/);
    expect(r.path.state).toBe('no');
    expect(await leftovers(id)).toEqual([]);
  });
});

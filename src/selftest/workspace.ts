/**
 * Where faults are made: a copy of the project (the dataplane's C, the control plane and the
 * suites) in a temporary directory, so that the working tree is never touched. The copy shares
 * the project's installed packages through links, one per package, so that whatever the tools
 * write under node_modules (vitest's caches) lands in the copy too.
 */
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BpfSource } from '../cluster/types.ts';
import { applyEdits, type Fault, filesOf } from './fault.ts';

/** What the copy holds: everything the suites and the dataplane they drive are made of. */
export const COPIED = ['bpf', 'src', 'suites', 'fixtures', 'package.json', 'tsconfig.json'] as const;

/** A copy of the project to break, one fault at a time. */
export interface Workspace {
  /** The copy's root (a project root: suites/, src/, bpf/ ...). */
  root: string;
  /** Where the eBPF dataplane is built from, and where its objects go, inside the copy. */
  bpfSource: BpfSource;
  /** Puts a fault into the copy; the returned function takes it out again. */
  apply(fault: Fault): Promise<() => Promise<void>>;
  /** The copy's own code that brings up, drives and tears down a cluster (loaded once, clean). */
  code(): Promise<CopyCode>;
  /** Removes the copy. */
  remove(): Promise<void>;
}

/**
 * The copy's own code for everything that acts on a cluster. Every process that touches the
 * cluster under test runs the copy (the suites do, from the copy's root), so that what one of
 * them puts on the nodes (a metrics server, an agent, a dataplane) the others recognise as theirs,
 * and one interrupt handler tears it all down.
 */
export interface CopyCode {
  startCluster: typeof import('../cluster/providers.ts').startCluster;
  runPass: typeof import('../run/conformance.ts').runPass;
  observeMode: typeof import('../run/pass-mode.ts').observeMode;
  modeProblems: typeof import('../run/pass-mode.ts').modeProblems;
  onInterrupt: typeof import('../cluster/cleanup.ts').onInterrupt;
  throwIfInterrupted: typeof import('../cluster/cleanup.ts').throwIfInterrupted;
}

/** Loads a module of the copy by its path from the project root. */
function fromCopy<T>(root: string, path: string): Promise<T> {
  return import(pathToFileURL(join(root, path)).href) as Promise<T>;
}

/** Copies the project at `repoRoot` aside. */
export async function makeWorkspace(repoRoot: string, parent: string = tmpdir()): Promise<Workspace> {
  const root = await mkdtemp(join(parent, 'dpc-selftest-'));
  try {
    for (const entry of COPIED) await cp(join(repoRoot, entry), join(root, entry), { recursive: true });
    await linkPackages(join(repoRoot, 'node_modules'), join(root, 'node_modules'));
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  let loaded: Promise<CopyCode> | undefined;
  return {
    root,
    bpfSource: { sourceDir: join(root, 'bpf'), buildDir: join(root, 'build', 'bpf') },
    async apply(fault) {
      const originals = new Map<string, string>();
      // Every edit is checked before any file changes: a stale fault leaves the copy as it was.
      const changed = new Map<string, string>();
      for (const file of filesOf(fault)) {
        const text = await readFile(join(root, file), 'utf8');
        originals.set(file, text);
        changed.set(file, applyEdits(fault, file, text, fault.edits));
      }
      for (const [file, text] of changed) await writeFile(join(root, file), text);
      return async () => {
        for (const [file, text] of originals) await writeFile(join(root, file), text);
      };
    },
    async code() {
      // Loaded before any fault goes in, and kept: this process's cluster code stays clean.
      loaded ??= Promise.all([
        fromCopy<typeof import('../cluster/providers.ts')>(root, 'src/cluster/providers.ts'),
        fromCopy<typeof import('../run/conformance.ts')>(root, 'src/run/conformance.ts'),
        fromCopy<typeof import('../run/pass-mode.ts')>(root, 'src/run/pass-mode.ts'),
        fromCopy<typeof import('../cluster/cleanup.ts')>(root, 'src/cluster/cleanup.ts'),
      ]).then(([providers, conformance, passMode, cleanup]) => ({
        startCluster: providers.startCluster,
        runPass: conformance.runPass,
        observeMode: passMode.observeMode,
        modeProblems: passMode.modeProblems,
        onInterrupt: cleanup.onInterrupt,
        throwIfInterrupted: cleanup.throwIfInterrupted,
      }));
      return loaded;
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

/** Links each installed package (scopes whole) into a directory of the copy's own. */
async function linkPackages(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    // Tool caches and the npm metadata stay behind: the copy's tools make their own.
    if (name.startsWith('.')) continue;
    await symlink(join(from, name), join(to, name));
  }
}

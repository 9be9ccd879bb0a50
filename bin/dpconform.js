#!/usr/bin/env node
// The package's entry point: Node 24 runs the TypeScript sources directly (type stripping),
// so there is no build step between a change and a run.
import '../src/cli.ts';

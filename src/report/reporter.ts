/**
 * The vitest reporter that turns one execution of the suites into one {@link Pass} of the report.
 * It reads the final state of every module at the end of the run, because a failing `afterAll`
 * only shows up after the tests under it have been reported.
 */
import type { SerializedError } from 'vitest';
import type { Reporter, TestCase, TestModule, TestRunEndReason, TestSuite, Vitest } from 'vitest/node';
import {
  areaFromFile,
  type CaseOutcome,
  classify,
  compareAreas,
  type ErrorLike,
  parseTestName,
} from './classify.ts';
import './evidence.ts';
import {
  type Area,
  areaVerdict,
  compareRequirementIds,
  type Pass,
  type PassMode,
  passVerdict,
  type Requirement,
} from './model.ts';

/** Options of a {@link ConformanceReporter}. */
export interface ConformanceReporterOptions {
  /** The mode this pass runs the suites in. */
  mode: PassMode;
  /** Called once with the pass when the run ends. */
  onPass?: (pass: Pass) => void;
  /** Paths in failures are shown relative to this (default: vitest's root). */
  root?: string;
}

/** Gathers one pass of the report from a vitest run. */
export class ConformanceReporter implements Reporter {
  readonly #options: ConformanceReporterOptions;
  #root: string | undefined;
  #startedAt = new Date();
  #started = performance.now();
  #pass: Pass | undefined;

  constructor(options: ConformanceReporterOptions) {
    this.#options = options;
    this.#root = options.root;
  }

  onInit(vitest: Vitest): void {
    this.#root ??= vitest.config.root;
  }

  onTestRunStart(): void {
    this.#startedAt = new Date();
    this.#started = performance.now();
    this.#pass = undefined;
  }

  onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason,
  ): void {
    this.#pass = gatherPass(modules, unhandledErrors, reason, {
      mode: this.#options.mode,
      root: this.#root,
      startedAt: this.#startedAt,
      durationMs: performance.now() - this.#started,
    });
    this.#options.onPass?.(this.#pass);
  }

  /** The gathered pass; throws when the run has not ended yet. */
  pass(): Pass {
    if (!this.#pass) throw new Error('ConformanceReporter: the run has not ended yet');
    return this.#pass;
  }
}

/** Facts about a pass that vitest does not hold. */
export interface PassContext {
  mode: PassMode;
  root?: string | undefined;
  startedAt: Date;
  durationMs: number;
}

/** Builds a pass from the modules of a finished vitest run. */
export function gatherPass(
  modules: ReadonlyArray<TestModule>,
  unhandledErrors: ReadonlyArray<SerializedError>,
  reason: TestRunEndReason,
  ctx: PassContext,
): Pass {
  const byArea = new Map<string, { requirements: Requirement[]; problems: string[] }>();
  for (const module of modules) {
    const name = areaFromFile(module.moduleId);
    let area = byArea.get(name);
    if (!area) {
      area = { requirements: [], problems: [] };
      byArea.set(name, area);
    }
    const gathered = gatherModule(module, ctx.root);
    area.requirements.push(...gathered.requirements);
    area.problems.push(...gathered.problems);
  }
  const areas: Area[] = [...byArea.entries()]
    .sort(([a], [b]) => compareAreas(a, b))
    .map(([name, a]) => {
      const requirements = a.requirements.sort((x, y) => compareRequirementIds(x.id, y.id));
      return { name, verdict: areaVerdict(requirements, a.problems), requirements, problems: a.problems };
    });
  const problems = unhandledErrors.map((e) => `unhandled error: ${oneLine(e.message)}`);
  if (reason === 'interrupted') problems.push('the run was interrupted before every suite finished');
  return {
    mode: ctx.mode,
    startedAt: ctx.startedAt.toISOString(),
    durationMs: Math.round(ctx.durationMs),
    verdict: passVerdict(areas, problems),
    areas,
    problems,
  };
}

function gatherModule(module: TestModule, root: string | undefined) {
  const requirements: Requirement[] = [];
  // Suite errors that explain a skipped test are shown on that test; the rest (a failing
  // afterAll, a file that did not load) are problems of the area.
  const explained = new Set<TestSuite | TestModule>();
  for (const test of module.children.allTests()) {
    const { requirement, blamed } = requirementFrom(test, root);
    requirements.push(requirement);
    for (const s of blamed) explained.add(s);
  }
  const problems: string[] = [];
  const suites: (TestSuite | TestModule)[] = [module, ...module.children.allSuites()];
  for (const suite of suites) {
    if (explained.has(suite)) continue;
    const where =
      suite.type === 'module' ? module.relativeModuleId : `${module.relativeModuleId} > ${suite.fullName}`;
    for (const e of suite.errors()) problems.push(`${where}: ${oneLine(e.message)}`);
  }
  return { requirements, problems };
}

/** The requirement one finished test stands for, and the suites whose errors it explains. */
export function requirementFrom(
  test: TestCase,
  root: string | undefined,
): { requirement: Requirement; blamed: (TestSuite | TestModule)[] } {
  const { id, statement } = parseTestName(test.name);
  const result = test.result();
  const blamed: (TestSuite | TestModule)[] = [];
  let outcome: CaseOutcome;
  switch (result.state) {
    case 'passed':
      outcome = { state: 'passed' };
      break;
    case 'failed':
      outcome = { state: 'failed', errors: result.errors as readonly ErrorLike[] };
      break;
    case 'skipped': {
      const setupErrors: ErrorLike[] = [];
      if (!result.note && test.options.mode === 'run') {
        for (const s of ancestors(test)) {
          const errors = s.errors();
          if (errors.length > 0) {
            setupErrors.push(...(errors as ErrorLike[]));
            blamed.push(s);
          }
        }
      }
      outcome = { state: 'skipped', note: result.note, mode: test.options.mode, setupErrors };
      break;
    }
    default:
      outcome = { state: 'pending' };
  }
  const meta = test.meta().dpconform;
  const requirement: Requirement = {
    id,
    statement,
    ...classify(outcome, root),
    durationMs: Math.round(test.diagnostic()?.duration ?? 0),
    evidence: meta?.evidence ?? [],
    ...(meta?.summary ? { summary: meta.summary } : {}),
    ...(meta?.attachments?.length ? { attachments: meta.attachments } : {}),
  };
  return { requirement, blamed };
}

function* ancestors(test: TestCase): Generator<TestSuite | TestModule> {
  let node: TestSuite | TestModule = test.parent;
  while (node.type === 'suite') {
    yield node;
    node = node.parent;
  }
  yield node;
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

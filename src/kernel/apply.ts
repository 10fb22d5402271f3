// Applies a Plan to the kernel. Each stage runs as ONE bash process that starts the stage's
// steps (the exact commands `klab plan` prints) as parallel jobs: forking from a small shell
// is far cheaper than spawning ~200 children from Node.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Plan, Stage, Step } from "../plan/types.js";
import { stepCommand } from "../plan/script.js";
import { run } from "./exec.js";

/** Jobs a stage keeps in flight (steps touch different namespaces, so order is free). */
export const STEP_CONCURRENCY = 16;

export class PlanStepError extends Error {
  constructor(readonly step: Step, readonly stderr: string, readonly exitCode: number, readonly failedLine?: string) {
    super(`${describeStep(step)}: ${stderr.trim().split("\n").slice(-2).join(" ") || `exit ${exitCode}`}` + (failedLine ? `\n  while running: ${failedLine}` : ""));
    this.name = "PlanStepError";
  }
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case "ip": return step.netns ? `ip batch in ${step.netns}` : "ip batch in the host namespace";
    case "bridge": return `bridge batch in ${step.netns}`;
    case "sysctl": return `sysctl in ${step.netns}`;
    case "restore": return `${step.tool} in ${step.netns}`;
    case "netns-alias": return `netns ${step.name} (= ${step.target})`;
    case "files": return `writing ${step.files.map((f) => f.path).join(", ")}`;
    case "sequence": return `${step.steps.map(describeStep).join(", then ")}`;
  }
}

/** The bash text that runs a stage: each step a background job, its stderr and exit status
 * kept in DIR/N.err and DIR/N.rc. */
export function stageScript(stage: Stage, dir: string, concurrency = STEP_CONCURRENCY): string {
  // A job pool: `wait -n` frees a slot as soon as any job ends.
  const out = ["set -u", "running=0"];
  stage.steps.forEach((step, i) => {
    out.push(`if (( running >= ${concurrency} )); then wait -n; running=$((running - 1)); fi`);
    out.push(`{ ${stepCommand(step)}\n} 2>"${dir}/${i}.err" || echo $? >"${dir}/${i}.rc" &`);
    out.push("running=$((running + 1))");
  });
  out.push("wait");
  return out.join("\n") + "\n";
}

export async function applyStage(stage: Stage): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "klab-stage-"));
  try {
    await run("bash", ["-s"], { input: stageScript(stage, dir), reject: false });
    const failed = readdirSync(dir).filter((f) => f.endsWith(".rc")).map((f) => Number(f.split(".")[0])).sort((a, b) => a - b);
    if (failed.length) {
      const i = failed[0];
      const step = stage.steps[i];
      const stderr = readFileSync(join(dir, `${i}.err`), "utf8");
      const code = Number(readFileSync(join(dir, `${i}.rc`), "utf8").trim());
      // ip/bridge -batch say "Command failed -:N": name the line that failed.
      const m = /Command failed -:(\d+)/.exec(stderr);
      throw new PlanStepError(step, stderr, code, m && "lines" in step ? step.lines[Number(m[1]) - 1] : undefined);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function applyPlan(plan: Plan): Promise<void> {
  for (const stage of plan.stages) await applyStage(stage);
}

// Applies a Plan to the kernel: stage by stage, the steps of a stage in parallel, one batch
// process per namespace.
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type { Plan, Step } from "../plan/types.js";
import { CommandError, parallel, run } from "./exec.js";

export const STEP_CONCURRENCY = 8;

export class PlanStepError extends Error {
  constructor(readonly step: Step, readonly command: CommandError, readonly failedLine?: string) {
    super(`${describeStep(step)}: ${command.stderr.trim().split("\n").slice(-2).join(" ")}` + (failedLine ? `\n  while running: ${failedLine}` : ""));
    this.name = "PlanStepError";
  }
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case "ip": return step.netns ? `ip batch in ${step.netns}` : "ip batch in the host namespace";
    case "bridge": return `bridge batch in ${step.netns}`;
    case "sysctl": return `sysctl in ${step.netns}`;
    case "uts": return `UTS namespace ${step.file}`;
  }
}

export async function applyStep(step: Step): Promise<void> {
  try {
    switch (step.kind) {
      case "ip":
        await run("ip", [...(step.netns ? ["-n", step.netns] : []), "-batch", "-"], { input: step.lines.join("\n") + "\n" });
        return;
      case "bridge":
        await run("bridge", ["-n", step.netns, "-batch", "-"], { input: step.lines.join("\n") + "\n" });
        return;
      case "sysctl":
        await run("ip", ["netns", "exec", step.netns, "sysctl", "-q", "-w", ...step.values.map(([k, v]) => `${k}=${v}`)]);
        return;
      case "uts":
        mkdirSync(dirname(step.file), { recursive: true });
        closeSync(openSync(step.file, "a"));
        await run("unshare", [`--uts=${step.file}`, "hostname", step.hostname]);
        return;
    }
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    // ip/bridge -batch say "Command failed -:N": name the line that failed.
    const m = /Command failed -:(\d+)/.exec(e.stderr);
    const failed = m && "lines" in step ? step.lines[Number(m[1]) - 1] : undefined;
    throw new PlanStepError(step, e, failed);
  }
}

export async function applyPlan(
  plan: Plan,
  hooks: { beforeStage?: (name: string, index: number) => void | Promise<void> } = {},
): Promise<void> {
  for (const [i, stage] of plan.stages.entries()) {
    await hooks.beforeStage?.(stage.name, i);
    await parallel(stage.steps, STEP_CONCURRENCY, applyStep);
  }
}

// Shared helpers for kernel tests (root, live namespaces). Each test uses its own lab name and
// tears its lab down in t.teardown, so a failing test still leaves nothing behind.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = process.cwd();
export const KLAB = join(ROOT, "bin/klab");
export const isRoot = process.getuid?.() === 0;
export const skipUnlessRoot = isRoot ? false : "needs root (run: sudo bash scripts/test.sh kernel)";
export const built = existsSync(join(ROOT, "dist/cli/klab.js"));
export const skipKernel = skipUnlessRoot || (built ? false : "klab is not built (run: bash scripts/setup.sh)");

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function klab(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Run {
  const r = spawnSync(KLAB, args, { encoding: "utf8", env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 180_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export function klabAsync(args: string[], env: Record<string, string> = {}) {
  return spawn(KLAB, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

export function writeLab(text: string, name = "lab.yaml"): string {
  const dir = mkdtempSync(join(tmpdir(), "klab-test-"));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Everything a lab could leave behind, by lab name. Empty means clean. */
export function residue(lab: string): string[] {
  const out: string[] = [];
  const prefix = `klab-${lab}-`;
  for (const n of existsSync("/run/netns") ? readdirSync("/run/netns") : []) if (n.startsWith(prefix)) out.push(`netns ${n}`);
  for (const e of existsSync("/etc/netns") ? readdirSync("/etc/netns") : []) if (e.startsWith(prefix)) out.push(`/etc/netns/${e}`);
  if (existsSync(`/run/klab/${lab}`)) out.push(`/run/klab/${lab}`);
  for (const line of readFileSync("/proc/mounts", "utf8").split("\n")) {
    if (line.includes(`/run/klab/${lab}/`) || line.includes(`/run/netns/${prefix}`)) out.push(`mount ${line.split(" ")[1]}`);
  }
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      const i = argv.indexOf("klab-agent");
      if (i >= 0 && argv[i + 1] === lab) out.push(`agent pid ${pid}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Register teardown of `lab` (even when the test fails) and return a function for the check. */
export function downOnTeardown(t: { teardown(fn: () => void): void }, lab: string) {
  t.teardown(() => {
    klab(["down", lab]);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function podsLab(name: string, opts: { nodes: number; mode: "host-gw" | "vxlan"; podsPerNode: number; checks?: string; clients?: number }): string {
  const docs = [`apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: ${name}}
spec:
  nodes: ${opts.nodes}
  clients: ${opts.clients ?? 0}
  network: {mode: ${opts.mode}}
  checks:
${opts.checks ?? "    []"}`];
  for (let n = 1; n <= opts.nodes; n++) {
    for (let i = 0; i < opts.podsPerNode; i++) {
      docs.push(`apiVersion: v1
kind: Pod
metadata: {name: p${n}-${i}, labels: {app: mesh}}
spec:
  nodeName: node${n}
  containers: [{name: netexec, image: registry.k8s.io/e2e-test-images/agnhost:2.47, args: [netexec]}]`);
    }
  }
  return docs.join("\n---\n") + "\n";
}

// Removing a lab: stop its runtime, kill anything left in its namespaces, unmount UTS files,
// delete its namespaces (which takes every link, route and rule inside with them) and its
// /etc/netns entries. Tolerates anything already gone, so it also finishes a half-done `up`.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { ETC_NETNS, labDir, RUN_DIR } from "../plan/cluster.js";
import { run } from "./exec.js";
import { agentPids, killAndWait, listNetns, pidsInNetns } from "./processes.js";
import { listLabs, loadState, removeLabDir } from "./state.js";

export { ETC_NETNS };

export interface TeardownReport {
  lab: string;
  netnsDeleted: number;
  processesKilled: number;
}

/** Mount points below `dir`, from the kernel's own list (state may be missing or stale). */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1]?.replace(/\\040/g, " "))
    .filter((m): m is string => Boolean(m) && m.startsWith(dir + "/"));
}

async function removeNamespaces(names: string[], utsFiles: string[]): Promise<number> {
  const existing = new Set(listNetns());
  const present = names.filter((n) => existing.has(n));
  const pids = [...pidsInNetns(present).values()].flat();
  await killAndWait(pids, 1000);
  const mounted = utsFiles.filter((f) => mountsUnder("/run/klab").includes(f));
  // Lazy unmount: a file may still be held by a dying process.
  for (let i = 0; i < mounted.length; i += 200) await run("umount", ["-l", ...mounted.slice(i, i + 200)], { reject: false });
  if (present.length) await run("ip", ["-force", "-batch", "-"], { input: present.map((n) => `netns del ${n}`).join("\n") + "\n", reject: false });
  for (const n of names) rmSync(`${ETC_NETNS}/${n}`, { recursive: true, force: true });
  return pids.length;
}

export async function teardownLab(lab: string): Promise<TeardownReport> {
  const state = loadState(lab);
  const agents = agentPids(lab).map((a) => a.pid);
  if (state?.agentPid && !agents.includes(state.agentPid)) {
    /* recorded agent already gone (or pid reused by someone else): leave it */
  }
  await killAndWait(agents, 5000);
  const names = state?.netns ?? [];
  const killed = await removeNamespaces(names, [...new Set([...(state?.utsFiles ?? []), ...mountsUnder(labDir(lab))])]);
  const remaining = new Set(listNetns());
  removeLabDir(lab);
  return { lab, netnsDeleted: names.filter((n) => !remaining.has(n)).length, processesKilled: killed + agents.length };
}

/** Remove every klab object on the host — or, given a lab name, every object of that lab —
 * with or without state: namespaces by name prefix, runtimes by command line, mounts by the
 * kernel's mount table. */
export async function cleanup(lab?: string): Promise<{ labs: string[]; netns: string[]; processes: number }> {
  const labs = listLabs().filter((l) => !lab || l === lab);
  let processes = 0;
  for (const l of labs) processes += (await teardownLab(l)).processesKilled;
  const agents = agentPids(lab).map((a) => a.pid);
  await killAndWait(agents, 3000);
  // A name prefix can also match another lab's names (lab "a" vs lab "a-b"): spare those.
  const others = new Set(listLabs().flatMap((l) => loadState(l)?.netns ?? []));
  const prefix = lab ? `klab-${lab}-` : "klab-";
  const leftover = listNetns().filter((n) => n.startsWith(prefix) && !others.has(n));
  const dir = lab ? labDir(lab) : RUN_DIR;
  processes += agents.length + (await removeNamespaces(leftover, mountsUnder(dir)));
  for (const e of existsSync(ETC_NETNS) ? readdirSync(ETC_NETNS) : []) {
    if (e.startsWith(prefix) && !others.has(e)) rmSync(`${ETC_NETNS}/${e}`, { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
  return { labs, netns: leftover, processes };
}


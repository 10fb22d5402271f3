// Finding processes by network namespace or command line, without one `ip netns pids` per
// namespace: compare /proc/PID/ns/net with the inode of /run/netns/NAME.
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";

export const NETNS_DIR = "/run/netns";

export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort();
  } catch {
    return [];
  }
}

function allPids(): number[] {
  return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
}

/** PIDs whose network namespace is one of `names` (by /run/netns entry). */
export function pidsInNetns(names: string[]): Map<string, number[]> {
  const byInode = new Map<string, string>();
  for (const n of names) {
    try {
      byInode.set(`net:[${statSync(`${NETNS_DIR}/${n}`).ino}]`, n);
    } catch {
      /* already gone */
    }
  }
  const out = new Map<string, number[]>();
  if (byInode.size === 0) return out;
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    try {
      const ns = byInode.get(readlinkSync(`/proc/${pid}/ns/net`));
      if (ns) out.set(ns, [...(out.get(ns) ?? []), pid]);
    } catch {
      /* exited, or a kernel thread */
    }
  }
  return out;
}

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** Running (a zombie counts as gone: it has exited and only waits for its parent). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** PIDs of klab lab agents (optionally of one lab). */
export function agentPids(lab?: string): { pid: number; lab: string }[] {
  const out: { pid: number; lab: string }[] = [];
  for (const pid of allPids()) {
    const argv = cmdline(pid);
    const i = argv.indexOf("klab-agent");
    if (i >= 0 && argv[i + 1] && (!lab || argv[i + 1] === lab) && pid !== process.pid) out.push({ pid, lab: argv[i + 1] });
  }
  return out;
}

export async function killAndWait(pids: number[], graceMs = 3000): Promise<void> {
  const live = pids.filter(isAlive);
  for (const p of live) try { process.kill(p, "SIGTERM"); } catch { /* gone */ }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && live.some(isAlive)) await new Promise((r) => setTimeout(r, 20));
  for (const p of live.filter(isAlive)) try { process.kill(p, "SIGKILL"); } catch { /* gone */ }
  const hard = Date.now() + 2000;
  while (Date.now() < hard && live.some(isAlive)) await new Promise((r) => setTimeout(r, 10));
}

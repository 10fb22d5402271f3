// The host's root network namespace, as text: links, addresses, routes, rules, iptables,
// nftables and net sysctls. The suite takes it before and after; they must be identical.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const VOLATILE_SYSCTLS = [/^net\.netfilter\.nf_conntrack_count/, /^net\.ipv4\.tcp_mem|^net\.ipv4\.udp_mem/];

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.error ? `(${cmd} unavailable)` : `${r.stdout}${r.status ? `(exit ${r.status}) ${r.stderr}` : ""}`;
}

export function rootSnapshot(): Record<string, string> {
  return {
    links: sh("ip", ["-o", "-d", "link", "show"]),
    addresses: sh("ip", ["-o", "addr", "show"]).replace(/valid_lft \S+ preferred_lft \S+/g, ""),
    routes4: sh("ip", ["-4", "route", "show", "table", "all"]),
    routes6: sh("ip", ["-6", "route", "show", "table", "all"]).replace(/expires \d+sec/g, ""),
    rules: sh("ip", ["rule", "show"]) + sh("ip", ["-6", "rule", "show"]),
    iptables: sh("iptables-save", []).split("\n").filter((l) => !l.startsWith("#")).map((l) => l.replace(/\[\d+:\d+\]/, "")).join("\n"),
    nftables: sh("nft", ["list", "ruleset"]),
    sysctls: sh("sysctl", ["-a", "--pattern", "^net\\."]).split("\n").filter((l) => !VOLATILE_SYSCTLS.some((r) => r.test(l))).join("\n"),
    klabNetns: sh("ip", ["netns", "list"]).split("\n").filter((l) => l.startsWith("klab")).join("\n"),
    klabMounts: readFileSync("/proc/mounts", "utf8").split("\n").filter((l) => l.includes("/run/klab") || l.includes("/run/netns/klab")).map((l) => l.split(" ")[1]).sort().join("\n"),
  };
}

export const SNAPSHOT_FILE = process.env.KLAB_ROOT_SNAPSHOT ?? "/tmp/klab-root-snapshot.json";

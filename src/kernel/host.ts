// Can this host run a lab? Root, the tools, and the kernel features the lab uses, checked
// before anything is created. Failures are HostError: exit status 3 with the reason and a fix.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { delimiter, join } from "node:path";
import type { ClusterModel } from "../model/types.js";
import { run } from "./exec.js";

export class HostError extends Error {
  constructor(message: string, readonly fix: string) {
    super(message);
    this.name = "HostError";
  }
}

/** The lab is in the wrong state for the command (already up, not up): a usage error. */
export class LabStateError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = "LabStateError";
  }
}

export function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter).concat(["/usr/sbin", "/sbin"])) {
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

const TOOL_PACKAGES: Record<string, string> = {
  ip: "iproute2", bridge: "iproute2", unshare: "util-linux", nsenter: "util-linux", sysctl: "procps",
  umount: "mount", ping: "iputils-ping", arping: "iputils-arping", curl: "curl", nc: "netcat-openbsd",
};

export function requireTools(tools: string[]): void {
  const missing = tools.filter((t) => !which(t));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((t) => TOOL_PACKAGES[t] ?? t))];
    throw new HostError(`missing tools: ${missing.join(", ")}`, `apt-get install -y ${pkgs.join(" ")} (or run: bash scripts/setup.sh)`);
  }
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new HostError("klab must run as root: it creates network namespaces and links", "run it as root, e.g. `sudo -i` first, or `sudo ./bin/klab …`");
  }
}

const PROBE_STAMP_DIR = "/run/klab";

function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown";
  }
}

/** Try the kernel features a lab needs inside a throwaway namespace, in one shell. Features do
 * not disappear while the kernel runs, so a success is remembered until the next boot. */
export async function probeKernel(m: Pick<ClusterModel, "mode"> & { proxy?: ClusterModel["proxy"] }): Promise<void> {
  const stamp = `${PROBE_STAMP_DIR}/.kernel-ok-${m.mode}-${m.proxy?.mode ?? "none"}`;
  const id = `${bootId()} ${release()}`;
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === id) return;
  const ns = `klab-probe-${process.pid}`;
  const lines = ["link add kp-br type bridge", "link add kp-a type veth peer name kp-b"];
  if (m.mode === "vxlan") lines.push("link add kp-vx type vxlan id 1 dstport 8472 nolearning");
  if (m.proxy?.mode === "ipvs") lines.push("link add kp-dummy type dummy");
  const script = [
    `ip netns add ${ns} || exit 90`,
    `trap 'ip netns del ${ns}' EXIT`,
    `ip -n ${ns} -batch - <<'EOF' || exit 91`,
    ...lines,
    "EOF",
    `ip netns exec ${ns} sysctl -n net.bridge.bridge-nf-call-iptables >/dev/null || exit 92`,
    ...(m.proxy?.mode === "ipvs" ? ["modprobe -q ip_vs 2>/dev/null", "test -e /proc/net/ip_vs || exit 93"] : []),
  ].join("\n");
  const r = await run("bash", ["-c", script], { reject: false });
  {
    if (r.exitCode === 90) throw new HostError(`cannot create a network namespace: ${r.stderr.trim()}`, "run as root on a kernel with network namespaces (CONFIG_NET_NS)");
    if (r.exitCode === 91) {
      // `Command failed -:N` names the batch line: its link type is the missing feature.
      const n = Number(/Command failed -:(\d+)/.exec(r.stderr)?.[1] ?? 0);
      const feature = /type (\w+)/.exec(lines[n - 1] ?? "")?.[1] ?? "bridge";
      if (feature === "dummy") {
        throw new HostError("this kernel has no dummy links (CONFIG_DUMMY), which proxy.mode: ipvs needs for kube-ipvs0",
          "run the lab in the Vagrant VM, or set spec.proxy.mode: iptables or nftables");
      }
      throw new HostError(`the kernel cannot create ${feature} links: ${r.stderr.trim()}`,
        `load the module (modprobe ${feature}) or use a kernel that has it, e.g. the Vagrant VM${m.mode === "vxlan" ? ", or network.mode: host-gw" : ""}`);
    }
    if (r.exitCode === 93) {
      throw new HostError("this kernel has no IPVS (ip_vs), which proxy.mode: ipvs needs",
        "run the lab in the Vagrant VM (its Ubuntu kernel has ip_vs), or set spec.proxy.mode: iptables or nftables");
    }
    if (r.exitCode === 92) {
      throw new HostError("the kernel has no br_netfilter (net.bridge.bridge-nf-call-iptables)", "modprobe br_netfilter, or use the Vagrant VM");
    }
    if (r.exitCode !== 0) throw new HostError(`the kernel probe failed: ${r.stderr.trim()}`, "run with --verbose to see the commands");
  }
  mkdirSync(PROBE_STAMP_DIR, { recursive: true });
  writeFileSync(stamp, id);
}

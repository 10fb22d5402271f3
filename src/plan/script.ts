// A Plan as a runnable bash script: exactly the commands `klab up` runs, stage by stage.
import type { Plan, Step } from "./types.js";
import { bulkLoadArgv } from "./bulk-load.js";

const heredoc = (cmd: string, lines: string[]) => `${cmd} <<'EOF'\n${lines.join("\n")}\nEOF`;

export function stepCommand(step: Step): string {
  switch (step.kind) {
    case "ip":
      return heredoc(step.netns ? `ip -n ${step.netns} -batch -` : `ip -batch -`, step.lines);
    case "bridge":
      return heredoc(`bridge -n ${step.netns} -batch -`, step.lines);
    case "restore": {
      const cmd = { nft: ["nft", "-f", "-"], "iptables-restore": ["iptables-restore"], ipset: ["ipset", "restore"], "ipvsadm-restore": ["ipvsadm-restore"] }[step.tool];
      return heredoc(`ip netns exec ${step.netns} ${bulkLoadArgv(cmd, step.input).join(" ")}`, step.input.replace(/\n$/, "").split("\n"));
    }
    case "sequence":
      // `a <<EOF && b <<EOF …`: each command's here-document follows its line.
      return step.steps.map(stepCommand).map((c, i, all) => (i < all.length - 1 ? c.replace(/^([^\n]*)/, "$1 &&") : c)).join("\n");
    case "files": {
      // One mkdir for every directory; printf and rm -f… are one line each (printf is a builtin).
      const q = (t: string) => `'${t.replace(/'/g, `'\\''`)}'`;
      const dirs = [...new Set(step.files.filter((f) => f.content !== null).map((f) => f.path.replace(/\/[^/]*$/, "")))];
      const gone = step.files.filter((f) => f.content === null).map((f) => q(f.path));
      return [
        ...(dirs.length ? [`mkdir -p ${dirs.map(q).join(" ")}`] : []),
        ...step.files.filter((f) => f.content !== null).map((f) => `printf '%s' ${q(f.content!)} >${q(f.path)}`),
        ...(gone.length ? [`rm -f ${gone.join(" ")}`] : []),
      ].join(" &&\n");
    }
    case "netns-alias":
      return `touch /run/netns/${step.name} && mount --bind /run/netns/${step.target} /run/netns/${step.name}`;
    case "sysctl":
      return `ip netns exec ${step.netns} sysctl -q -w ${step.values.map(([k, v]) => `${k}=${v}`).join(" ")}`;
  }
}

export function planScript(plan: Plan, header: string[] = [], trailer: string[] = []): string {
  const out = [
    "#!/usr/bin/env bash",
    `# klab plan for lab "${plan.lab}": the kernel steps \`klab up\` applies, in order.`,
    "# Steps within a stage touch different namespaces; klab runs them in parallel.",
    ...header.map((h) => `# ${h}`),
    "set -euo pipefail",
  ];
  plan.stages.forEach((stage, i) => {
    out.push("", `# --- stage ${i + 1}: ${stage.name}`);
    for (const step of stage.steps) out.push(stepCommand(step));
  });
  if (trailer.length) out.push("", ...trailer.map((t) => `# ${t}`));
  return out.join("\n") + "\n";
}

// Built-in "images": what a container's image reference runs inside its pod.
import { parseAgnhost } from "../workloads/agnhost.js";
import type { Workload } from "./types.js";

export interface ImageInfo {
  name: string;
  matches: RegExp;
  about: string;
}

const ref = (n: string) => new RegExp(`(^|/)${n}(:[\\w.-]+)?(@sha256:[0-9a-f]+)?$`);

export const BUILTIN_IMAGES: ImageInfo[] = [
  { name: "agnhost", matches: ref("agnhost"), about: "the Kubernetes e2e test image: netexec (HTTP + UDP echo) and pause" },
  { name: "pause", matches: ref("pause"), about: "holds the pod's namespaces and does nothing" },
  { name: "klab-dns", matches: ref("klab-dns"), about: "the cluster DNS responder (kube-system/kube-dns), answering for the lab's Services and pods" },
  { name: "busybox", matches: ref("busybox"), about: "runs `command`/`args` with the host's binaries" },
  { name: "alpine", matches: ref("alpine"), about: "runs `command`/`args` with the host's binaries" },
  { name: "debian", matches: ref("debian"), about: "runs `command`/`args` with the host's binaries" },
  { name: "ubuntu", matches: ref("ubuntu"), about: "runs `command`/`args` with the host's binaries" },
  { name: "klab/host", matches: ref("klab/host"), about: "runs `command`/`args` with the host's binaries" },
];

export function builtinImageList(): string {
  return BUILTIN_IMAGES.map((i) => i.name).join(", ");
}

export type WorkloadResult = { ok: true; workload: Workload } | { ok: false; error: string; hint?: string; field?: "image" | "command" | "args" };

/** Resolve what a container runs. Kubernetes semantics: `command` replaces the image's
 * ENTRYPOINT, `args` its CMD. */
export function resolveWorkload(image: string, command?: string[], args?: string[]): WorkloadResult {
  const info = BUILTIN_IMAGES.find((i) => i.matches.test(image));
  if (!info) {
    return {
      ok: false,
      field: "image",
      error: `unknown image "${image}"`,
      hint: `klab runs built-in images: ${builtinImageList()} (e.g. registry.k8s.io/e2e-test-images/agnhost:2.47); host binaries run through image busybox with command`,
    };
  }
  if (info.name === "agnhost") {
    const r = parseAgnhost(command, args);
    if (!r.ok) return { ok: false, field: command ? "command" : "args", error: r.error, hint: 'e.g. args: ["netexec", "--http-port=8080", "--udp-port=8081"]' };
    if (r.subcommand === "pause") return { ok: true, workload: { kind: "pause" } };
    return { ok: true, workload: { kind: "netexec", httpPort: r.httpPort, udpPort: r.udpPort } };
  }
  if (info.name === "klab-dns") {
    if (command || args) return { ok: false, field: command ? "command" : "args", error: "image klab-dns takes no command or args", hint: "configure it with the Lab's spec.dns" };
    return { ok: true, workload: { kind: "dns" } };
  }
  if (info.name === "pause") {
    if (command || args) return { ok: true, workload: { kind: "exec", argv: [...(command ?? []), ...(args ?? [])] } };
    return { ok: true, workload: { kind: "pause" } };
  }
  // Host-binary images have no ENTRYPOINT; their default CMD (a shell) would exit at once.
  const argv = [...(command ?? []), ...(args ?? [])];
  if (argv.length === 0) {
    return {
      ok: false,
      field: "image",
      error: `image "${image}" runs host binaries and needs a command`,
      hint: 'e.g. command: ["sleep", "infinity"]',
    };
  }
  return { ok: true, workload: { kind: "exec", argv } };
}

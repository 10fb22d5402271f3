// Run one command as root inside a stock distro kernel (Debian's linux-image-amd64) under qemu,
// on this host's own filesystem. For the tests that need kernel features the development/CI
// kernel lacks (IPVS, netem, dummy links): see docs/testing.md and `npm run test:kernel-vm`.
//
// Run (as root) from the repository root (node resolves the loader from node_modules there):
//
//   TS_NODE_TRANSPILE_ONLY=1 node --import @isaacs/ts-node-temp-fork-for-pr-2009/import scripts/vm-run.ts [options] -- CMD ARGS…
//
// (the runner of the other TypeScript scripts, see `npm run bench:bringup`).
//
// What one invocation does:
//   1. installs what is missing with apt-get (`apt-get update` only then): a distro kernel with
//      its modules (linux-image-amd64; linux-image-generic on Ubuntu), qemu-system-x86,
//      busybox-static, kmod;
//   2. builds (once per kernel version, cached in /var/cache/klab-vm/) a tiny initramfs: the
//      static busybox, the kernel's virtio/9p/overlay modules (decompressed), and an /init that
//      mounts the host's / read-only over virtio-9p with a tmpfs overlay on top (writes inside
//      never reach the host), then switch_roots into it;
//   3. boots `qemu-system-x86_64 -nographic -no-reboot` on that kernel (KVM when /dev/kvm can
//      boot the kernel, probed once and remembered in the cache directory; TCG otherwise);
//   4. inside: mounts proc/sys/dev/run/tmp, brings lo up (there is no other network), checks that
//      /lib/modules/<version> is there (the kernel package's modules, seen through 9p) so that
//      modprobe works, then runs CMD ARGS… as root with cwd = the current directory (same path as
//      on the host; artifacts such as dist/ must already be built on the host), stdin /dev/null,
//      env: PATH, HOME=/root, LANG=C.UTF-8, TERM=dumb, KLAB_VM=1, KLAB_VM_ACCEL=kvm|tcg (under
//      tcg everything runs 10-40 times slower: wall-clock thresholds may use it) plus --env;
//   5. prints `KLAB-VM-EXIT <code>` and powers off (the command also runs under the guest's own
//      `timeout`, in case this process is killed); the console goes to stdout as it comes
//      (carriage returns and escape sequences stripped); progress and the verdict, prefixed
//      `vm-run:`, go to stderr. While the command runs, the kernel's console log level is 2
//      (panics and oopses still show); its errors are printed afterwards as `# kernel log: …`.
//
// Inside, /tmp, /run and /dev/shm are fresh tmpfs (the host's /tmp is not visible: put what
// the command needs elsewhere, e.g. in the repository); everything else is the host's tree as
// it was at boot, writable through the overlay, and every write is lost at power-off. There is
// no network but loopback. The guest's /tmp etc. are mounted by the initramfs, so the command
// sees a minimal, already-mounted system with no init and no services. The per-run script it
// runs (/var/cache/klab-vm/jobs/<pid>-<nonce>/job.sh) is deleted afterwards; SIGINT, SIGTERM
// and SIGHUP stop the VM.
//
// Options:
//   --timeout S         hard limit for the whole run, boot included (default 900 = 15 min)
//   --boot-timeout S    the command must have started within S seconds (default 300)
//   --mem MiB           guest memory (default 2048)
//   --smp N             guest vCPUs (default 2)
//   --accel auto|kvm|tcg  (default auto: KVM if /dev/kvm boots the kernel, else TCG)
//   --kernel VERSION    which installed kernel (default: the newest /boot/vmlinuz-* that has
//                       /lib/modules/VERSION)
//   --env NAME=VALUE    extra environment for the command (repeatable)
//   --rebuild-initrd    rebuild the cached initramfs
//
// Exit status: the command's own exit status; 124 when --timeout expired; 125 when the VM could
// not be set up or did not boot, or the guest died before reporting (panic, qemu error; the
// reason and the console's last lines are printed); 2 for bad usage.
import { $, minimist, which } from "zx";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { constants as osConstants } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { performance } from "node:perf_hooks";

// ---------------------------------------------------------------------------------------------
// options

const argv = process.argv.slice(2);
const dd = argv.indexOf("--");
const args = minimist(dd >= 0 ? argv.slice(0, dd) : argv, {
  boolean: ["help", "rebuild-initrd"],
  string: ["timeout", "boot-timeout", "mem", "smp", "accel", "kernel", "env"],
  alias: { h: "help" },
  default: { timeout: "900", "boot-timeout": "300", mem: "2048", smp: "2", accel: "auto" },
});
const command = dd >= 0 ? argv.slice(dd + 1) : [];

const say = (msg: string) => process.stderr.write(`vm-run: ${msg}\n`);
function usage(msg?: string): never {
  if (msg) say(msg);
  console.error("usage: scripts/vm-run.ts [--timeout S] [--boot-timeout S] [--mem MiB] [--smp N] [--accel auto|kvm|tcg] [--kernel VER] [--env N=V]… -- CMD ARGS…");
  process.exit(2);
}
if (args.help) {
  const text = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
  console.log(text.slice(0, text.findIndex((l) => l.startsWith("import "))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
  process.exit(0);
}
const unknown = Object.keys(args).filter((k) => !["_", "help", "h", "rebuild-initrd", "timeout", "boot-timeout", "mem", "smp", "accel", "kernel", "env"].includes(k));
if (unknown.length) usage(`unknown option --${unknown[0]}`);
if (args._.length) usage(`unexpected argument ${args._[0]} (the command goes after --)`);
if (!command.length) usage("no command given");
function intOpt(name: string, min: number, max: number): number {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) usage(`--${name} must be an integer from ${min} to ${max}`);
  return v;
}
const TIMEOUT_S = intOpt("timeout", 10, 24 * 3600);
const BOOT_TIMEOUT_S = Math.min(intOpt("boot-timeout", 5, 24 * 3600), TIMEOUT_S);
const MEM = intOpt("mem", 256, 1 << 20);
const SMP = intOpt("smp", 1, 256);
const ACCEL = String(args.accel);
if (!["auto", "kvm", "tcg"].includes(ACCEL)) usage("--accel must be auto, kvm or tcg");
const EXTRA_ENV: string[] = ([] as string[]).concat(args.env ?? []).map(String);
for (const e of EXTRA_ENV) if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) usage(`--env ${e}: expected NAME=VALUE`);

if (process.getuid?.() !== 0) {
  say("must run as root (it installs packages, reads /boot/vmlinuz-*, and the guest runs the host's files as root)");
  process.exit(125);
}
if (process.arch !== "x64") {
  say(`only x86-64 hosts are supported (this is ${process.arch})`);
  process.exit(125);
}

$.verbose = false;
$.quiet = true;

const CACHE = "/var/cache/klab-vm";
const QEMU = "qemu-system-x86_64";
const t0 = performance.now();
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const elapsed = () => secs(performance.now() - t0);
const hms = (ms: number) => `${Math.floor(ms / 60000)}m${String(Math.round((ms % 60000) / 1000)).padStart(2, "0")}s`;

class VmError extends Error {
  constructor(
    msg: string,
    readonly code = 125,
  ) {
    super(msg);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. packages

const installed = (pkg: string) =>
  spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" }).stdout === "install ok installed";

function osId(): string {
  try {
    return /^ID=("?)([^"\n]*)\1$/m.exec(readFileSync("/etc/os-release", "utf8"))?.[2] ?? "";
  } catch {
    return "";
  }
}

/** Kernel versions with both /boot/vmlinuz-VER and /lib/modules/VER/, newest first. */
function stockKernels(): string[] {
  let boot: string[] = [];
  try {
    boot = readdirSync("/boot");
  } catch {
    /* no /boot */
  }
  return boot
    .filter((f) => f.startsWith("vmlinuz-"))
    .map((f) => f.slice("vmlinuz-".length))
    .filter((v) => existsSync(`/lib/modules/${v}/modules.dep`) || existsSync(`/lib/modules/${v}/modules.order`))
    .sort((a, b) => b.localeCompare(a, "en", { numeric: true }));
}

async function ensurePackages(): Promise<void> {
  const missing: string[] = [];
  const usable = stockKernels().filter((v) => !args.kernel || v === String(args.kernel));
  if (!usable.length) {
    if (args.kernel) throw new VmError(`--kernel ${args.kernel}: no /boot/vmlinuz-${args.kernel} with /lib/modules/${args.kernel}`);
    missing.push(osId() === "ubuntu" ? "linux-image-generic" : "linux-image-amd64");
  }
  if (!(await which(QEMU, { nothrow: true }))) missing.push("qemu-system-x86");
  if (!installed("busybox-static")) missing.push("busybox-static");
  if (!installed("kmod") || !(await which("modprobe", { nothrow: true }))) missing.push("kmod");
  if (!missing.length) return;
  if (!(await which("apt-get", { nothrow: true }))) throw new VmError(`missing ${missing.join(", ")} and there is no apt-get (Debian/Ubuntu only)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  say(`installing ${missing.join(" ")} (apt-get update, then apt-get install)`);
  const up = await $({ env })`apt-get update -qq`.nothrow();
  if (up.exitCode !== 0) throw new VmError(`apt-get update failed:\n${tail(up.stdout + up.stderr, 15)}`);
  const r = await $({ env })`apt-get install -y -qq --no-install-recommends ${missing}`.nothrow();
  if (r.exitCode !== 0) throw new VmError(`apt-get install ${missing.join(" ")} failed:\n${tail(r.stdout + r.stderr, 15)}`);
  say(`installed ${missing.join(" ")} (${elapsed()})`);
}

function tail(text: string, n = 30): string {
  return text.trimEnd().split("\n").slice(-n).join("\n");
}

// ---------------------------------------------------------------------------------------------
// 2. the initramfs: busybox, a few modules, /init (stage 1)

/** Modules stage 1 loads, with their dependencies (from modules.dep), in load order. */
const STAGE1_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"];

const STAGE1_INIT = `#!/bin/busybox sh
# klab-vm stage 1 (initramfs, written by scripts/vm-run.ts): mount the host's / read-only over
# virtio-9p under a tmpfs overlay, then switch_root and run the job script given as klab.job=.
/bin/busybox mkdir -p /bin /proc /sys /dev /lower /upper /newroot
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
exec </dev/console >/dev/console 2>&1
fail() {
  echo "KLAB-VM-FAIL stage 1: $*"
  dmesg | tail -n 25
  sleep 1
  poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 30
}
echo "KLAB-VM-STAGE1 $(cut -d' ' -f1 /proc/uptime)"
job= probe=
for a in $(cat /proc/cmdline); do
  case $a in
    klab.job=*) job=\${a#klab.job=} ;;
    klab.probe=1) probe=1 ;;
  esac
done
for m in $(cat /modules/order); do
  insmod /modules/$m.ko || fail "insmod $m failed"
done
if [ -n "$probe" ]; then
  echo "KLAB-VM-PROBE-OK"
  sleep 1
  poweroff -f
fi
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose root /lower || fail "cannot mount the host's / (9p tag root)"
mount -t tmpfs -o mode=0755 upper /upper || fail "tmpfs for the overlay"
mkdir -p /upper/upper /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/upper,workdir=/upper/work overlay /newroot || fail "overlay mount"
[ -n "$job" ] || fail "no klab.job= on the kernel command line"
[ -f "/newroot$job" ] || fail "job script $job not found in the host's filesystem"
for d in dev proc sys; do
  mount --move /$d /newroot/$d || fail "mount --move /$d"
done
# The rest of a minimal system, with busybox (quicker than the host's tools through 9p).
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /newroot/run || fail "tmpfs /run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /newroot/tmp || fail "tmpfs /tmp"
mkdir -p /newroot/run/lock /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /newroot/dev/shm
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup 2>/dev/null
mount -t bpf bpf /newroot/sys/fs/bpf 2>/dev/null
ln -sf /proc/self/fd /newroot/dev/fd
ln -sf /proc/self/fd/0 /newroot/dev/stdin
ln -sf /proc/self/fd/1 /newroot/dev/stdout
ln -sf /proc/self/fd/2 /newroot/dev/stderr
hostname klab-vm
ip link set lo up || fail "ip link set lo up"
exec switch_root /newroot /bin/sh "$job"
fail "switch_root failed"
`;

const depsOf = (dep: Map<string, string[]>, name: string) => dep.get(name) ?? [];

/** modules.dep: module name → [relative path, ...deps' paths]; plus name ↔ path maps. */
function readModulesDep(ver: string) {
  const byName = new Map<string, string>();
  const deps = new Map<string, string[]>();
  const modName = (p: string) => basename(p).replace(/\.ko(\.(xz|zst|gz))?$/, "").replace(/-/g, "_");
  for (const line of readFileSync(`/lib/modules/${ver}/modules.dep`, "utf8").split("\n")) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const name = modName(m[1]);
    byName.set(name, m[1]);
    deps.set(name, m[2].split(/\s+/).filter(Boolean).map(modName));
  }
  let builtin = new Set<string>();
  try {
    builtin = new Set(readFileSync(`/lib/modules/${ver}/modules.builtin`, "utf8").split("\n").filter(Boolean).map(modName));
  } catch {
    /* none listed */
  }
  return { byName, deps, builtin };
}

/** The modules to insmod, dependencies first; built-in ones are left out. */
function moduleOrder(ver: string): { name: string; path: string }[] {
  const { byName, deps, builtin } = readModulesDep(ver);
  const out: { name: string; path: string }[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    if (builtin.has(name)) return;
    const path = byName.get(name);
    if (!path) throw new VmError(`kernel ${ver} has neither a module nor a built-in ${name} (needed to mount the host's filesystem)`);
    for (const d of depsOf(deps, name)) visit(d);
    out.push({ name, path });
  };
  for (const m of STAGE1_MODULES) visit(m);
  return out;
}

function readModule(ver: string, rel: string): Buffer {
  const file = join(`/lib/modules/${ver}`, rel);
  if (file.endsWith(".ko")) return readFileSync(file);
  if (file.endsWith(".gz")) return gunzipSync(readFileSync(file));
  const tool = file.endsWith(".xz") ? ["xz", "-dc"] : file.endsWith(".zst") ? ["zstd", "-dcq"] : undefined;
  if (!tool) throw new VmError(`unknown module format: ${file}`);
  const r = spawnSync(tool[0], [...tool.slice(1), file], { maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new VmError(`cannot decompress ${file} with ${tool[0]}: ${r.error ?? r.stderr}`);
  return r.stdout;
}

/** A cpio archive in the "newc" format the kernel unpacks. */
class Cpio {
  private parts: Buffer[] = [];
  private ino = 1;
  private entry(name: string, mode: number, data: Buffer = Buffer.alloc(0), rdev: [number, number] = [0, 0]) {
    const fields = [this.ino++, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], Buffer.byteLength(name) + 1, 0];
    const head = Buffer.from("070701" + fields.map((f) => f.toString(16).padStart(8, "0")).join("") + name + "\0");
    this.parts.push(head, Buffer.alloc((4 - (head.length % 4)) % 4), data, Buffer.alloc((4 - (data.length % 4)) % 4));
  }
  dir(name: string) {
    this.entry(name, 0o040755);
  }
  file(name: string, data: Buffer | string, perm = 0o644) {
    this.entry(name, 0o100000 | perm, Buffer.isBuffer(data) ? data : Buffer.from(data));
  }
  chardev(name: string, major: number, minor: number, perm = 0o600) {
    this.entry(name, 0o020000 | perm, undefined, [major, minor]);
  }
  finish(): Buffer {
    this.entry("TRAILER!!!", 0);
    const all = Buffer.concat(this.parts);
    return Buffer.concat([all, Buffer.alloc((512 - (all.length % 512)) % 512)]);
  }
}

function buildInitrd(ver: string): string {
  const busybox = readFileSync("/bin/busybox");
  const mods = moduleOrder(ver);
  const key = createHash("sha256").update(STAGE1_INIT).update(busybox).update(mods.map((m) => m.path).join("\n")).digest("hex").slice(0, 12);
  const file = join(CACHE, `initrd-${ver}-${key}.cpio.gz`);
  if (existsSync(file) && !args["rebuild-initrd"]) return file;

  const c = new Cpio();
  for (const d of ["bin", "dev", "proc", "sys", "lower", "upper", "newroot", "modules"]) c.dir(d);
  c.chardev("dev/console", 5, 1);
  c.file("bin/busybox", busybox, 0o755);
  c.file("init", STAGE1_INIT, 0o755);
  for (const m of mods) c.file(`modules/${m.name}.ko`, readModule(ver, m.path));
  c.file("modules/order", mods.map((m) => m.name).join("\n") + "\n");
  mkdirSync(CACHE, { recursive: true });
  for (const old of readdirSync(CACHE)) if (old.startsWith(`initrd-${ver}-`) && old !== basename(file)) rmSync(join(CACHE, old), { force: true });
  writeFileSync(`${file}.tmp`, gzipSync(c.finish(), { level: 6 }));
  renameSync(`${file}.tmp`, file);
  say(`built ${file} (${mods.map((m) => m.name).join(", ")})`);
  return file;
}

// ---------------------------------------------------------------------------------------------
// 3. the job script (stage 2, runs as PID 1 in the overlay root)

/** POSIX shell single-quoting. */
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function jobScript(nonce: string, cwd: string, accel: "kvm" | "tcg"): string {
  const env = [
    `PATH=${process.env.PATH || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}`,
    "HOME=/root",
    "LANG=C.UTF-8",
    "TERM=dumb",
    "KLAB_VM=1",
    `KLAB_VM_ACCEL=${accel}`,
    ...EXTRA_ENV,
  ];
  return `#!/bin/sh
# klab-vm stage 2 (written by scripts/vm-run.ts for one run): runs as PID 1 in the overlay root.
${env.map((e) => `export ${e.slice(0, e.indexOf("="))}=${sq(e.slice(e.indexOf("=") + 1))}`).join("\n")}
off() {
  sleep 1
  /bin/busybox poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 30
}
fail() {
  echo "KLAB-VM-FAIL stage 2: $*"
  off
}
kver=$(uname -r)
[ -d "/lib/modules/$kver/kernel" ] || fail "no /lib/modules/$kver in the host's filesystem: modprobe would not find the VM kernel's modules"
[ -s "/lib/modules/$kver/modules.dep" ] || depmod "$kver" || fail "depmod $kver"
cd ${sq(cwd)} || fail "cannot cd to ${cwd.replace(/["$`\\]/g, "")}"
echo "KLAB-VM-KERNEL $kver uptime=$(cut -d' ' -f1 /proc/uptime) ${nonce}"
# While the command runs, only emergencies and alerts (panic, oops) reach the console, so that
# kernel messages do not cut into its output; errors are listed after it instead.
/bin/busybox dmesg -n 2
# The guest's own limit, in case the host side is gone (it normally stops the VM first).
timeout -k 10 ${TIMEOUT_S} ${command.map(sq).join(" ")} </dev/null
rc=$?
/bin/busybox dmesg -n 4
dmesg --level=emerg,alert,crit,err 2>/dev/null | tail -n 20 | sed 's/^/# kernel log: /'
echo "KLAB-VM-EXIT $rc ${nonce}"
off
`;
}

// ---------------------------------------------------------------------------------------------
// 4. qemu

interface Boot {
  kernel: string;
  initrd: string;
  accel: "kvm" | "tcg";
  append: string[];
  mem: number;
  smp: number;
}

function qemuArgs(b: Boot): string[] {
  return [
    "-nographic",
    "-no-reboot",
    "-nodefaults",
    "-serial", "stdio",
    "-monitor", "none",
    "-accel", b.accel,
    "-cpu", b.accel === "kvm" ? "host" : "max",
    "-machine", "pc",
    "-m", String(b.mem),
    "-smp", String(b.smp),
    "-nic", "none",
    "-kernel", b.kernel,
    "-initrd", b.initrd,
    "-append", ["console=ttyS0", "quiet", "panic=-1", "oops=panic", "rdinit=/init", ...b.append].join(" "),
    "-fsdev", "local,id=root,path=/,readonly=on,security_model=none,multidevs=remap",
    "-device", "virtio-9p-pci,fsdev=root,mount_tag=root",
  ];
}

interface Outcome {
  exit?: number; // KLAB-VM-EXIT
  fail?: string; // KLAB-VM-FAIL
  kernel?: string; // KLAB-VM-KERNEL
  bootMs?: number; // host time until KLAB-VM-KERNEL
  guestUptime?: string;
  probeOk?: boolean;
  stage1?: boolean;
  timedOut?: "boot" | "total";
  qemuCode: number | null;
  qemuSignal: NodeJS.Signals | null;
  lastLines: string[];
  qemuStderr: string;
}

let current: ChildProcess | undefined;

/**
 * Boot once. `stream` copies the console to stdout. `bootLimitMs`: the job (or the probe) must
 * have reported by then; `totalLimitMs`: qemu is killed after that.
 */
function boot(b: Boot, opts: { stream: boolean; nonce: string; bootLimitMs: number; totalLimitMs: number }): Promise<Outcome> {
  return new Promise((resolvePromise) => {
    const start = performance.now();
    const q = spawn(QEMU, qemuArgs(b), { stdio: ["ignore", "pipe", "pipe"] });
    current = q;
    const o: Outcome = { qemuCode: null, qemuSignal: null, lastLines: [], qemuStderr: "" };
    let buf = "";
    const onLine = (raw: string) => {
      // \r from the serial line discipline, escape sequences from the firmware.
      const line = raw.replace(/\r/g, "").replace(/\x1b(\[[0-?]*[ -\/]*[@-~]|[@-~])/g, "");
      if (opts.stream) process.stdout.write(line + "\n");
      o.lastLines.push(line);
      if (o.lastLines.length > 40) o.lastLines.shift();
      let m: RegExpExecArray | null;
      if (line.includes("KLAB-VM-STAGE1 ")) o.stage1 = true;
      else if (line.includes("KLAB-VM-PROBE-OK")) o.probeOk = true;
      else if ((m = /KLAB-VM-FAIL (.*)$/.exec(line))) o.fail ??= m[1];
      else if ((m = new RegExp(`KLAB-VM-KERNEL (\\S+) uptime=(\\S+) ${opts.nonce}$`).exec(line))) {
        o.kernel = m[1];
        o.guestUptime = m[2];
        o.bootMs = performance.now() - start;
        say(`kernel ${o.kernel} booted in ${secs(o.bootMs)} (guest uptime ${o.guestUptime} s, ${b.accel}, ${b.smp} vCPUs, ${b.mem} MiB); running: ${command.join(" ")}`);
      } else if ((m = new RegExp(`KLAB-VM-EXIT (\\d+) ${opts.nonce}$`).exec(line))) o.exit = Number(m[1]);
    };
    q.stdout!.setEncoding("utf8");
    q.stdout!.on("data", (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    q.stderr!.setEncoding("utf8");
    q.stderr!.on("data", (chunk: string) => {
      o.qemuStderr += chunk;
      if (opts.stream) process.stderr.write(chunk);
    });
    const kill = (why: Outcome["timedOut"]) => {
      if (q.exitCode !== null || q.signalCode !== null) return;
      o.timedOut ??= why;
      q.kill("SIGTERM");
      setTimeout(() => q.exitCode === null && q.signalCode === null && q.kill("SIGKILL"), 3000).unref();
    };
    const timers = [
      setTimeout(() => kill("total"), opts.totalLimitMs),
      setTimeout(() => {
        if (!o.kernel && !o.probeOk && o.exit === undefined) kill("boot");
      }, opts.bootLimitMs),
    ];
    q.on("error", (e) => {
      o.qemuStderr += String(e);
    });
    q.on("close", (code, signal) => {
      for (const t of timers) clearTimeout(t);
      if (buf) onLine(buf);
      o.qemuCode = code;
      o.qemuSignal = signal;
      current = undefined;
      resolvePromise(o);
    });
  });
}

/** KVM if /dev/kvm opens and boots this kernel to the initramfs (probed once, remembered). */
async function chooseAccel(kernel: string, initrd: string, ver: string): Promise<"kvm" | "tcg"> {
  if (ACCEL === "kvm" || ACCEL === "tcg") return ACCEL;
  try {
    closeSync(openSync("/dev/kvm", "r+"));
  } catch (e) {
    say(`TCG (software emulation): /dev/kvm is not usable (${(e as NodeJS.ErrnoException).code ?? e})`);
    return "tcg";
  }
  const hostKernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  const qemuVer = (await $`${QEMU} --version`.nothrow()).stdout.split("\n")[0];
  const verdictFile = join(CACHE, `kvm-${createHash("sha256").update(`${hostKernel}\n${ver}\n${qemuVer}\n${initrd}`).digest("hex").slice(0, 12)}`);
  if (existsSync(verdictFile)) {
    const v = readFileSync(verdictFile, "utf8").trim();
    const [accel, ...why] = v.split(" ");
    say(`${accel === "kvm" ? "KVM" : "TCG (software emulation)"}: ${why.join(" ")} (remembered in ${verdictFile})`);
    return accel === "kvm" ? "kvm" : "tcg";
  }
  say("probing KVM: booting the kernel to its initramfs under -accel kvm (at most 25 s)");
  const p0 = performance.now();
  const o = await boot({ kernel, initrd, accel: "kvm", append: ["klab.probe=1"], mem: 256, smp: 1 }, { stream: false, nonce: "", bootLimitMs: 25_000, totalLimitMs: 30_000 });
  let verdict: string;
  if (o.probeOk) verdict = `kvm /dev/kvm boots kernel ${ver} (probe took ${secs(performance.now() - p0)} on host kernel ${hostKernel})`;
  else {
    const why = o.timedOut
      ? `no sign of the initramfs within 25 s; the console stopped at: ${JSON.stringify(o.lastLines.filter((l) => l.trim()).at(-1) ?? "")}`
      : `qemu exited ${o.qemuSignal ?? o.qemuCode}${o.qemuStderr.trim() ? `: ${tail(o.qemuStderr, 2).replace(/\n/g, " | ")}` : ""}`;
    verdict = `tcg /dev/kvm cannot boot kernel ${ver} on host kernel ${hostKernel} (${why})`;
  }
  writeFileSync(verdictFile, verdict + "\n");
  const [accel, ...rest] = verdict.split(" ");
  say(`${accel === "kvm" ? "KVM" : "TCG (software emulation)"}: ${rest.join(" ")}`);
  return accel === "kvm" ? "kvm" : "tcg";
}

// ---------------------------------------------------------------------------------------------
// main

let jobDir: string | undefined;
function cleanup() {
  if (current && current.exitCode === null && current.signalCode === null) current.kill("SIGKILL");
  if (jobDir) rmSync(jobDir, { recursive: true, force: true });
  jobDir = undefined;
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    say(`${sig}: stopping the VM`);
    cleanup();
    process.exit(128 + (osConstants.signals[sig] ?? 1));
  });
}

async function main(): Promise<number> {
  await ensurePackages();
  const kernels = stockKernels().filter((v) => !args.kernel || v === String(args.kernel));
  if (!kernels.length) throw new VmError("no kernel with modules found after installing (expected /boot/vmlinuz-VER and /lib/modules/VER)");
  const ver = kernels[0];
  const kernel = `/boot/vmlinuz-${ver}`;
  const initrd = buildInitrd(ver);
  const accel = await chooseAccel(kernel, initrd, ver);

  const nonce = randomBytes(6).toString("hex");
  mkdirSync(join(CACHE, "jobs"), { recursive: true });
  jobDir = join(CACHE, "jobs", `${process.pid}-${nonce}`);
  mkdirSync(jobDir);
  const job = join(jobDir, "job.sh");
  writeFileSync(job, jobScript(nonce, process.cwd(), accel), { mode: 0o755 });

  const remaining = TIMEOUT_S * 1000 - (performance.now() - t0);
  say(`booting ${kernel} (${accel}, -smp ${SMP}, -m ${MEM}); limits: boot ${BOOT_TIMEOUT_S} s, total ${TIMEOUT_S} s`);
  const o = await boot(
    { kernel, initrd, accel, append: [`klab.job=${job}`], mem: MEM, smp: SMP },
    { stream: true, nonce, bootLimitMs: Math.min(BOOT_TIMEOUT_S * 1000, remaining), totalLimitMs: Math.max(remaining, 1000) },
  );
  const total = performance.now() - t0;

  const context = () => {
    const panic = o.lastLines.find((l) => /Kernel panic|not syncing/.test(l));
    const bits = [];
    if (panic) bits.push(`kernel panic: ${panic.trim()}`);
    if (o.qemuStderr.trim()) bits.push(`qemu: ${tail(o.qemuStderr, 5)}`);
    bits.push(`qemu exit: ${o.qemuSignal ?? o.qemuCode}; console's last lines:\n${o.lastLines.slice(-15).map((l) => `  | ${l}`).join("\n")}`);
    return bits.join("\n");
  };
  if (o.exit !== undefined) {
    say(`kernel ${o.kernel}: \`${command.join(" ")}\` exited ${o.exit}; boot ${secs(o.bootMs!)}, total ${hms(total)} (${secs(total)})`);
    return o.exit;
  }
  if (o.timedOut === "total") throw new VmError(`timed out after ${TIMEOUT_S} s (--timeout)${o.kernel ? ` while \`${command.join(" ")}\` was running in kernel ${o.kernel}` : " before the command started"}`, 124);
  if (!o.kernel) {
    const why = o.fail ? o.fail : o.timedOut === "boot" ? `the command had not started within ${BOOT_TIMEOUT_S} s (--boot-timeout)` : "the guest stopped before the command started";
    throw new VmError(`the VM did not boot: ${why}\n${context()}`);
  }
  throw new VmError(`the guest stopped without reporting the command's exit status (${o.fail ?? "crash or power-off while the command ran"})\n${context()}`);
}

main()
  .then((code) => {
    cleanup();
    process.exit(code);
  })
  .catch((e: unknown) => {
    cleanup();
    const err = e instanceof VmError ? e : new VmError(String((e as Error)?.stack ?? e));
    say(`FAILED (${elapsed()}): ${err.message}`);
    process.exit(err.code);
  });

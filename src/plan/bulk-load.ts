// The command that loads a ruleset from stdin (iptables-restore, nft -f -, ...): large inputs run
// with jemalloc preloaded. glibc's malloc is about a third of iptables-restore's user time on a
// large ruleset (malloc_consolidate and chunk unlinking over ~150k rules): 10k Services load in
// ~2.0 s instead of ~2.65 s, 1k in ~170 ms instead of ~250 (scripts/bench-services.ts). Small
// inputs run as they are: jemalloc's start-up costs a few ms, more than it saves there.
// The library comes with Debian's libjemalloc2 (scripts/setup.sh; dig's bind9 libraries need it
// anyway); a bare soname lets ld.so find it on any architecture, and were it missing ld.so would
// only warn and run the tool with glibc's malloc.

export const BULK_LOAD_PRELOAD = "libjemalloc.so.2";
/** Input size from which a load runs with the preload (~200 Services in iptables mode). */
export const BULK_LOAD_MIN_BYTES = 256 * 1024;

/** `argv` (run inside the node's namespace), prefixed with `env LD_PRELOAD=…` for large inputs. */
export function bulkLoadArgv(argv: readonly string[], input: string): string[] {
  return input.length >= BULK_LOAD_MIN_BYTES ? ["env", `LD_PRELOAD=${BULK_LOAD_PRELOAD}`, ...argv] : [...argv];
}

// `agnhost pause` (and the pause image): holds the container "running" and nothing else.
// There are no sockets, so stop() has nothing to close.
import type { RunningWorkload } from "./netexec.js";

export async function startPause(o?: { log?(line: string): void }): Promise<RunningWorkload> {
  o?.log?.("Paused"); // agnhost pause prints this (fmt.Println, no log prefix)
  return { stop: async () => undefined };
}

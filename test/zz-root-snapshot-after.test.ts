// Last test: the host's root network namespace is exactly as before the kernel suite, and no
// klab object is left anywhere.
import t from "tap";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { skipKernel } from "./lib/kernel.js";
import { rootSnapshot, SNAPSHOT_FILE } from "./lib/root-snapshot.js";

t.test("root network namespace unchanged by the suite", { skip: skipKernel || (existsSync(SNAPSHOT_FILE) ? false : "no snapshot from before the suite (run the whole kernel layer: sudo bash scripts/test.sh kernel)") }, async (t) => {
  const before = JSON.parse(readFileSync(SNAPSHOT_FILE, "utf8")).snap as Record<string, string>;
  const after = rootSnapshot();
  for (const key of Object.keys(before)) t.equal(after[key], before[key], `${key} unchanged`);
  rmSync(SNAPSHOT_FILE, { force: true });
});

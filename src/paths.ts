// Where klab's own files are, from compiled (dist/…) or bundled (dist/bundle/…) code alike.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/** The checkout: the nearest parent holding package.json and native/. */
export function repoRoot(): string {
  if (root) return root;
  let d = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(d, "package.json")) && existsSync(join(d, "native")))) {
    const up = dirname(d);
    if (up === d) throw new Error(`cannot find klab's directory above ${fileURLToPath(import.meta.url)}`);
    d = up;
  }
  return (root = d);
}

export const nativeAddonPath = () => join(repoRoot(), "native/build/Release/klab_netns.node");
/** The lab runtime's entry: the bundle when built, else the tsc output. */
export const agentEntry = () => {
  const bundled = join(repoRoot(), "dist/bundle/agent/main.js");
  return existsSync(bundled) ? bundled : join(repoRoot(), "dist/agent/main.js");
};

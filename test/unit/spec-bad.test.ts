// The corpus of bad lab files in test/fixtures/bad: each file holds one mistake a user
// would really make, and starts with the errors it must produce, one line per error in the
// order the CLI prints them:
//
//   # expect: LINE:COL PATH: MESSAGE      (or  # expect: LINE:COL MESSAGE  without a path)
//
// LINE:COL count the file as written, comment lines included.
import t from "tap";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildCluster } from "../../src/model/cluster.js";
import { LabFileError, type SpecError } from "../../src/spec/errors.js";
import { loadLabFiles } from "../../src/spec/load.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const badDir = join(root, "test", "fixtures", "bad");
// Paths relative to the working directory, as a user would type them (tap runs from the root).
const rel = (f: string) => relative(process.cwd(), f);
const files = readdirSync(badDir)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => join(badDir, f));

/** The `# expect:` lines at the top of a fixture, without the prefix. */
function expectations(file: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^# expect: (.*)$/.exec(line);
    if (!m) break;
    out.push(m[1]);
  }
  return out;
}

const render = (e: SpecError) => `${e.line}:${e.col} ${e.path ? `${e.path}: ` : ""}${e.message}`;

/** Load and build like `klab validate`; the errors it throws, or null if the file is valid. */
function validate(file: string): SpecError[] | null {
  try {
    buildCluster(loadLabFiles([file]));
    return null;
  } catch (e) {
    if (e instanceof LabFileError) return e.errors;
    throw e;
  }
}

t.ok(files.length >= 24, `at least 24 bad lab files (found ${files.length})`);

const allErrors: SpecError[] = [];

for (const file of files) {
  const name = rel(file);
  t.test(name, async (t) => {
    const expected = expectations(file);
    t.ok(expected.length > 0, "the file starts with at least one `# expect:` line");
    const errors = validate(name);
    if (errors === null) {
      t.fail("expected a LabFileError, but the file validated");
      return;
    }
    t.same(errors.map(render), expected, "errors (position, path, message) match the # expect: lines");
    for (const e of errors) {
      t.equal(e.file, name, `error names the file: ${render(e)}`);
      t.ok(e.line >= 1 && e.col >= 1, `1-based position: ${render(e)}`);
    }
    allErrors.push(...errors);
  });
}

t.test("most errors say what to do (a hint)", async (t) => {
  const withHint = allErrors.filter((e) => typeof e.hint === "string" && e.hint.trim() !== "");
  const without = allErrors.filter((e) => !withHint.includes(e)).map((e) => `${rel(e.file)}:${render(e)}`);
  t.ok(allErrors.length > 0, "errors were collected");
  t.ok(
    withHint.length >= 0.8 * allErrors.length,
    `${withHint.length}/${allErrors.length} errors have a hint (need 80%); without: ${without.join(" | ")}`,
  );
});

// The CLI's rendering and exit status, on one file. Uses the built CLI (dist/), not src/.
const cliFixture = "test/fixtures/bad/24-unknown-kind.yaml";
const built = existsSync(join(root, "dist", "cli", "klab.js"));
t.test(
  "klab validate prints file:line:col: error: and exits 2",
  { skip: built ? false : "dist/ is not built (run `npm run build`); this test runs ./bin/klab" },
  async (t) => {
    const r = spawnSync(join(root, "bin", "klab"), ["validate", cliFixture], { cwd: root, encoding: "utf8", timeout: 30_000 });
    t.equal(r.error, undefined, "bin/klab ran");
    t.equal(r.status, 2, "exit status 2 (bad input)");
    t.equal(r.stdout, "", "nothing on stdout");
    const lines = r.stderr.split("\n");
    const [first] = expectations(join(root, cliFixture));
    const [pos, ...rest] = first.split(" ");
    t.equal(lines[0], `${cliFixture}:${pos}: error: ${rest.join(" ")}`, "file:line:col: error: path: message");
    t.match(lines[1], /^  hint: \S/, "followed by an indented hint line");
    t.match(r.stderr, /^1 error\(s\); nothing was changed$/m, "a summary line");
  },
);

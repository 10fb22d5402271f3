// Errors in lab files: every one names file:line:col, the field path, what was expected and
// what to do. The CLI prints them and exits 2 without touching the kernel.

export interface SpecError {
  file: string;
  line: number;
  col: number;
  /** Field path like `spec.nodes[1].name`, or "" for the document itself. */
  path: string;
  message: string;
  hint?: string;
}

export class LabFileError extends Error {
  constructor(public readonly errors: SpecError[]) {
    super(errors.map(formatSpecError).join("\n"));
    this.name = "LabFileError";
  }
}

export function formatSpecError(e: SpecError): string {
  const where = `${e.file}:${e.line}:${e.col}`;
  const field = e.path ? `${e.path}: ` : "";
  return `${where}: error: ${field}${e.message}` + (e.hint ? `\n  hint: ${e.hint}` : "");
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out ? `.${p}` : p;
  }
  return out;
}

/** Damerau-free Levenshtein distance, enough for did-you-mean. */
export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return JSON.stringify(v);
  return `${typeof v} ${String(v)}`;
}

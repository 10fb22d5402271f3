// Check reports: a table for people (✔/✖, what was observed, why it failed, matrices as truth
// tables), JSON for tools, JUnit XML for CI systems.
import type { CheckResult, MatrixResult } from "./runner.js";

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));

export function matrixTable(mx: MatrixResult): string[] {
  const short = (s: string) => s.split("/").pop()!;
  const cols = mx.to.map(short);
  const rowW = Math.max("from \\ to".length, ...mx.from.map((r) => short(r).length));
  const widths = cols.map((c) => Math.max(c.length, 1));
  const lines = [`${pad("from \\ to", rowW)}  ${cols.map((c, j) => pad(c, widths[j])).join("  ")}`];
  mx.from.forEach((r, i) => {
    lines.push(`${pad(short(r), rowW)}  ${mx.cells[i].map((ok, j) => pad(ok ? "✔" : "✖", widths[j])).join("  ")}`);
  });
  return lines;
}

export function tableReport(results: CheckResult[], lab: string): string {
  const nameW = Math.min(56, Math.max(5, ...results.map((r) => r.name.length)));
  const fromW = Math.min(32, Math.max(4, ...results.map((r) => (r.from ?? "").length)));
  const out = [`checks for lab ${lab}:`, `  ${pad("CHECK", nameW + 2)}  ${pad("FROM", fromW)}  ${pad("EXPECT", 7)}  RESULT`];
  for (const r of results) {
    const mark = r.passed ? "✔" : "✖";
    out.push(`  ${mark} ${pad(r.name, nameW)}  ${pad(r.from ?? "", fromW)}  ${pad(r.expect, 7)}  ${r.probe} → ${r.observed}`);
    if (r.reason) out.push(`      ${r.reason}${r.attempts > 1 ? ` (after ${r.attempts} attempts)` : ""}`);
    if (r.matrix) for (const l of matrixTable(r.matrix)) out.push(`      ${l}`);
  }
  const failed = results.filter((r) => !r.passed).length;
  out.push(`${results.length - failed} passed, ${failed} failed`);
  return out.join("\n") + "\n";
}

export function jsonReport(results: CheckResult[], lab: string): string {
  const failed = results.filter((r) => !r.passed).length;
  return JSON.stringify({ lab, passed: results.length - failed, failed, checks: results }, null, 2) + "\n";
}

const xml = (s: string) => s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!);

export function junitReport(results: CheckResult[], lab: string): string {
  const failed = results.filter((r) => !r.passed).length;
  const time = results.reduce((t, r) => t + r.durationMs, 0) / 1000;
  const cases = results.map((r) => {
    const attrs = `classname="klab.${xml(lab)}" name="${xml(r.name)}" time="${(r.durationMs / 1000).toFixed(3)}"`;
    const detail = `${r.probe} from ${r.from ?? "matrix"}: ${r.observed}`;
    return r.passed
      ? `    <testcase ${attrs}><system-out>${xml(detail)}</system-out></testcase>`
      : `    <testcase ${attrs}><failure message="${xml(r.reason ?? "failed")}">${xml(detail)}</failure></testcase>`;
  });
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="klab" tests="${results.length}" failures="${failed}" time="${time.toFixed(3)}">`,
    `  <testsuite name="${xml(lab)}" tests="${results.length}" failures="${failed}" time="${time.toFixed(3)}">`,
    ...cases,
    `  </testsuite>`,
    `</testsuites>`,
    "",
  ].join("\n");
}

// Parse lab files (multi-document YAML) and validate each document against its kind's schema,
// keeping source positions so every error points at file:line:col.
import { readFileSync } from "node:fs";
import { Document, LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, visit, type Node, type Scalar, type YAMLError } from "yaml";
import type { z } from "zod";
import { describeValue, didYouMean, formatPath, LabFileError, type SpecError } from "./errors.js";
import {
  DNS1123_LABEL,
  DNS1123_SUBDOMAIN,
  kindSchemas,
  type DeploymentObject,
  type KnownKind,
  type LabObject,
  type NamespaceObject,
  type PodObject,
  type ServiceObject,
  type EndpointsObject,
  type EndpointSliceObject,
} from "./schema.js";

export type Path = readonly (string | number)[];

/** Where one YAML document came from; answers "where is this field?". */
export class DocSource {
  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lineCounter: LineCounter,
  ) {}

  /** Position of the value at `path` (or of its key with `key: true`). When the field is
   * absent (a missing required field, a default), this is the key of the nearest existing
   * parent (`metadata:` for a missing metadata.name), or the parent itself when it is a list
   * item or the document: pointing at the parent's first child would blame a sibling. */
  pos(path: Path, opts: { key?: boolean } = {}): { file: string; line: number; col: number } {
    const { node, keyNode, found } = this.resolve(path);
    const target = ((opts.key || !found) && keyNode ? keyNode : node) as Node | undefined;
    const offset = target?.range?.[0] ?? 0;
    const { line, col } = this.lineCounter.linePos(offset);
    return { file: this.file, line, col };
  }

  /** Whether `path` is written in the document (false for a field left to its default). */
  has(path: Path): boolean {
    return this.resolve(path).found;
  }

  private resolve(path: Path): { node: unknown; keyNode: unknown; found: boolean } {
    let node: unknown = this.doc.contents;
    let keyNode: unknown = undefined;
    let found = true;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg);
        if (!pair) { found = false; break; }
        keyNode = pair.key;
        node = pair.value ?? pair.key;
      } else if (isSeq(node) && typeof seg === "number" && node.items[seg] !== undefined) {
        keyNode = undefined;
        node = node.items[seg];
      } else { found = false; break; }
    }
    return { node, keyNode, found };
  }

  /** Position of the key `key` inside the mapping at `path`. */
  keyPos(path: Path, key: string) {
    return this.pos([...path, key], { key: true });
  }

  error(path: Path, message: string, hint?: string, opts: { key?: boolean } = {}): SpecError {
    return { ...this.pos(path, opts), path: formatPath(path), message, hint };
  }
}

export interface Sourced<T> {
  value: T;
  src: DocSource;
}

export interface LoadedFiles {
  lab?: Sourced<LabObject>;
  namespaces: Sourced<NamespaceObject>[];
  pods: Sourced<PodObject>[];
  deployments: Sourced<DeploymentObject>[];
  services?: Sourced<ServiceObject>[];
  endpoints?: Sourced<EndpointsObject>[];
  endpointSlices?: Sourced<EndpointSliceObject>[];
  files: string[];
}

const SUPPORTED_KINDS = Object.keys(kindSchemas) as KnownKind[];

/** Read and schema-check lab files. Throws LabFileError with every problem found. */
export function loadLabFiles(files: string[], readFile: (f: string) => string = (f) => readFileSync(f, "utf8")): LoadedFiles {
  const out: LoadedFiles = { namespaces: [], pods: [], deployments: [], files };
  const errors: SpecError[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFile(file);
    } catch (e) {
      errors.push({
        file, line: 1, col: 1, path: "",
        message: `cannot read the file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        hint: "check the path",
      });
      continue;
    }
    loadText(file, text, out, errors);
  }
  if (errors.length) throw new LabFileError(errors);
  return out;
}

export function loadText(file: string, text: string, out: LoadedFiles, errors: SpecError[]): void {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    const src = new DocSource(file, doc as Document, lineCounter);
    const yamlErrors = (doc as Document).errors ?? [];
    if (yamlErrors.length) {
      // One report per position: the yaml library can raise several codes for one mistake.
      const seen = new Set<string>();
      for (const ye of yamlErrors) {
        const e = yamlSyntaxError(file, text, doc as Document, lineCounter, ye);
        if (seen.has(`${e.line}:${e.col}`)) continue;
        seen.add(`${e.line}:${e.col}`);
        errors.push(e);
      }
      continue;
    }
    if (doc.contents === null) continue; // empty document (e.g. a trailing ---)
    const value = doc.toJS() as unknown;
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      errors.push(src.error([], `expected a mapping with apiVersion and kind, got ${describeValue(value)}`));
      continue;
    }
    const kind = (value as { kind?: unknown }).kind;
    if (typeof kind !== "string") {
      errors.push(src.error([], "missing `kind`", `set kind to one of: ${SUPPORTED_KINDS.join(", ")}`));
      continue;
    }
    if (!(kind in kindSchemas)) {
      const near = didYouMean(kind, SUPPORTED_KINDS);
      errors.push(
        src.error(["kind"], `unsupported kind "${kind}"`,
          (near ? `did you mean "${near}"? ` : "") + `klab understands: ${SUPPORTED_KINDS.join(", ")}`),
      );
      continue;
    }
    const schema = kindSchemas[kind as KnownKind] as z.ZodType;
    const r = schema.safeParse(value);
    if (!r.success) {
      errors.push(...zodIssuesToErrors(r.error.issues, value, src));
      continue;
    }
    const sourced = { value: r.data, src } as Sourced<never>;
    switch (kind as KnownKind) {
      case "Lab":
        if (out.lab) {
          const first = out.lab.src.pos([]);
          errors.push(src.error(["kind"], "a second Lab object",
            `a lab has exactly one kind: Lab object; the first is at ${first.file}:${first.line}:${first.col}`));
        } else out.lab = sourced;
        break;
      case "Namespace": out.namespaces.push(sourced); break;
      case "Pod": out.pods.push(sourced); break;
      case "Deployment": out.deployments.push(sourced); break;
      case "Service": (out.services ??= []).push(sourced); break;
      case "Endpoints": (out.endpoints ??= []).push(sourced); break;
      case "EndpointSlice": (out.endpointSlices ??= []).push(sourced); break;
    }
  }
}

/** A YAML parse error, pointed at the first character that matters and explained in terms
 * of what the user most likely did (mis-indented a line, repeated a key, used a tab). */
function yamlSyntaxError(file: string, text: string, doc: Document, lineCounter: LineCounter, ye: YAMLError): SpecError {
  let offset = ye.pos[0];
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  const indentOf = (start: number) => /^[ \t]*/.exec(text.slice(start))![0].length;
  // The yaml library often reports indentation problems at column 1 of the line; point at the
  // line's first character instead, where the (mis)indentation is visible.
  if (ye.code !== "TAB_AS_INDENT" && /^[ \t]*$/.test(text.slice(lineStart, offset))) {
    offset = lineStart + indentOf(lineStart);
  }
  const { line, col } = lineCounter.linePos(offset);
  const base = { file, line, col, path: "" };
  const libMessage = ye.message.split("\n")[0];

  if (ye.code === "DUPLICATE_KEY") {
    let key: string | undefined;
    let first: number | undefined;
    visit(doc, {
      Map(_, map) {
        const dup = map.items.find((p) => isScalar(p.key) && p.key.range?.[0] === ye.pos[0]);
        if (!dup || !isScalar(dup.key)) return;
        key = String(dup.key.value);
        const orig = map.items.find((p) => isScalar(p.key) && p.key.value === (dup.key as Scalar).value);
        first = (orig?.key as Scalar | undefined)?.range?.[0];
        return visit.BREAK;
      },
    });
    const firstAt = first !== undefined && first !== ye.pos[0] ? lineCounter.linePos(first) : undefined;
    return {
      ...base,
      message: key !== undefined ? `YAML syntax: duplicate key "${key}"` : `YAML syntax: ${libMessage}`,
      hint: (firstAt ? `"${key}" is already set at line ${firstAt.line}; ` : "") + "remove one of them (YAML keeps only one value per key)",
    };
  }
  if (ye.code === "TAB_AS_INDENT") {
    return { ...base, message: `YAML syntax: ${libMessage}`, hint: "indent with spaces; YAML does not allow tabs for indentation" };
  }
  if (/quote/.test(libMessage)) {
    return { ...base, message: `YAML syntax: ${libMessage}`, hint: "a quoted string above is not closed: add the missing \" or '" };
  }
  if (/^Flow (sequence|mapping)|Missing , /.test(libMessage)) {
    return {
      ...base,
      message: `YAML syntax: ${libMessage}`,
      hint: "check the [ ... ] or { ... } list above: items separated by commas, closed, and continuation lines indented further than the key",
    };
  }
  if (ye.code === "BLOCK_AS_IMPLICIT_KEY" || ye.code === "MULTILINE_IMPLICIT_KEY") {
    return {
      ...base,
      message: `YAML syntax: ${libMessage}`,
      hint: "the line below is indented further than this key, so YAML reads it as part of this value; start sibling keys in the same column",
    };
  }
  if (ye.code === "BAD_INDENT" || /without - indicator/.test(libMessage)) {
    // Compare with the nearest non-blank, non-comment line above: the usual mistake is one
    // line indented a space more or less than its siblings.
    let prev = lineStart - 1;
    let prevIndent: number | undefined;
    while (prev > 0) {
      const start = text.lastIndexOf("\n", prev - 1) + 1;
      const content = text.slice(start, prev);
      if (content.trim() !== "" && !content.trim().startsWith("#")) {
        prevIndent = content.startsWith("- ", indentOf(start)) ? indentOf(start) + 2 : indentOf(start);
        break;
      }
      prev = start - 1;
    }
    const here = indentOf(lineStart);
    const atIndent = offset === lineStart + here;
    const detail = atIndent && prevIndent !== undefined && prevIndent !== here
      ? `this line is indented ${here} space${here === 1 ? "" : "s"}, the line above ${prevIndent}; `
      : "";
    return {
      ...base,
      message: `YAML syntax: ${libMessage}`,
      hint: `${detail}keys of one mapping must start in the same column, and a nested value must be indented further than its key`,
    };
  }
  return { ...base, message: `YAML syntax: ${libMessage}`, hint: "check indentation and quoting around this point" };
}

function valueAt(root: unknown, path: Path): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[seg as string];
  }
  return v;
}

/** The keys a strict object at `path` accepts, read from the zod schema. */
function knownKeysAt(schema: z.ZodType, path: Path): string[] {
  let s: any = schema;
  const unwrap = (x: any): any => {
    for (let i = 0; i < 10 && x; i++) {
      const def = x._zod?.def;
      if (!def) return x;
      if (def.type === "optional" || def.type === "default" || def.type === "prefault" || def.type === "nullable") x = def.innerType;
      else if (def.type === "pipe") x = def.in;
      else return x;
    }
    return x;
  };
  for (const seg of path) {
    s = unwrap(s);
    const def = s?._zod?.def;
    if (!def) return [];
    if (def.type === "object") s = def.shape[seg as string];
    else if (def.type === "array") s = def.element;
    else if (def.type === "union") {
      s = def.options.map(unwrap).find((o: any) => o?._zod?.def?.type === (typeof seg === "number" ? "array" : "object"));
      s = s ? (typeof seg === "number" ? s._zod.def.element : s._zod.def.shape[seg as string]) : undefined;
    } else return [];
  }
  s = unwrap(s);
  const def = s?._zod?.def;
  if (def?.type === "object") return Object.keys(def.shape);
  if (def?.type === "union") {
    const obj = def.options.map(unwrap).find((o: any) => o?._zod?.def?.type === "object");
    return obj ? Object.keys(obj._zod.def.shape) : [];
  }
  return [];
}

const EXPECTED_WORDS: Record<string, string> = {
  array: "a list",
  object: "a mapping",
  record: "a mapping",
  map: "a mapping",
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
};
const expectedWords = (t: string) => EXPECTED_WORDS[t] ?? t;

/** Examples for required fields users leave out, shown in the "missing" hint. */
const MISSING_EXAMPLES: Record<string, string> = {
  image: "image: registry.k8s.io/e2e-test-images/agnhost:2.47",
  nodes: "nodes: 2",
  containers: "containers: [{name: web, image: registry.k8s.io/e2e-test-images/agnhost:2.47}]",
};

const DURATION_WORDS = /^(\d+(?:\.\d+)?)\s*(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?)$/i;

/** The DNS-1123 name closest to `v`, to suggest in a hint ("Web_1" → "web-1"). */
function dnsSuggestion(v: string, subdomain: boolean, max: number): string | undefined {
  let s = v.toLowerCase().replace(subdomain ? /[^a-z0-9.-]+/g : /[^a-z0-9-]+/g, "-");
  if (subdomain) s = s.replace(/\.{2,}/g, ".").replace(/-*\.-*/g, ".");
  s = s.slice(0, max).replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  const ok = (subdomain ? DNS1123_SUBDOMAIN : DNS1123_LABEL).test(s);
  return ok && s !== v ? s : undefined;
}

/** A hint for a string that failed one of the schema's patterns, keyed by the pattern. */
function patternHint(pattern: string | undefined, got: unknown): string | undefined {
  const v = typeof got === "string" ? got : undefined;
  if (pattern === String(DNS1123_LABEL) || pattern === String(DNS1123_SUBDOMAIN)) {
    const near = v !== undefined ? dnsSuggestion(v, pattern === String(DNS1123_SUBDOMAIN), 63) : undefined;
    return near ? `e.g. "${near}"` : "use lowercase letters, digits and '-' (no '_', no capitals)";
  }
  if (pattern?.includes("(ms|s|m)")) {
    const m = v !== undefined ? DURATION_WORDS.exec(v.trim()) : null;
    const unit = m ? (/^ms|^msec|^milli/i.test(m[2]) ? "ms" : /^m/i.test(m[2]) ? "m" : "s") : undefined;
    return m ? `write "${m[1]}${unit}" (a number and ms, s or m, no space)` : 'write a number and a unit, ms, s or m, with no space, e.g. "2s" or "500ms"';
  }
  if (pattern?.includes("\\/")) return "four numbers 0-255 separated by dots, a slash and a prefix length 0-32";
  if (pattern?.includes("\\d{1,3}")) return "four numbers 0-255 separated by dots";
  return undefined;
}

function zodIssuesToErrors(issues: readonly z.core.$ZodIssue[], root: unknown, src: DocSource): SpecError[] {
  const kind = (root as { kind: KnownKind }).kind;
  const schema = kindSchemas[kind] as z.ZodType;
  const out: SpecError[] = [];
  // A misspelled required key (`contianers:`) is one mistake: report the unknown field with its
  // did-you-mean, not also "containers is missing".
  const typoTargets = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== "unrecognized_keys") continue;
    const known = knownKeysAt(schema, issue.path as Path);
    for (const key of issue.keys) {
      const near = didYouMean(key, known);
      if (near) typoTargets.add(formatPath([...(issue.path as Path), near]));
    }
  }
  for (const issue of issues) {
    const path = issue.path as (string | number)[];
    const got = valueAt(root, path);
    const field = formatPath(path);
    // Schema messages often start with the field's own name ("metadata.name must be ...");
    // the path already says it.
    const tidy = (m: string) => {
      const first = /^[\w.[\]]+/.exec(m)?.[0];
      return first && first.includes(".") && field.endsWith(first) && m.startsWith(`${first} `) ? m.slice(first.length + 1) : m;
    };
    const gotText = typeof got === "string" && (issue.code === "too_big" || issue.code === "too_small") && issue.origin === "string"
      ? `${describeValue(got)} (${got.length} characters)`
      : Array.isArray(got) ? `${got.length} ${got.length === 1 ? "entry" : "entries"}` : describeValue(got);
    switch (issue.code) {
      case "unrecognized_keys": {
        const known = knownKeysAt(schema, path);
        for (const key of issue.keys) {
          const near = didYouMean(key, known);
          out.push(src.error([...path, key], `unknown field "${key}"`,
            (near ? `did you mean "${near}"? ` : "") + (known.length ? `fields here: ${known.join(", ")}` : "remove it"),
            { key: true }));
        }
        break;
      }
      case "invalid_type": {
        if (got === undefined) {
          if (typoTargets.has(field)) break;
          const key = String(path[path.length - 1]);
          const parent = formatPath(path.slice(0, -1));
          const example = MISSING_EXAMPLES[key];
          out.push(src.error(path, `missing required field (expected ${expectedWords(issue.expected)})`,
            `add \`${key}\` to ${parent || "the document"}` + (example ? `, e.g. ${example}` : "")));
        } else {
          out.push(src.error(path, `expected ${expectedWords(issue.expected)}, got ${describeValue(got)}`,
            typeof got === "string" && issue.expected === "number" && got.trim() !== "" && !Number.isNaN(Number(got))
              ? `remove the quotes: "${got}" is a string in YAML` : undefined));
        }
        break;
      }
      case "invalid_value": {
        const values = issue.values.map((v) => JSON.stringify(v));
        if (issue.message && !issue.message.startsWith("Invalid")) {
          out.push(src.error(path, `${tidy(issue.message)}, got ${describeValue(got)}`,
            issue.values.length === 1 ? `write ${String(path[path.length - 1])}: ${String(issue.values[0])}` : undefined));
          break;
        }
        const near = typeof got === "string" ? didYouMean(got, issue.values.map(String)) : undefined;
        out.push(src.error(path, `expected one of ${values.join(", ")}, got ${describeValue(got)}`,
          near ? `did you mean "${near}"?` : undefined));
        break;
      }
      case "invalid_union": {
        const msg = issue.message && issue.message !== "Invalid input" ? issue.message : `unexpected ${describeValue(got)}`;
        // A union's branches often fail deep inside; report the deepest one whose shape matched.
        const deep = issue.errors.flat().filter((e) => e.path.length > 0 && e.code !== "invalid_type");
        if (deep.length && Array.isArray(got) === deep.some((d) => typeof d.path[0] === "number")) {
          out.push(...zodIssuesToErrors(deep.map((d) => ({ ...d, path: [...path, ...d.path] })), root, src));
        } else {
          out.push(src.error(path, `${msg}, got ${describeValue(got)}`));
        }
        break;
      }
      case "too_small":
      case "too_big": {
        const custom = issue.message && !/^(Too small|Too big)/.test(issue.message);
        const bound = issue.code === "too_small" ? `at least ${issue.minimum}` : `at most ${issue.maximum}`;
        const unit = issue.origin === "array" ? " entries" : issue.origin === "string" ? " characters" : "";
        let hint: string | undefined;
        if (issue.code === "too_big") {
          if (issue.origin === "string") hint = `shorten it to at most ${issue.maximum} characters`;
          else if (issue.origin === "array") hint = `remove entries (at most ${issue.maximum})`;
        } else if (issue.origin === "string") hint = "it must not be empty";
        else if (issue.origin === "array") hint = `add at least ${issue.minimum} ${Number(issue.minimum) === 1 ? "entry" : "entries"}`;
        out.push(src.error(path, custom ? `${tidy(issue.message)}, got ${gotText}` : `expected ${bound}${unit}, got ${gotText}`, hint));
        break;
      }
      case "invalid_format": {
        out.push(src.error(path, `${tidy(issue.message)}, got ${describeValue(got)}`,
          issue.format === "regex" ? patternHint((issue as { pattern?: string }).pattern, got) : undefined));
        break;
      }
      default:
        out.push(src.error(path, `${tidy(issue.message)}${got !== undefined ? `, got ${describeValue(got)}` : ""}`));
    }
  }
  return out;
}

// Parse lab files (multi-document YAML) and validate each document against its kind's schema,
// keeping source positions so every error points at file:line:col.
import { readFileSync } from "node:fs";
import { Document, LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Node } from "yaml";
import type { z } from "zod";
import { describeValue, didYouMean, formatPath, LabFileError, type SpecError } from "./errors.js";
import {
  kindSchemas,
  type DeploymentObject,
  type KnownKind,
  type LabObject,
  type NamespaceObject,
  type PodObject,
} from "./schema.js";

export type Path = readonly (string | number)[];

/** Where one YAML document came from; answers "where is this field?". */
export class DocSource {
  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lineCounter: LineCounter,
  ) {}

  /** Position of the value at `path` (or of its key with `key: true`), falling back to the
   * nearest existing parent when the field is absent. */
  pos(path: Path, opts: { key?: boolean } = {}): { file: string; line: number; col: number } {
    let node: unknown = this.doc.contents;
    let keyNode: unknown = undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg);
        if (!pair) break;
        keyNode = pair.key;
        node = pair.value ?? pair.key;
      } else if (isSeq(node) && typeof seg === "number" && node.items[seg] !== undefined) {
        keyNode = undefined;
        node = node.items[seg];
      } else break;
    }
    const target = (opts.key && keyNode ? keyNode : node) as Node | undefined;
    const offset = target?.range?.[0] ?? 0;
    const { line, col } = this.lineCounter.linePos(offset);
    return { file: this.file, line, col };
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
      for (const ye of yamlErrors) {
        const { line, col } = lineCounter.linePos(ye.pos[0]);
        errors.push({
          file, line, col, path: "",
          message: `YAML syntax: ${ye.message.split("\n")[0]}`,
          hint: ye.code === "DUPLICATE_KEY" ? "remove one of the duplicated keys" : "check indentation and quoting around this point",
        });
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
    }
  }
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

function zodIssuesToErrors(issues: readonly z.core.$ZodIssue[], root: unknown, src: DocSource): SpecError[] {
  const kind = (root as { kind: KnownKind }).kind;
  const schema = kindSchemas[kind] as z.ZodType;
  const out: SpecError[] = [];
  for (const issue of issues) {
    const path = issue.path as (string | number)[];
    const got = valueAt(root, path);
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
          out.push(src.error(path, `missing required field (expected ${issue.expected})`,
            `add \`${path[path.length - 1]}\` here`));
        } else {
          out.push(src.error(path, `expected ${issue.expected}, got ${describeValue(got)}`));
        }
        break;
      }
      case "invalid_value": {
        const values = issue.values.map((v) => JSON.stringify(v));
        if (issue.message && !issue.message.startsWith("Invalid")) {
          out.push(src.error(path, issue.message));
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
        out.push(src.error(path, custom ? issue.message : `expected ${bound}${unit}, got ${describeValue(got)}`));
        break;
      }
      default:
        out.push(src.error(path, `${issue.message}${got !== undefined ? `, got ${describeValue(got)}` : ""}`));
    }
  }
  return out;
}

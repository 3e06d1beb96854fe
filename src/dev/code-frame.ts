/**
 * Code frames: a few numbered source lines around a position, with a marker
 * on the line and a caret under the column.
 * @module
 */
import { readFileSync, statSync } from "node:fs";

/** A position in a source file; `line` and `column` are 1-based. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** One line of a {@link CodeFrame}. */
export interface CodeFrameLine {
  /** 1-based line number. */
  number: number;
  text: string;
  /** The line the location points at. */
  highlight: boolean;
}

/** Source lines around a location. */
export interface CodeFrame {
  location: SourceLocation;
  lines: CodeFrameLine[];
}

const MAX_LINE = 240;
/** Larger files are not read for a frame (bytes). */
const MAX_SOURCE_BYTES = 8 * 1024 * 1024;

/**
 * Read `context` lines either side of `loc` from its file (or from `source`
 * when given). Long lines are cut at 240 characters.
 *
 * @returns the frame, or `undefined` when the file cannot be read, is not a
 *   regular file (a FIFO or a device would block or never end) or is over
 *   8 MiB, or the line does not exist.
 */
export function codeFrame(loc: SourceLocation, context = 2, source?: string): CodeFrame | undefined {
  let text = source;
  if (text === undefined) {
    try {
      const st = statSync(loc.file);
      if (!st.isFile() || st.size > MAX_SOURCE_BYTES) return undefined;
      text = readFileSync(loc.file, "utf8");
    } catch {
      return undefined;
    }
  }
  const all = text.split(/\r?\n/);
  if (loc.line < 1 || loc.line > all.length) return undefined;
  const first = Math.max(1, loc.line - context);
  const last = Math.min(all.length, loc.line + context);
  const lines: CodeFrameLine[] = [];
  for (let n = first; n <= last; n++) {
    const t = all[n - 1]!;
    lines.push({ number: n, text: t.length > MAX_LINE ? t.slice(0, MAX_LINE) + "…" : t, highlight: n === loc.line });
  }
  return { location: loc, lines };
}

/**
 * Render a frame as plain text:
 * ```
 *   4 | const a = 1;
 * > 5 | const b = 2 +;
 *     |              ^
 * ```
 * Tabs are expanded to two spaces so the caret lines up.
 */
export function renderCodeFrame(frame: CodeFrame): string {
  const width = String(frame.lines[frame.lines.length - 1]!.number).length;
  const out: string[] = [];
  for (const l of frame.lines) {
    const text = l.text.replace(/\t/g, "  ");
    out.push(`${l.highlight ? ">" : " "} ${String(l.number).padStart(width)} | ${text}`.trimEnd());
    if (l.highlight) {
      const before = l.text.slice(0, Math.max(0, frame.location.column - 1)).replace(/\t/g, "  ");
      out.push(`  ${" ".repeat(width)} | ${" ".repeat(before.length)}^`);
    }
  }
  return out.join("\n");
}

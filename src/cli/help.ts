/**
 * `--help` text for the citty commands (`tsgi`, `tsgi serve`, `tsgi-dev`),
 * passed to citty's `runMain` as its `showUsage`. citty's own renderer
 * right-aligns flags into a table padded with trailing spaces, prints
 * `(Default: true)` for a switch whose description names other defaults,
 * leaves out `--help`/`--version`, and writes colour codes into pipes and
 * files. This one writes plain text unless stdout is a terminal (and
 * `NO_COLOR` is unset), wraps descriptions to the terminal's width (80
 * columns when not a terminal), and lists every flag the command accepts.
 * @module
 */
import type { FlagDef } from "./args.ts";

/** One argument definition as the help reads it (citty's `ArgDef`). */
export interface HelpArgDef extends FlagDef {
  description?: string;
  /** citty's default; shown for string and enum flags, and as "(on by default)" for a switch defaulting to true. */
  default?: unknown;
  /** Description of `--no-<name>`; a switch without one is not listed negated. */
  negativeDescription?: string;
}

/** The parts of a citty command the help reads. */
export interface HelpCommand {
  meta?: unknown;
  args?: unknown;
  subCommands?: unknown;
}

interface Meta {
  name?: string;
  version?: string;
  description?: string;
}

/** Options for {@link renderHelp}. */
export interface HelpOptions {
  /**
   * Values a switch also takes as `--name=value` (`{ reload: ["inplace",
   * "restart"] }`), shown as `--reload[=inplace|restart]`. Default none.
   */
  optionalValues?: Record<string, readonly string[]>;
  /** Use ANSI colours. Default: stdout is a terminal and `NO_COLOR` is unset. */
  color?: boolean;
  /** Wrap at this many columns. Default: the terminal's width (at most 100), else 80. */
  width?: number;
  /**
   * Example command lines per command, by its full name (`"tsgi serve"`,
   * `"tsgi-dev"`): each `[command line, what it does]`, shown after the
   * options under `Examples:`. Default none.
   */
  examples?: Record<string, ReadonlyArray<readonly [string, string]>>;
}

/**
 * The help text for `cmd`, run as a subcommand of `parent` when given
 * (`tsgi serve`). Sections: the name, version and description; `Usage:`;
 * `Commands:` or `Arguments:`; `Options:`, ending with `-h, --help` and
 * `-v, --version` (when a version is known); `Examples:` when
 * `options.examples` has some for the command. No line ends in spaces.
 */
export function renderHelp(cmd: HelpCommand, parent?: HelpCommand, options: HelpOptions = {}): string {
  const color = options.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const width = options.width ?? (process.stdout.isTTY && process.stdout.columns ? Math.min(process.stdout.columns, 100) : 80);
  // SGR codes written directly: consola's `colors` decide on colour once, for the whole process.
  const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[22m` : s);
  const flag = (s: string) => (color ? `\x1b[36m${s}\x1b[39m` : s);
  const dim = (s: string) => (color ? `\x1b[90m${s}\x1b[39m` : s);

  const meta = (cmd.meta ?? {}) as Meta;
  const parentMeta = (parent?.meta ?? {}) as Meta;
  const name = parent ? `${parentMeta.name ?? ""} ${meta.name ?? ""}`.trim() : (meta.name ?? "");
  const version = meta.version ?? parentMeta.version;
  const defs = Object.entries((cmd.args ?? {}) as Record<string, HelpArgDef>);
  const positionals = defs.filter(([, d]) => d.type === "positional");
  const subCommands = Object.entries((cmd.subCommands ?? {}) as Record<string, HelpCommand>);

  const out: string[] = [];
  out.push(bold(`${name}${version ? ` ${version}` : ""}`));
  if (meta.description) out.push(...wrap(meta.description, width, 0));
  out.push("");
  const usage = [name, subCommands.length > 0 ? "<command>" : "", ...positionals.map(([n, d]) => (d.required ? `<${n}>` : `[${n}]`)), "[options]"];
  out.push(`${bold("Usage:")} ${usage.filter(Boolean).join(" ")}`);

  const rows: Array<[string, string]> = [];
  const section = (title: string, entries: Array<[string, string]>) => {
    if (entries.length === 0) return;
    out.push("", bold(title));
    // Descriptions start at one column, narrower on a narrow terminal; a wider flag gets its own line.
    const column = Math.min(Math.max(...entries.map(([left]) => left.length)) + 4, 34, Math.max(width - 30, 12));
    for (const [left, text] of entries) {
      const lines = wrap(text, width, column);
      if (2 + left.length + 2 > column) {
        out.push(`  ${flag(left)}`);
        out.push(...lines.map((l) => " ".repeat(column) + l));
      } else {
        const [first = "", ...rest] = lines;
        out.push(`  ${flag(left)}${" ".repeat(column - 2 - left.length)}${first}`.trimEnd());
        out.push(...rest.map((l) => " ".repeat(column) + l));
      }
    }
  };

  section(
    "Commands:",
    subCommands.map(([n, c]) => [n, ((c.meta ?? {}) as Meta).description ?? ""]),
  );
  section(
    "Arguments:",
    positionals.map(([n, d]) => [`<${n}>`, `${d.description ?? ""}${d.required ? "" : " (optional)"}`]),
  );
  for (const [n, d] of defs) {
    if (d.type === "positional") continue;
    const text = d.description ?? "";
    if (d.type === "boolean") {
      const values = options.optionalValues?.[n];
      const on = d.default === true && d.negativeDescription !== undefined && !/default/i.test(text);
      rows.push([`--${n}${values ? `[=${values.join("|")}]` : ""}`, `${text}${on ? " (on by default)" : ""}`]);
      if (d.negativeDescription !== undefined) rows.push([`--no-${n}`, d.negativeDescription]);
      continue;
    }
    const hint = d.valueHint ?? n.slice(n.lastIndexOf("-") + 1);
    const choices = d.type === "enum" && d.options ? `: ${d.options.join(", ")}` : "";
    const fallback = typeof d.default === "string" && d.default !== "" && !/default/i.test(text) ? ` (default: ${d.default})` : "";
    rows.push([`--${n} <${hint}>`, `${text}${choices}${fallback}`]);
  }
  rows.push(["-h, --help", "Show this help and exit"]);
  if (version) rows.push(["-v, --version", "Print the version and exit"]);
  section("Options:", rows);
  const examples = options.examples?.[name] ?? [];
  if (examples.length > 0) {
    out.push("", bold("Examples:"));
    for (const [line, text] of examples) out.push(`  ${flag(line)}`, ...wrap(text, width, 4).map((l) => dim(`    ${l}`)));
  }
  if (subCommands.length > 0) out.push("", dim(`Run ${name} <command> --help for a command's options.`));
  return out.join("\n");
}

/**
 * A `showUsage` for citty's `runMain`: prints {@link renderHelp} to stdout.
 * @param options as for {@link renderHelp}; `optionalValues` may hold the
 *   switches of every subcommand.
 */
export function helpPrinter(options: HelpOptions = {}): (cmd: HelpCommand, parent?: HelpCommand) => Promise<void> {
  return async (cmd, parent) => {
    process.stdout.write(`${renderHelp(cmd, parent, options)}\n`);
  };
}

/** `text` in lines of at most `width - indent` columns (a longer word stands alone), at least one line. */
function wrap(text: string, width: number, indent: number): string[] {
  const room = Math.max(width - indent, 20);
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line === "") line = word;
    else if (line.length + 1 + word.length <= room) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  lines.push(line);
  return lines;
}

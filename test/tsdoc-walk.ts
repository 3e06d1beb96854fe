/**
 * The walk behind test/tsdoc.test.ts (the sources) and test/typecheck.test.ts
 * (the shipped declarations): through the TypeScript compiler API, every
 * export of the given entry modules (re-exports followed to their
 * declarations), the public and protected members of each exported class and
 * interface, and the types the API takes (an options parameter's type, a
 * nested options object such as `tls`), with what has no TSDoc comment,
 * which optional property of an options type says no default, and which
 * `{@link}` resolves to nothing.
 */
import ts from "typescript";

/** An options type: its optional properties are settings that take a default when left out. */
const isOptionsTypeName = (name: string) => /(Options|Limits)$/.test(name);
/** Parameters whose type is an options type whatever its name. */
const OPTIONS_PARAMETER = /^(options|opts|limits|config)$/;
/** How a TSDoc states a default (the project writes "Default X." in the text; `@defaultValue` is TSDoc's tag). */
const STATES_DEFAULT = /\bdefault/i;

export interface Walked {
  /** `where`: what has no TSDoc comment. */
  undocumented: string[];
  /** Optional properties of options types whose TSDoc gives no default. */
  noDefault: string[];
  /** `{@link X}` in a walked comment whose `X` names nothing in scope: the hover shows it as plain text, linking nowhere. */
  brokenLinks: string[];
  /** Where → TSDoc text (with tags), for everything walked. */
  docs: Map<string, string>;
  /** `Type.property` → its TSDoc text (with tags), for options types' properties. */
  optionDocs: Map<string, string>;
  /**
   * `Type <- where`: a type of this package that an exported declaration's
   * public side names (a member's or parameter's type, a result, an
   * `implements`) but no entry point exports, so a user cannot import it
   * to name it. Members tagged `@internal` (left out of the shipped
   * declarations, `stripInternal`) do not count.
   */
  unnameable: string[];
  /** How many declarations were checked. */
  checked: number;
}

/** Walk the public API reachable from `files` (entry modules) in `program`, inside `within` (a directory prefix). */
export function walk(program: ts.Program, files: Array<{ name: string; file: string }>, within: string): Walked {
  const checker = program.getTypeChecker();
  const out: Walked = { undocumented: [], noDefault: [], brokenLinks: [], unnameable: [], docs: new Map(), optionDocs: new Map(), checked: 0 };
  const resolve = (s: ts.Symbol) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const ours = (d: ts.Node) => d.getSourceFile().fileName.startsWith(within);
  const docOf = (s: ts.Symbol) => ts.displayPartsToString(s.getDocumentationComment(checker)).trim();
  const tagsOf = (s: ts.Symbol) => s.getJsDocTags(checker).map((t) => `@${t.name} ${ts.displayPartsToString(t.text)}`).join("\n");
  const seen = new Set<ts.Symbol>();
  const options = new Set<ts.Symbol>();
  const queue: Array<{ symbol: ts.Symbol; via: string; options?: boolean }> = [];

  /** Queue the declarations of this package that `node` (a type) names. */
  const reach = (node: ts.Node | undefined, via: string, asOptions = false) => {
    if (!node) return;
    const visit = (n: ts.Node, options: boolean) => {
      const name = ts.isTypeReferenceNode(n) ? n.typeName : ts.isExpressionWithTypeArguments(n) ? n.expression : undefined;
      const s = name && checker.getSymbolAtLocation(name);
      if (s) {
        const r = resolve(s);
        if (!(r.flags & ts.SymbolFlags.TypeParameter) && r.declarations?.some(ours)) queue.push({ symbol: r, via, options });
      }
      // A callback's parameters and result are no nested options object (environClass's Environ, logFormat's fields).
      const inner = options && !ts.isFunctionTypeNode(n) && !ts.isConstructorTypeNode(n);
      ts.forEachChild(n, (c) => visit(c, inner));
    };
    visit(node, asOptions);
  };
  const reachParameters = (params: ts.NodeArray<ts.ParameterDeclaration>, via: string) => {
    for (const p of params) reach(p.type, `a parameter of ${via}`, ts.isIdentifier(p.name) && OPTIONS_PARAMETER.test(p.name.text));
  };
  /** What the entry points export (resolved): the types a user can import to name. */
  const exported = new Set<ts.Symbol>();
  const isInternal = (n: ts.Node) => ts.getJSDocTags(n).some((t) => t.tagName.text === "internal");
  /** Record the types of this package that `node` (a type, a signature, a heritage clause) names and no entry point exports. */
  const checkNameable = (node: ts.Node | undefined, where: string) => {
    if (!node) return;
    const visit = (n: ts.Node) => {
      const name = ts.isTypeReferenceNode(n) ? n.typeName : ts.isExpressionWithTypeArguments(n) ? n.expression : undefined;
      const s = name && checker.getSymbolAtLocation(name);
      if (s) {
        const r = resolve(s);
        if (!(r.flags & ts.SymbolFlags.TypeParameter) && r.declarations?.some(ours) && !exported.has(r)) out.unnameable.push(`${r.name} <- ${where}`);
      }
      ts.forEachChild(n, visit);
    };
    visit(node);
  };
  /** {@link checkNameable} over a signature's parameter types and result. */
  const checkSignature = (d: ts.SignatureDeclaration, where: string) => {
    for (const p of d.parameters) checkNameable(p.type, where);
    checkNameable(d.type, where);
  };
  /** {@link checkNameable} over the public side of an exported declaration `d` named `name`. */
  const checkDeclarationNameable = (d: ts.Node, name: string) => {
    if (ts.isFunctionDeclaration(d)) return checkSignature(d, `${name}()`);
    if (ts.isVariableDeclaration(d)) return checkNameable(d.type, name);
    if (ts.isTypeAliasDeclaration(d)) return checkNameable(d.type, name);
    if (!ts.isClassDeclaration(d) && !ts.isInterfaceDeclaration(d)) return;
    for (const h of d.heritageClauses ?? []) checkNameable(h, `${name}'s heritage`);
    for (const m of d.members as ts.NodeArray<ts.ClassElement | ts.TypeElement>) {
      if (hidden(m) || isInternal(m) || ts.isClassStaticBlockDeclaration(m)) continue;
      const where = `${name}.${m.name?.getText() ?? "()"}`;
      if (ts.isConstructorDeclaration(m)) checkSignature(m, `new ${name}()`);
      else if (ts.isFunctionLike(m)) checkSignature(m, where);
      // A property: its type, or an arrow function's signature (`readonly logError = (context: string, ...): void => ...`).
      else if (ts.isPropertyDeclaration(m) && !m.type && m.initializer && ts.isArrowFunction(m.initializer)) checkSignature(m.initializer, where);
      else if (ts.isPropertyDeclaration(m) || ts.isPropertySignature(m)) checkNameable(m.type, where);
    }
  };
  const linked = new Set<ts.Node>();
  /** Record the `{@link}`s in the comments of `node` whose target does not resolve. */
  const checkLinks = (node: ts.Node, where: string) => {
    for (const doc of ts.getJSDocCommentsAndTags(node)) {
      const visit = (n: ts.Node): void => {
        if ((ts.isJSDocLink(n) || ts.isJSDocLinkCode(n) || ts.isJSDocLinkPlain(n)) && n.name && !linked.has(n)) {
          linked.add(n);
          if (!checker.getSymbolAtLocation(n.name)) out.brokenLinks.push(`${where}: {@link ${n.name.getText()}}`);
        }
        ts.forEachChild(n, visit);
      };
      visit(doc);
      // getJSDocCommentsAndTags gives a tag's comment as a NodeArray that forEachChild does not always reach.
      if (ts.isJSDoc(doc)) for (const tag of doc.tags ?? []) if (typeof tag.comment === "object") tag.comment.forEach(visit);
      if (ts.isJSDoc(doc) && typeof doc.comment === "object") doc.comment.forEach(visit);
    }
  };
  const hidden = (m: ts.Node) =>
    (ts.canHaveModifiers(m) && (ts.getModifiers(m) ?? []).some((x) => x.kind === ts.SyntaxKind.PrivateKeyword)) ||
    ((m as ts.NamedDeclaration).name !== undefined && ts.isPrivateIdentifier((m as ts.NamedDeclaration).name!));

  /** The members of an interface, class or object type literal. */
  const checkMembers = (owner: string, members: ts.NodeArray<ts.ClassElement | ts.TypeElement>, isOptions: boolean) => {
    for (const m of members) {
      if (ts.isConstructorDeclaration(m)) {
        reachParameters(m.parameters, `new ${owner}()`);
        checkLinks(m, `new ${owner}()`);
        // A parameter property (`constructor(readonly server: HandlerServer)`) is a member: the declarations
        // emit it as a property with the comment written before the parameter; an `@param` tag is lost there.
        for (const p of m.parameters) {
          if (!ts.isParameterPropertyDeclaration(p, m) || hidden(p)) continue;
          out.checked++;
          const text = p.getSourceFile().text;
          const comments = ts.getLeadingCommentRanges(text, p.getFullStart()) ?? [];
          if (!comments.some((c) => text.startsWith("/**", c.pos))) out.undocumented.push(`${owner}.${p.name.getText()} (a parameter property: document it with a comment before the parameter)`);
        }
        continue;
      }
      // Index and call signatures, `;` and static blocks have no name to hover.
      if (!m.name || hidden(m) || ts.isIndexSignatureDeclaration(m) || ts.isClassStaticBlockDeclaration(m)) continue;
      const symbol = (m as unknown as { symbol?: ts.Symbol }).symbol;
      const where = `${owner}.${m.name.getText()}`;
      out.checked++;
      checkLinks(m, where);
      if (symbol) out.docs.set(where, `${docOf(symbol)}\n${tagsOf(symbol)}`);
      if (!symbol || !docOf(symbol)) out.undocumented.push(`${where} (member)`);
      if (ts.isMethodDeclaration(m) || ts.isMethodSignature(m)) reachParameters(m.parameters, where);
      if (ts.isPropertySignature(m) && isOptions) {
        const text = symbol ? `${docOf(symbol)}\n${tagsOf(symbol)}` : "";
        out.optionDocs.set(where, text);
        if (m.questionToken && !STATES_DEFAULT.test(text)) out.noDefault.push(where);
        reach(m.type, where, true);
      }
    }
  };

  for (const { name, file } of files) {
    const source = program.getSourceFile(file);
    if (!source) throw new Error(`${file} is not in the program`);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    if (!moduleSymbol) throw new Error(`${file} is not a module`);
    for (const e of checker.getExportsOfModule(moduleSymbol)) {
      queue.push({ symbol: e, via: `${name} exports ${e.name}` });
      exported.add(resolve(e));
    }
  }
  for (const symbol of exported) for (const d of symbol.declarations ?? []) if (ours(d)) checkDeclarationNameable(d, symbol.name);
  for (let item = queue.shift(); item; item = queue.shift()) {
    const symbol = resolve(item.symbol);
    const asOptions = !!item.options || isOptionsTypeName(symbol.name);
    if (seen.has(symbol) && (!asOptions || options.has(symbol))) continue;
    const first = !seen.has(symbol);
    seen.add(symbol);
    if (asOptions) options.add(symbol);
    if (first) {
      out.checked++;
      out.docs.set(symbol.name, `${docOf(symbol)}\n${tagsOf(symbol)}`);
      if (!docOf(symbol)) out.undocumented.push(`${symbol.name} (${item.via})`);
    }
    for (const d of symbol.declarations ?? []) {
      if (!ours(d)) continue;
      checkLinks(ts.isVariableDeclaration(d) ? d.parent.parent : d, symbol.name);
      if (ts.isFunctionDeclaration(d)) {
        // Each overload shows its own comment in the hover; the implementation's signature is not visible.
        const overloads = symbol.declarations!.filter(ts.isFunctionDeclaration);
        if (first && overloads.length > 1 && !d.body && ts.getJSDocCommentsAndTags(d).length === 0) out.undocumented.push(`${symbol.name} (an overload)`);
        reachParameters(d.parameters, `${symbol.name}()`);
      } else if (ts.isClassDeclaration(d) || ts.isInterfaceDeclaration(d)) {
        for (const h of d.heritageClauses ?? []) reach(h, `${symbol.name}'s heritage`, asOptions);
        if (first || asOptions) checkMembers(symbol.name, d.members, asOptions);
      } else if (ts.isTypeAliasDeclaration(d)) {
        // `type X = { ... }` (its members hover like an interface's) and what an options alias is made of.
        if (ts.isTypeLiteralNode(d.type)) checkMembers(symbol.name, d.type.members, asOptions);
        if (asOptions) reach(d.type, symbol.name, true);
      }
    }
  }
  return out;
}

/** The number, boolean or string a "Default X." states, if it states one. */
export function statedDefault(doc: string): unknown {
  const m = /\bDefault:? (`"[^"`]*"`|-?\d[\d_]*|true|false)(?=[\s.,;)]|$)/.exec(doc);
  if (!m) return undefined;
  const v = m[1]!;
  if (v.startsWith("`")) return v.slice(2, -2);
  if (v === "true" || v === "false") return v === "true";
  return Number(v.replace(/_/g, ""));
}


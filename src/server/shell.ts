/**
 * Shell quoting for the commands tsgi's messages suggest (`openssl x509 -in
 * <file> ...`, `curl --cacert <file>`), so that one pasted into a POSIX shell
 * works whatever the file's name holds (spaces, `$`, quotes, `*`).
 * @module
 */

/**
 * A word that may stay unquoted: characters no POSIX shell treats specially,
 * and no `=` first (zsh's EQUALS expansion makes `=ls` the path of `ls`, and
 * a lone `=` an error).
 */
const PLAIN = /^[A-Za-z0-9_@%+:,./-][A-Za-z0-9_@%+=:,./-]*$/;

/**
 * `word` as one word of a POSIX shell command line: unchanged when it holds
 * only characters no shell treats specially (`/etc/ssl/cert.pem`) and does
 * not start with `=` (zsh, bash and dash alike then read it as written), else in
 * single quotes, each `'` in it written `'\''` (POSIX.1-2017, Shell Command
 * Language, 2.2.2 Single-Quotes: nothing is special inside them). The empty
 * string is `''`.
 * @param word the argument, as the program is to receive it.
 * @returns the text to paste into `sh`, `bash` or `zsh`.
 */
export function shellQuote(word: string): string {
  if (PLAIN.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

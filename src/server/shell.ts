/**
 * Shell quoting for the commands tsgi's messages suggest (`openssl x509 -in
 * <file> ...`, `curl --cacert <file>`), so that one pasted into a POSIX shell
 * works whatever the file's name holds (spaces, `$`, quotes, `*`).
 * @module
 */

/** Characters a word may hold and stay unquoted: what no POSIX shell treats specially. */
const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * `word` as one word of a POSIX shell command line: unchanged when it holds
 * only characters no shell treats specially (`/etc/ssl/cert.pem`), else in
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

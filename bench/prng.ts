/**
 * A seeded PRNG for reproducible corpora (bench/diff-llhttp.ts, bench/fuzz.ts,
 * the parser split tests): pure-rand's xoroshiro128+ (the generator behind
 * fast-check), as a `() => number` in [0, 1).
 * @module
 */
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";

/** A generator of numbers in [0, 1), the same sequence for the same `seed`. */
export function prng(seed: number): () => number {
  const rng = xoroshiro128plus(seed);
  return () => uniformInt(rng, 0, 0xffffffff) / 4294967296;
}

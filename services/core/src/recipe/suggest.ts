/** Levenshtein distance, enough for "did you mean" on recipe keys. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

function subsetOfWords(a: string, b: string): boolean {
  const words = new Set(b.split("_"));
  const parts = a.split("_");
  return parts.length > 1 && parts.every((w) => words.has(w));
}

/** The known key closest to `key`, if it is close enough to be a plausible typo. */
export function closest(key: string, known: Iterable<string>): string | undefined {
  const lower = key.toLowerCase().replace(/-/g, "_");
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of known) {
    let score = distance(lower, candidate);
    // A key that contains the candidate (or the reverse) is a likely near miss: "lora_rank" ~ "lora_r".
    if (lower.includes(candidate) || candidate.includes(lower)) score = Math.min(score, 2);
    // Same words, one missing or extra: "max_tokens" ~ "max_new_tokens".
    if (subsetOfWords(lower, candidate) || subsetOfWords(candidate, lower)) score = Math.min(score, 2);
    if (score < bestScore) {
      bestScore = score;
      best = candidate;
    }
  }
  const limit = Math.max(2, Math.floor(lower.length / 3));
  return bestScore <= limit ? best : undefined;
}

export function didYouMean(key: string, known: Iterable<string>): string {
  const guess = closest(key, known);
  return guess ? `did you mean "${guess}"?` : "no similar key is known";
}

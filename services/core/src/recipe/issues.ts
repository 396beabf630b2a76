import type { RecipeIssue } from "../gen/mambalign/v1/recipe.js";
import { redactUrlCredentials } from "../redact.js";

/** Collects recipe issues in document order; a shared key checked for two stages is reported once. */
export class IssueList {
  readonly items: RecipeIssue[] = [];
  private readonly seen = new Set<string>();

  fatal(key: string, message: string): void {
    this.add({ key, message, fatal: true });
  }

  warn(key: string, message: string): void {
    this.add({ key, message, fatal: false });
  }

  add(issue: RecipeIssue): void {
    const id = `${issue.fatal ? "F" : "W"}\u0000${issue.key}\u0000${issue.message}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.items.push(issue);
  }

  hasFatal(): boolean {
    return this.items.some((i) => i.fatal);
  }
}

/** Joins a section prefix and a key into the dotted path users see ("sft.lora_r"). */
export function keyPath(prefix: string, key: string | number): string {
  if (typeof key === "number") return `${prefix}[${key}]`;
  return prefix ? `${prefix}.${key}` : key;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  // Echoed values never carry the credentials of a URL (a tracking or dataset URI with user:token@).
  const text = redactUrlCredentials(JSON.stringify(value));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

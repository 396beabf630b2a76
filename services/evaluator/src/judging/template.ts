import { ValidationError } from "./errors.js";

/**
 * Fills `{name}` placeholders in one pass, so text inserted for one placeholder (a model output that
 * itself contains "{output_2}") is never substituted again. Other braces stay as they are: the
 * AlpacaEval templates contain literal `{ ... }` blocks.
 */
export function fillTemplate(template: string, values: Record<string, string>): string {
  const names = Object.keys(values);
  if (names.length === 0) return template;
  const pattern = new RegExp(`\\{(${names.map(escapeRegExp).join("|")})\\}`, "g");
  return template.replace(pattern, (_m, name: string) => values[name] as string);
}

/** Throws when the template lacks a placeholder the caller fills: a wrong prompt file would otherwise judge nothing. */
export function requirePlaceholders(template: string, names: string[], where: string): void {
  for (const n of names) {
    if (!template.includes(`{${n}}`)) {
      throw new ValidationError(`${where}: prompt template has no {${n}} placeholder`, { field: n });
    }
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

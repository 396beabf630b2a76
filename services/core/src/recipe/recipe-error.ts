import { status } from "@grpc/grpc-js";
import { ApiError } from "../errors.js";
import type { RecipeIssue } from "../gen/mambalign/v1/recipe.js";

/** A recipe with fatal issues; `issues` holds every issue found (fatal and not), each naming its key. */
export class RecipeError extends ApiError {
  override readonly name = "RecipeError";
  readonly issues: RecipeIssue[];

  constructor(issues: RecipeIssue[], options?: { cause?: unknown }) {
    const fatal = issues.filter((i) => i.fatal);
    const message = `invalid recipe: ${fatal.map((i) => `${i.key}: ${i.message}`).join("; ")}`;
    super(status.INVALID_ARGUMENT, message, issues[0] ? { field: issues[0].key } : {}, options);
    this.issues = issues;
  }

  /** The issues that made the recipe invalid. */
  get fatalIssues(): RecipeIssue[] {
    return this.issues.filter((i) => i.fatal);
  }
}

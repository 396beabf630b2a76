import type { Recipe, RecipeIssue } from "../gen/mambalign/v1/recipe.js";
import type { RecipeOptions } from "./check-recipe.js";
import { checkRecipe } from "./check-recipe.js";
import { RecipeError } from "./recipe-error.js";

/** Like checkRecipe, but throws RecipeError (naming the keys) when a fatal issue is found. */
export function parseRecipe(yamlText: string, opts?: RecipeOptions): { recipe: Recipe; warnings: RecipeIssue[] } {
  const { recipe, issues, ok } = checkRecipe(yamlText, opts);
  if (!ok) throw new RecipeError(issues);
  return { recipe, warnings: issues };
}

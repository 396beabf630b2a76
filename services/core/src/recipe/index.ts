// Recipes: YAML with the alignment-handbook keys -> the normalised Recipe every service runs.
export { checkRecipe, EVAL_DEFAULTS, YAML_ISSUE_KEY } from "./check-recipe.js";
export type { RecipeCheck, RecipeOptions } from "./check-recipe.js";
export { parseRecipe } from "./parse-recipe.js";
export { RecipeError } from "./recipe-error.js";
export { recipeToYaml } from "./recipe-yaml.js";
export { STAGE_ORDER, stageName } from "./stages.js";
export { isSecretKey, redactRecipeSecrets } from "./redact-secrets.js";
export { CPU_WORKER, GPU_IMAGE_WORKER, type WorkerCapabilities, WORKERS } from "./worker-capabilities.js";

// A recipe as stored beside its run (runs/<id>/recipe.yaml) keeps the user's text and comments but
// no secrets: a handbook recipe's `hub_token`, any key naming a password/secret/api key, and
// credentials inside URLs are replaced. Tokens belong in the environment or a Kubernetes Secret.
import YAML, { isScalar, visit } from "yaml";
import { REDACTED, redactUrlCredentials } from "../redact.js";

/** Keys whose values are secrets (not `pad_token`, `max_new_tokens`, ...: those are not credentials). */
const SECRET_KEY = /^(hub_token|hf_token|token|api_key|apikey|password|passwd|secret)$|_(api_key|apikey|password|passwd|secret|secret_key|access_key|access_token|auth_token)$/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** The recipe text with secret values replaced by `<redacted>`; text that is not YAML is not kept at all. */
export function redactRecipeSecrets(yamlText: string): string {
  const doc = YAML.parseDocument(yamlText);
  if (doc.errors.length > 0) return "# recipe text not kept: it is not valid YAML\n";
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && isSecretKey(String(pair.key.value)) && pair.value != null) {
        pair.value = doc.createNode(REDACTED);
        return visit.SKIP; // nothing under a redacted value is kept
      }
      return undefined;
    },
  });
  // URL credentials anywhere, comments included.
  return redactUrlCredentials(doc.toString({ lineWidth: 0 }));
}

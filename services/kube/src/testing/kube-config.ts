import { KubeConfig } from "@kubernetes/client-node";

/** A KubeConfig pointing at a local API substitute (plain HTTP, dummy token). */
export function substituteKubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "substitute", server, skipTLSVerify: true }],
    users: [{ name: "test", token: "not-a-secret" }],
    contexts: [{ name: "substitute", cluster: "substitute", user: "test" }],
    currentContext: "substitute",
  });
  return kc;
}

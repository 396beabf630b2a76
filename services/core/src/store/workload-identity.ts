// S3 credentials from the pod's workload identity instead of static keys: EKS IRSA (a projected web
// identity token exchanged at STS) or EKS Pod Identity (the node agent's container-credentials
// endpoint), both read by minio's IamAwsProvider, which refreshes them before they expire.
import { readFile } from "node:fs/promises";
import { IamAwsProvider } from "minio";

/**
 * IamAwsProvider plus Pod Identity's token file: the agent's token comes in
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (rotated by the kubelet), while minio reads only
 * AWS_CONTAINER_AUTHORIZATION_TOKEN; each refresh copies the file's current token across.
 */
export class WorkloadIdentityCredentials extends IamAwsProvider {
  constructor() {
    super({});
  }

  override async getCredentials() {
    const tokenFile = process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
    if (tokenFile) process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = (await readFile(tokenFile, "utf8")).trim();
    return super.getCredentials();
  }
}

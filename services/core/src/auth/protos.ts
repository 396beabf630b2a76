// Every RPC of proto/'s services, read from the compiled descriptors (scripts/gen-proto.sh): what the
// roles table must cover.
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { protoDescriptorSetBase64 } from "../gen/descriptor-set.js";

export interface ProtoMethod {
  /** "package.Service/Method", as METHOD_ROLES keys it. */
  key: string;
  service: string;
  method: string;
  serverStreaming: boolean;
  /** The request message's name in its package ("StartRunRequest"). */
  requestType: string;
}

/** The methods of every service declared in proto/mambalign/. */
export function protoMethods(): ProtoMethod[] {
  const set = fromBinary(FileDescriptorSetSchema, Buffer.from(protoDescriptorSetBase64, "base64"));
  const out: ProtoMethod[] = [];
  for (const f of set.file) {
    if (!f.name.startsWith("mambalign/")) continue;
    for (const s of f.service) {
      const service = `${f.package}.${s.name}`;
      for (const m of s.method) out.push({
          key: `${service}/${m.name}`,
          service,
          method: m.name,
          serverStreaming: m.serverStreaming === true,
          requestType: m.inputType.split(".").pop()!,
        });
    }
  }
  return out;
}

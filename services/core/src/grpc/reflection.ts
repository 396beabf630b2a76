// gRPC server reflection (grpc.reflection.v1 and v1alpha) for grpcurl, Postman and other clients
// that discover the API at run time, fed from proto/'s compiled descriptors (scripts/gen-proto.sh).
import type { Server } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { protoDescriptorSetBase64 } from "../gen/descriptor-set.js";

let protoFiles: PackageDefinition | undefined;

/**
 * proto/'s files, one entry per .proto file exactly as protoc compiled it. Not proto-loader's
 * loadFileDescriptorSetFromBuffer: it merges a package's files into one descriptor that lists no
 * imports, so clients cannot resolve google.protobuf.Timestamp (grpc/grpc-node#2958). The
 * reflection service reads only each entry's fileDescriptorProtos, hence the cast.
 */
function protoFileDefinitions(): PackageDefinition {
  if (!protoFiles) {
    const set = fromBinary(FileDescriptorSetSchema, Buffer.from(protoDescriptorSetBase64, "base64"));
    protoFiles = Object.fromEntries(
      set.file.map((f) => [f.name, { fileDescriptorProtos: [Buffer.from(toBinary(FileDescriptorProtoSchema, f))] }]),
    ) as unknown as PackageDefinition;
  }
  return protoFiles;
}

/** Adds server reflection listing exactly the given services (fully qualified names). */
export function addReflection(server: Pick<Server, "addService">, serviceNames: string[]): void {
  new ReflectionService(protoFileDefinitions(), { services: serviceNames }).addToServer(server);
}

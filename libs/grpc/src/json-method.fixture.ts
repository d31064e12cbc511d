/** Tests only: a unary gRPC method whose messages are JSON, for generic clients and stand-in servers. */
const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const parse = (b: Buffer): unknown => JSON.parse(b.toString()) as unknown;

/** The definition of unary method `path` (`/pkg.Service/Method`) carrying JSON both ways. */
export function jsonMethod(path: string) {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: json,
    requestDeserialize: parse,
    responseSerialize: json,
    responseDeserialize: parse,
  };
}

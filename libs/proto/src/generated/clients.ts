import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ClientRequest as _sts_token_v1_ClientRequest, ClientRequest__Output as _sts_token_v1_ClientRequest__Output } from './sts/token/v1/ClientRequest.js';
import type { ClientResponse as _sts_token_v1_ClientResponse, ClientResponse__Output as _sts_token_v1_ClientResponse__Output } from './sts/token/v1/ClientResponse.js';
import type { ClientServiceClient as _sts_token_v1_ClientServiceClient, ClientServiceDefinition as _sts_token_v1_ClientServiceDefinition } from './sts/token/v1/ClientService.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  sts: {
    token: {
      v1: {
        ClientRequest: MessageTypeDefinition<_sts_token_v1_ClientRequest, _sts_token_v1_ClientRequest__Output>
        ClientResponse: MessageTypeDefinition<_sts_token_v1_ClientResponse, _sts_token_v1_ClientResponse__Output>
        /**
         * ClientService lets admin clients manage the clients they administer, and a
         * client read its configuration and rotate its own keys.
         */
        ClientService: SubtypeConstructor<typeof grpc.Client, _sts_token_v1_ClientServiceClient> & { service: _sts_token_v1_ClientServiceDefinition }
      }
    }
  }
}


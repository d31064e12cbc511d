export { parseScope, parseScopes, formatScopes, covers, intersectScopes, isWithin, isTemplateRequest, MAX_SCOPES, MAX_SCOPE_LENGTH } from "./scopes.js";
export type { ParsedScope } from "./scopes.js";
export { grantAudiences, requestedAudiences, audiencesWellFormed, MAX_AUDIENCES, MAX_AUDIENCE_LENGTH } from "./audience.js";

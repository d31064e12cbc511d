export {
  MAX_SCOPE_LENGTH,
  MAX_SCOPES,
  MAX_SCOPE_STRING_LENGTH,
  parseScope,
  tryParseScope,
  isValidScope,
  isTemplateRequest,
  parseScopes,
  tryParseScopes,
  formatScopes,
} from "./scope-syntax.js";
export type { ParsedScope } from "./scope-syntax.js";
export { covers, isWithin, intersectScopes, equalScopeSets } from "./scope-algebra.js";
export {
  grantAudiences,
  requestedAudiences,
  audienceWellFormed,
  audiencesWellFormed,
  resourceWellFormed,
  MAX_AUDIENCES,
  MAX_AUDIENCE_LENGTH,
} from "./audience.js";
export { expandScopeTemplates } from "./templates.js";
export {
  MAX_DECISION_CHARS,
  MAX_DECISION_LIST_LENGTH,
  MAX_DECISION_NAME_LENGTH,
  MAX_DECISION_REQUESTED_SCOPES,
  MAX_DECISION_SUBJECT_CHARS,
  MAX_DECISION_SUBJECT_SCOPES,
  MAX_SUBJECT_TOKEN_BYTES,
  decisionChars,
  isCleanName,
} from "./decision-limits.js";

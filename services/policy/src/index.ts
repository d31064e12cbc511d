export { PolicyEngine, MAX_POLICY_TEXT_BYTES } from "./cedar-engine.js";
export type { DecideInput, Decision, PolicyEngineOptions, PolicyProblem, PolicyText, PolicyValidation } from "./cedar-engine.js";
export { compileHops, cedarString, hopPolicyId } from "./hops.js";
export type { CompiledPolicy, HopDeclaration, HopPolicyKind } from "./hops.js";
export { ACTIONS, ANNOTATIONS, CEDAR_SCHEMA, ENTITY_TYPES, MAX_LIST_LENGTH, MAX_NAME_LENGTH } from "./schema.js";
export type { ActionId } from "./schema.js";

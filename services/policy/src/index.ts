export { PolicyEngine } from "./cedar-engine.js";
export type { DecideInput, Decision, PolicyProblem, PolicyText } from "./cedar-engine.js";
export { compileHops, cedarString } from "./hops.js";
export type { HopDeclaration } from "./hops.js";
export { CEDAR_SCHEMA } from "./schema.js";

/** The demo package has two entry points: service.js (a workload) and client.js (the demo client). */
export const DEMO_ENTRY_POINTS = ["service.js", "client.js"] as const;

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One private temp root for the whole run, removed at its end (test/support/global-temp-root.ts).
    globalSetup: ["test/support/global-temp-root.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          // Real servers (Azurite, Orthanc) on loopback: one file at a time, generous timeouts.
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});

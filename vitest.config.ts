import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

/** Workspace packages resolve to their TypeScript sources, so tests never need a build. */
const alias = {
  "@seg/compiler/engine": fileURLToPath(new URL("./packages/compiler/src/engine/index.ts", import.meta.url)),
  "@seg/dsl": src("dsl"),
  "@seg/compiler": src("compiler"),
  "@seg/runtime": src("runtime"),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts", "packages/*/test/unit/**/*.test.ts"],
          testTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: ["packages/*/test/integration/**/*.test.ts"],
          testTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

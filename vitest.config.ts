import { defineConfig } from "vitest/config";

// Unit tests of the view's pure modules (colormaps, decoding, rendering, queue, selection); they run in Node.
export default defineConfig({
  test: {
    include: ["tests/js/**/*.test.ts"],
    environment: "node",
  },
});

import { defineConfig } from "vite";

// Built by scripts/build_ui.py into gateway/ui/static (carried by the wheel, served at /).
export default defineConfig({
  root: import.meta.dirname,
  base: "./", // relative asset URLs: the page works from any path or a plain static server
  build: {
    outDir: process.env["CREDITCHAIN_UI_OUT"] ?? "../gateway/ui/static",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false }, // no inline script: the CSP allows scripts from 'self' only
    reportCompressedSize: false,
  },
});

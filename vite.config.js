import { defineConfig } from 'vite';

// The page is static: index.html at the top, code in www/, the wasm core in www/pkg/ (built
// by `npm run wasm`). `npm run build` writes dist/, servable by any static host.
export default defineConfig({
  root: '.',
  build: { outDir: 'dist', target: 'es2022', assetsInlineLimit: 0 },
  worker: { format: 'es' },
  server: { host: '127.0.0.1', watch: { ignored: ['**/target/**', '**/tests/**'] } },
  preview: { host: '127.0.0.1' },
});

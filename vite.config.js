import { defineConfig } from 'vite';

// The page is static: index.html at the top, code in www/, the wasm core in www/pkg/ (built
// by `npm run wasm`). `npm run build` writes dist/, servable by any static host: the page,
// the docs example docs/embed.html, and dist/webeval-report.js (the <webeval-report> element,
// a stable name for docs pages to import; its worker and the wasm sit in dist/assets/).
// One Content-Security-Policy for every page (the app and the docs example), injected at build and
// in the dev server: scripts and connections only from the page's own origin, so nothing a user
// drops can be sent anywhere; 'wasm-unsafe-eval' lets the core compile.
const CSP = [
  "default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:", "connect-src 'self'",
  "object-src 'none'", "base-uri 'self'",
].join('; ');
const csp = {
  name: 'webeval-csp',
  transformIndexHtml: () => [
    { tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CSP }, injectTo: 'head-prepend' },
  ],
};

export default defineConfig({
  root: '.',
  plugins: [csp],
  build: {
    outDir: 'dist',
    target: 'es2022',
    assetsInlineLimit: 0,
    rollupOptions: {
      input: { main: 'index.html', embed: 'docs/embed.html', 'webeval-report': 'www/embed.js' },
      output: {
        entryFileNames: (chunk) => (chunk.name === 'webeval-report' ? 'webeval-report.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
  worker: { format: 'es' },
  server: { host: '127.0.0.1', watch: { ignored: ['**/target/**', '**/tests/**'] } },
  preview: { host: '127.0.0.1' },
});

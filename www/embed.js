// <webeval-report src="preds.csv" [ci="0.95"] [label] [pred] [score] [weight] [task]>: a live
// report of a same-origin predictions file for docs pages. Ships as dist/webeval-report.js
// with its worker and the wasm next to it; the report renders in light DOM so the page's
// data-metric/data-value contract holds inside the element too.
import { Engine } from './engine.js';
import initCore, * as wasm from './pkg/webeval.js';
import { coreWasmUrl } from './core.js';
import { renderReport, el } from './report.js';
import css from './style.css?inline';

let engine;
let coreReady;

function injectStyle() {
  if (document.getElementById('webeval-report-style')) return;
  // Scoped so the host page keeps its own look: only the element's content is styled.
  const style = document.createElement('style');
  style.id = 'webeval-report-style';
  style.textContent = `@scope (webeval-report) { :scope { display: block; --bg: #f6f7f9; --fg: #1d2330; --muted: #5b6478;
    --card: #fff; --border: #d9dee7; --accent: #2563eb; --error-bg: #fdecec; --error-fg: #8a1c1c;
    font-family: system-ui, sans-serif; color: var(--fg); } ${css} }`;
  document.head.append(style);
}

export class WebevalReport extends HTMLElement {
  static observedAttributes = ['src', 'ci', 'label', 'pred', 'score', 'weight', 'task'];

  connectedCallback() {
    injectStyle();
    this.load();
  }

  attributeChangedCallback() {
    if (this.isConnected) this.load();
  }

  options() {
    const o = {};
    for (const k of ['label', 'pred', 'score', 'weight', 'task']) if (this.hasAttribute(k)) o[k] = this.getAttribute(k);
    const ci = this.getAttribute('ci');
    if (ci && ci !== 'off') o.ci = Number(ci);
    return o;
  }

  async load() {
    const src = this.getAttribute('src');
    if (!src) return;
    const token = (this.token = Symbol('load'));
    this.dataset.state = 'busy';
    this.replaceChildren(el('p', { class: 'meta', role: 'status', text: `Evaluating ${src}…` }));
    try {
      const url = new URL(src, document.baseURI);
      if (url.origin !== location.origin) throw new Error(`src must be on this site (${location.origin}); '${src}' is not`);
      const res = await fetch(url);
      if (!res.ok) throw new Error(`could not load ${src}: HTTP ${res.status}`);
      if ((res.headers.get('content-type') ?? '').startsWith('text/html')) throw new Error(`${src} is a web page, not a data file: is the path right?`);
      const name = decodeURIComponent(url.pathname.split('/').pop() || 'file');
      const file = new File([await res.blob()], name);
      engine ??= new Engine();
      coreReady ??= initCore({ module_or_path: coreWasmUrl });
      const json = await engine.evaluate(file, this.options());
      await coreReady;
      if (token !== this.token) return;
      const section = el('section', { class: 'report', 'aria-label': `Evaluation report for ${name}` });
      renderReport(section, { report: JSON.parse(json), json, plots: JSON.parse(wasm.renderPlots(json)), fileName: name, core: wasm });
      this.replaceChildren(section);
      this.dataset.state = 'done';
    } catch (err) {
      if (token !== this.token) return;
      this.replaceChildren(el('div', { class: 'error', role: 'alert', text: err.message }));
      this.dataset.state = 'error';
    }
  }
}

if (!customElements.get('webeval-report')) customElements.define('webeval-report', WebevalReport);

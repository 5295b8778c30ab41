// The column-mapping panel: shown when detection by name is unsure (no true-label column, two
// columns for one role, a score column left out for per-class ones) and on request. It lists
// every column with the role detection gave it and a few sample values; the user's choice goes
// back to the core as an exact mapping (options.exact), so a role set to "none" stays none.

const ROLES = [
  ['', '— not used'],
  ['label', 'true label'],
  ['pred', 'predicted label / value'],
  ['score', 'score of the positive class'],
  ['prob', 'score of one class'],
  ['weight', 'sample weight'],
  ['truth_indicator', 'multilabel: true 0/1'],
  ['pred_indicator', 'multilabel: predicted 0/1'],
];
const SINGLE = ['label', 'pred', 'score', 'weight'];
const TASKS = [['', 'detect'], ['binary', 'binary'], ['multiclass', 'multiclass'], ['multilabel', 'multilabel'], ['regression', 'regression']];

function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

function select(options, value, label) {
  const s = el('select', { ariaLabel: label });
  for (const [v, text] of options) s.append(el('option', { value: v, textContent: text }));
  s.value = value;
  return s;
}

/** The evaluation options for the chosen roles, or an error message saying what to fix. */
export function mappingOptions(choices, task) {
  const named = (role) => choices.filter((c) => c.role === role).map((c) => c.name);
  for (const role of SINGLE) {
    if (named(role).length > 1) return { error: `Only one column can be the ${ROLES.find((r) => r[0] === role)[1]}: ${named(role).join(', ')}.` };
  }
  const indicators = named('truth_indicator');
  if (!named('label').length && indicators.length < 2) {
    return { error: 'Choose the column with the true label (or two or more multilabel true 0/1 columns).' };
  }
  const one = (role) => named(role)[0];
  return {
    options: {
      exact: true, label: one('label'), pred: one('pred'), score: one('score'), weight: one('weight'),
      probs: named('prob'), indicators, predIndicators: named('pred_indicator'), task: task || undefined,
    },
  };
}

/**
 * Fill `panel` with the detected columns (detectColumns' JSON). `onApply(options)` gets the
 * exact mapping; `onCancel()` closes the panel.
 */
export function renderMapping(panel, detected, { onApply, onCancel }) {
  panel.replaceChildren();
  panel.hidden = false;
  panel.append(el('h2', { textContent: `Columns of ${detected.file}` }));
  const why = [detected.error, ...detected.problems].filter(Boolean);
  panel.append(el('p', {
    textContent: why.length
      ? 'webeval is not sure which column is which. Check the roles below, then evaluate.'
      : 'The roles below were detected from the column names; change any of them and evaluate again.',
  }));
  if (why.length) {
    panel.append(el('ul', { className: 'mapping-problems' }, ...why.map((w) => el('li', { textContent: w }))));
  }
  const rows = detected.columns.map((c) => {
    const role = select(ROLES, c.role ?? '', `Role of column ${c.name}`);
    role.dataset.column = c.name;
    const cls = el('td', { className: 'muted' });
    const showClass = () => {
      const v = role.value;
      cls.textContent = v === 'prob' ? `class ${c.prob_class}` : v.endsWith('_indicator') ? `label ${c.indicator_class}` : '';
    };
    role.addEventListener('change', showClass);
    showClass();
    const sample = c.sample.map((v) => (v.length > 12 ? `${v.slice(0, 11)}…` : v)).join(' · ');
    return { c, role, tr: el('tr', {},
      el('th', { scope: 'row', textContent: c.name }),
      el('td', {}, role),
      cls,
      el('td', { className: 'sample', textContent: sample, title: c.sample.join('\n') })) };
  });
  const head = el('tr', {}, ...['column', 'role', '', 'first values'].map((t) => el('th', { scope: 'col', textContent: t })));
  panel.append(el('table', { className: 'metrics mapping-table', id: 'mapping-table' }, el('thead', {}, head), el('tbody', {}, ...rows.map((r) => r.tr))));
  const task = select(TASKS, detected.task ?? '', 'Task');
  task.id = 'mapping-task';
  const message = el('p', { id: 'mapping-message', className: 'error', hidden: true });
  const apply = el('button', { type: 'button', id: 'mapping-apply', textContent: 'Evaluate with these columns' });
  const cancel = el('button', { type: 'button', id: 'mapping-cancel', textContent: 'Cancel' });
  panel.append(el('p', {}, el('label', {}, 'Task ', task)), message, el('p', { className: 'actions' }, apply, ' ', cancel));
  apply.addEventListener('click', () => {
    const { options, error } = mappingOptions(rows.map((r) => ({ name: r.c.name, role: r.role.value })), task.value);
    message.hidden = !error;
    message.textContent = error ?? '';
    if (options) onApply(options);
  });
  cancel.addEventListener('click', () => onCancel());
  (rows.find((r) => !r.role.value)?.role ?? apply).focus();
}

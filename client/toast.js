// Toasts: short messages stacked in the page's #toasts box, shared by the preview and the Director (DOM).

const MAX_SHOWN = 4;

/** Show `text` for `ms`; `kind` is info, ok or error; `code` (an HTTP status, a close code) is shown first. */
export function toast(text, { kind = 'info', code = null, ms = 4500 } = {}) {
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  if (code) {
    const c = document.createElement('span');
    c.className = 'code';
    c.textContent = code;
    el.append(c);
  }
  el.append(document.createTextNode(text));
  const box = document.getElementById('toasts');
  box.append(el);
  while (box.children.length > MAX_SHOWN) box.firstElementChild.remove();
  setTimeout(() => {
    el.classList.add('leaving');
    setTimeout(() => el.remove(), 300);
  }, ms);
}

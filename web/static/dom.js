// dom.js — the one place that creates and changes DOM nodes.
//
// Everything the server sends (host names, label values, alert texts) is
// untrusted, so text only ever enters the page through `textContent`,
// `Text` nodes or attribute setters; nothing here parses HTML. The setters
// remember what they wrote last, so a frame that repeats a value costs no
// DOM write at all.

/**
 * Creates an element. `props` keys: `class`, `text`, `dataset` (object),
 * `style` (object of properties), `on<event>` (listener), anything else becomes an attribute. Children may be
 * nodes or strings (strings become Text nodes, never markup).
 */
export function el(tag, props = {}, ...children) {
  return fill(document.createElement(tag), props, children);
}

function fill(node, props, children) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    // Through the CSSOM, which the page's Content-Security-Policy allows
    // (a `style` attribute would be refused as inline style).
    else if (key === "style") for (const [k, v] of Object.entries(value)) node.style.setProperty(k, v);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

/** Sets the node's text only when it differs from what this function last wrote. */
export function setText(node, text) {
  const value = String(text);
  if (node.__text !== value) {
    node.__text = value;
    node.textContent = value;
  }
}

/** Toggles a class only when its state changes. */
export function setClass(node, name, on) {
  if (node.classList.contains(name) !== Boolean(on)) node.classList.toggle(name, Boolean(on));
}

/** Sets an attribute only when its value changes. */
export function setAttr(node, name, value) {
  const text = String(value);
  if (node.getAttribute(name) !== text) node.setAttribute(name, text);
}

/** Sets a CSS custom property or style property only when it changes. */
export function setStyle(node, name, value) {
  if (node.style.getPropertyValue(name) !== value) node.style.setProperty(name, value);
}

/**
 * Keeps the children of `parent` equal to the keyed rows, reusing the nodes
 * of rows that stay. `rows` is an array of `{key, cells}`; `make(row)` builds a
 * row node with a `cells` array of nodes and `update(node, row)` refreshes
 * it. `cache` is a Map the caller keeps between calls.
 */
export function syncRows(parent, rows, cache, make, update) {
  const seen = new Set();
  let previous = null;
  for (const row of rows) {
    seen.add(row.key);
    let node = cache.get(row.key);
    if (!node) {
      node = make(row);
      cache.set(row.key, node);
    }
    update(node, row);
    const expected = previous ? previous.nextSibling : parent.firstChild;
    if (expected !== node) parent.insertBefore(node, expected);
    previous = node;
  }
  for (const [key, node] of cache) {
    if (!seen.has(key)) {
      node.remove();
      cache.delete(key);
    }
  }
}

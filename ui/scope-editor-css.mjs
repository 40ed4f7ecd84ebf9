// Scopes the annotator's stylesheet to the element it is mounted in.
//
// The Label Studio Frontend bundle carries antd's global reset: rules on
// html, body, h1–h6, a, p, button, … that restyle the whole labeling page
// (white background, another font, lighter headings) and nothing else. This
// rewrites every selector that matches by element alone — no class, id or
// class attribute, which only the editor's own elements and its pop-ups
// (rendered at the end of body) carry — to match inside the editor only:
// html and body become the editor's container itself, anything else is
// looked for under it. :where() keeps each rule's specificity, so the
// editor's class rules win over the reset exactly as before.
//
//	node ui/scope-editor-css.mjs .lsf-editor < main.css > scoped.css
import { readFileSync } from 'node:fs';

const scope = `:where(${process.argv[2]})`;
const css = readFileSync(0, 'utf8');
let i = 0;

// skip returns the index just past the string, comment or bracketed run
// starting at j, or j+1 for any other character.
function skip(j) {
  const c = css[j];
  if (c === '"' || c === "'") {
    for (j++; j < css.length && css[j] !== c; j++) if (css[j] === '\\') j++;
    return j + 1;
  }
  if (c === '/' && css[j + 1] === '*') {
    const end = css.indexOf('*/', j + 2);
    return end < 0 ? css.length : end + 2;
  }
  if (c === '(' || c === '[') {
    const close = c === '(' ? ')' : ']';
    for (j++; j < css.length && css[j] !== close;) j = skip(j);
    return j + 1;
  }
  return j + 1;
}

// until returns the index of the first of stops at the top level from j.
function until(j, stops) {
  while (j < css.length && !stops.includes(css[j])) j = skip(j);
  return j;
}

// block copies the rules up to the closing brace (or the end), scoping the
// selectors of style rules; at-rules that hold rules are walked into, the
// others (keyframes, font faces) copied as they are.
function block() {
  let out = '';
  for (;;) {
    const start = i;
    i = until(i, '{};');
    const prelude = css.slice(start, i);
    if (i >= css.length || css[i] === '}') {
      i++;
      return out + prelude;
    }
    if (css[i] === ';') { // @import, @charset
      i++;
      out += prelude + ';';
      continue;
    }
    i++; // past '{'
    const at = prelude.trim().match(/^@([\w-]+)/);
    if (at && ['media', 'supports', 'layer', 'document', 'container'].includes(at[1])) {
      out += prelude + '{' + block() + '}';
    } else if (at) {
      const bodyStart = i;
      let depth = 1;
      while (i < css.length && depth > 0) {
        if (css[i] === '{') depth++;
        if (css[i] === '}') depth--;
        i = depth === 0 ? i : skip(i);
      }
      out += prelude + '{' + css.slice(bodyStart, i) + '}';
      i++;
    } else {
      const bodyStart = i;
      i = until(i, '}');
      out += scopeSelectors(prelude) + '{' + css.slice(bodyStart, i) + '}';
      i++;
    }
  }
}

// scopeSelectors rewrites the element-only selectors of a selector list,
// keeping any comment in front of it.
function scopeSelectors(list) {
  const lead = list.match(/^(\s|\/\*[\s\S]*?\*\/)*/)[0];
  const parts = [];
  let j = lead.length, from = j;
  for (; j < list.length; j = skipIn(list, j)) {
    if (list[j] === ',') { parts.push(list.slice(from, j)); from = j + 1; }
  }
  parts.push(list.slice(from));
  return lead + parts.map(scopeOne).join(',');
}

// skipIn is skip over another string.
function skipIn(s, j) {
  const c = s[j];
  if (c === '(' || c === '[') {
    const close = c === '(' ? ')' : ']';
    let depth = 0;
    for (; j < s.length; j++) {
      if (s[j] === c) depth++;
      if (s[j] === close && --depth === 0) return j + 1;
    }
    return j;
  }
  return j + 1;
}

function scopeOne(sel) {
  const bare = sel.replace(/\([^)]*\)/g, '').replace(/\[class[^\]]*\]/g, '.');
  if (/[.#]/.test(bare)) return sel; // the editor's own elements
  const s = sel.trim();
  const root = s.match(/^(html|body|:root)(?![\w-])\s*(body(?![\w-]))?/);
  if (root) return scope + s.slice(root[0].length);
  return `${scope} ${s}`;
}

process.stdout.write(block());

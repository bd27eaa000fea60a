"""What a person reads on the control a click at a point activates: the page script behind the browser
driver's `text_at` (agent.safety's TargetInspector), kept apart from the driver because it is a reading of
the page, not a way of driving it.

Every element the hit test stacks under the point counts, not only the topmost, down to the first one a
person cannot see through: a transparent overlay that forwards the click, or an empty `<label for>` laid
over a button, is judged together with what lies beneath it. Each element counts by the control it
activates (its nearest link, button, field, label or widget, and a label's control wherever it is) and by
that control's accessible name (aria-labelledby, aria-label, alt, title, its labels, a field's value, never a
password's) as well as its rendered text. Rendered text is read glyph by glyph from the layout, with
::before and ::after content, in visual order: letters split over flex items, floats or positioned boxes
come together as they are shown, characters drawn right to left by a bidi override read as they appear,
and a character that takes no room on screen (zero font size, hidden, transparent) is left out. Readings
are separated by line breaks; normalising the text (NFKC, invisible characters, look-alike letters) is
agent.safety.reading's job.

Not read: text painted inside an image (that needs OCR), inside a canvas, a cross-origin frame or a closed
shadow root.
"""

TEXT_AT_JS = r"""([x, y]) => {
  const ROLES = ["button", "link", "menuitem", "menuitemcheckbox", "menuitemradio", "option", "tab", "checkbox",
                 "radio", "switch", "treeitem", "combobox", "gridcell", "slider", "spinbutton", "textbox", "searchbox"];
  // What a click activates: the element hit, or the control around it that the browser's activation reaches.
  const CONTROL = ["a[href]", "button", "input", "select", "textarea", "label", "summary", "option", "[onclick]",
                   "[contenteditable]:not([contenteditable=false])", ...ROLES.map((r) => `[role=${r}]`)].join(", ");
  const MAX_GLYPHS = 2000;  // per element: a control holding a whole article is judged by its start
  const MAX_TEXT = 1000;
  // Letters of right-to-left scripts: read back in their own order once the line is read left to right.
  const RTL = "\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc";
  const RTL_RUN = new RegExp(`[${RTL}](?:[\\s${RTL}]*[${RTL}])?`, "g");

  const css = (el, pseudo) => getComputedStyle(el, pseudo);
  const alpha = (color) => {
    const m = /rgba?\(([^)]*)\)/.exec(color);
    const a = m ? m[1].split(/[\s,\/]+/).filter(Boolean)[3] : undefined;
    return a === undefined ? 1 : a.endsWith("%") ? parseFloat(a) / 100 : parseFloat(a);
  };
  const opacities = new Map();
  const opacity = (el) => {
    if (!el || el.nodeType !== 1) return 1;
    if (!opacities.has(el)) opacities.set(el, parseFloat(css(el).opacity) * opacity(el.parentElement));
    return opacities.get(el);
  };
  const shown = (el, style) => style.visibility === "visible" && alpha(style.color) > 0.05 && opacity(el) > 0.05;
  // A person sees what lies beneath an element that paints (almost) nothing at the point.
  const seeThrough = (el) => {
    if (opacity(el) < 0.1) return true;
    if (["IMG", "VIDEO", "CANVAS", "IFRAME", "EMBED", "OBJECT", "svg"].includes(el.tagName)) return false;
    const s = css(el);
    return s.backgroundImage === "none" && alpha(s.backgroundColor) < 0.5;
  };

  // One glyph: a character and its box on screen (l, r, t, b), with the font size that sets the gaps.
  const glyphsOf = (root) => {
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let node = walker.nextNode(); node && out.length < MAX_GLYPHS; node = walker.nextNode()) {
      const el = node.parentElement;
      const style = el && css(el);
      if (!style || !shown(el, style)) continue;
      const size = parseFloat(style.fontSize) || 16;
      for (let i = 0; i < node.data.length && out.length < MAX_GLYPHS;) {
        const n = node.data.codePointAt(i) > 0xffff ? 2 : 1;
        range.setStart(node, i);
        range.setEnd(node, i + n);
        const box = [...range.getClientRects()].find((q) => q.width > 0 && q.height > 0);
        if (box) out.push({c: node.data.slice(i, i + n), l: box.left, r: box.right, t: box.top, b: box.bottom, size, node});
        i += n;
      }
    }
    return out;
  };

  // The text of a ::before or ::after: its strings and attr() values (counters and quotes aside).
  const pseudoText = (el, which) => {
    const s = css(el, which);
    if (s.display === "none" || !shown(el, s) || !s.content || s.content === "none" || s.content === "normal") return "";
    let text = "";
    const token = /"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|attr\(\s*([^\s)]+)\s*\)/g;
    for (let m; (m = token.exec(s.content));) {
      text += m[3] !== undefined ? el.getAttribute(m[3]) || "" : (m[1] ?? m[2]).replace(
        /\\([0-9a-fA-F]{1,6})\s?|\\(.)/g, (_, hex, ch) => (hex ? String.fromCodePoint(parseInt(hex, 16)) : ch));
    }
    // A bidi override lays the characters out right to left: placed left to right, they are reversed.
    return /override/.test(s.unicodeBidi) && s.direction === "rtl" ? [...text].reverse().join("") : text;
  };

  // Pseudo-element text has no boxes of its own: it is placed where it is drawn, just before the element's
  // first glyph (after its last one), on the side its direction starts (ends) on, touching it.
  const withPseudo = (root, glyphs) => {
    for (const el of [root, ...root.querySelectorAll("*")].slice(0, 300)) {
      for (const which of ["::before", "::after"]) {
        const chars = [...pseudoText(el, which)];
        if (!chars.join("").trim()) continue;
        const mine = glyphs.filter((g) => g.node && el.contains(g.node));
        const left = (which === "::before") !== (css(el).direction === "rtl");
        const box = el.getBoundingClientRect();
        const near = mine.length ? mine[which === "::before" ? 0 : mine.length - 1] : null;
        const at = near ? (left ? near.l : near.r) : (left ? box.left : box.right);
        const [t, b, size] = near ? [near.t, near.b, near.size] : [box.top, box.bottom, parseFloat(css(el).fontSize) || 16];
        chars.forEach((c, k) => {
          const l = left ? at - (chars.length - k) * 0.01 : at + k * 0.01;
          glyphs.push({c, l, r: l, t, b, size, node: null});
        });
      }
    }
    return glyphs;
  };

  // Glyphs into lines (by their vertical middles), each read left to right: a gap wider than a third of
  // the font size is a space, no gap is none, whatever elements the letters sit in.
  const read = (glyphs) => {
    const rows = [];
    for (const g of [...glyphs].sort((a, b) => a.t + a.b - (b.t + b.b))) {
      const mid = (g.t + g.b) / 2;
      const row = rows.find((r) => mid >= r.t && mid <= r.b);
      if (row) row.glyphs.push(g);
      else rows.push({t: g.t, b: g.b, glyphs: [g]});
    }
    return rows.sort((a, b) => a.t - b.t).map(({glyphs: row}) => {
      row.sort((a, b) => a.l - b.l || a.r - b.r);
      let line = "";
      row.forEach((g, i) => {
        if (i && g.l - row[i - 1].r > Math.max(g.size, row[i - 1].size) / 3) line += " ";
        line += /\s/.test(g.c) ? " " : g.c;
      });
      return line.replace(/ +/g, " ").trim().replace(RTL_RUN, (run) => [...run].reverse().join(""));
    }).filter(Boolean).join("\n");
  };
  const rendered = (el) => read(withPseudo(el, glyphsOf(el)));

  const describe = (el) => {
    const parts = [];
    const add = (t) => { if (typeof t === "string" && t.trim()) parts.push(t.trim()); };
    for (const id of (el.getAttribute("aria-labelledby") || "").split(/\s+/)) {
      const ref = id && document.getElementById(id);
      if (ref) add(rendered(ref) || ref.textContent);  // a name may come from hidden text
    }
    for (const name of ["aria-label", "alt", "title", "placeholder"]) add(el.getAttribute(name));
    for (const label of el.labels || []) add(rendered(label) || label.textContent);
    if (el.tagName === "SELECT") add(el.selectedOptions[0] && el.selectedOptions[0].text);
    else if ((el.tagName === "INPUT" && !["password", "hidden"].includes(el.type)) || el.tagName === "TEXTAREA") add(el.value);
    for (const inner of [...el.querySelectorAll("[aria-label], [alt], [title], svg title")].slice(0, 20)) {
      for (const name of ["aria-label", "alt", "title"]) add(inner.getAttribute(name));
      if (inner.tagName.toLowerCase() === "title") add(inner.textContent);
    }
    add(rendered(el));
    return parts.join("\n");
  };

  const judged = new Set();
  const texts = [];
  const judge = (el) => {
    if (!el || judged.has(el)) return;
    judged.add(el);
    const text = describe(el);
    if (text) texts.push(text);
  };
  const stack = document.elementsFromPoint(x, y).slice(0, 40);
  for (const [i, el] of stack.entries()) {
    // The topmost element counts even when it is no control (a div with a listener); those beneath it only
    // through the control they belong to, or every click would be judged by the whole page's text.
    const control = el.closest(CONTROL) || (i === 0 && el !== document.body && el !== document.documentElement ? el : null);
    judge(control);
    if (control && control.tagName === "LABEL") judge(control.control);
    if (!seeThrough(el)) break;
  }
  const text = [...new Set(texts.join("\n").split("\n"))].join("\n");
  return text ? text.slice(0, MAX_TEXT) : null;
}"""

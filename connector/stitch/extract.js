// Read one page of the member list in a single round trip, the way a person sees it.
//
// It only collects structure and visible text; Python (read_page.py) decides what the text
// means. Text comes from text nodes, so names are never interpreted as markup. Each element
// boundary starts a new token: a badge next to an email stays a separate word, as it looks.
// Invisible things are skipped: display:none / visibility:hidden, aria-hidden, <option>s of a
// closed <select>, scripts and styles. Icons that carry meaning (role=img, <img alt>) give
// their label as a token.
(sel) => {
  const q = (root, list) => {
    for (const s of list) {
      const el = root.querySelector(s);
      if (el) return el;
    }
    return null;
  };
  const joined = (list) => list.join(", ");
  const SKIP = new Set(["SCRIPT", "STYLE", "TEMPLATE", "NOSCRIPT", "OPTION", "OPTGROUP", "DATALIST"]);
  const visibleCache = new Map();
  const shown = (el) => {
    if (visibleCache.has(el)) return visibleCache.get(el);
    let ok;
    if (el.getAttribute("aria-hidden") === "true" || el.hidden) ok = false;
    else if (typeof el.checkVisibility === "function") ok = el.checkVisibility({ visibilityProperty: true });
    else ok = el.getClientRects().length > 0;
    visibleCache.set(el, ok);
    return ok;
  };
  // The state of the control a token belongs to (a switch, a checkbox label, a toggle button).
  const controlState = (el) => {
    const control = el.closest("[role=switch], [role=checkbox], [aria-pressed], label");
    if (!control) return null;
    if (control.tagName === "LABEL") {
      const input = control.querySelector("input[type=checkbox], input[type=radio]") ||
        (control.htmlFor ? document.getElementById(control.htmlFor) : null);
      return input ? !!input.checked : null;
    }
    const value = control.getAttribute("aria-checked") ?? control.getAttribute("aria-pressed");
    return value === null ? null : value === "true";
  };
  // Visible text as tokens: [{t: text, c: control state or null}].
  const tokens = (root) => {
    const out = [];
    let buffer = "";
    let owner = null;
    const flush = () => {
      const t = buffer.replace(/\s+/g, " ").trim();
      if (t) out.push({ t, c: owner ? controlState(owner) : null, raw: buffer.trim() });
      buffer = "";
      owner = null;
    };
    const walk = (node) => {
      for (const child of node.childNodes) {
        if (child.nodeType === Node.TEXT_NODE) {
          if (owner !== null && owner !== node) flush();
          owner = node;
          buffer += child.nodeValue;
          continue;
        }
        if (child.nodeType !== Node.ELEMENT_NODE) continue;
        if (child.tagName === "WBR") continue; // a line-break hint inside a word
        flush();
        if (SKIP.has(child.tagName) || !shown(child)) continue;
        if (child.tagName === "SELECT") {
          const option = child.selectedOptions && child.selectedOptions[0];
          if (option) out.push({ t: option.textContent.replace(/\s+/g, " ").trim(), c: null, raw: option.textContent.trim(), select: true });
          continue;
        }
        const label = child.getAttribute("role") === "img" || child.tagName === "IMG" || child.tagName === "svg"
          ? (child.getAttribute("aria-label") || child.getAttribute("alt") || "").trim()
          : "";
        if (label) {
          out.push({ t: label, c: controlState(child), raw: label, icon: true });
          continue;
        }
        walk(child);
        flush();
      }
    };
    walk(root);
    flush();
    return out;
  };
  const numberAttr = (el, name) => {
    const v = parseInt(el.getAttribute(name) || "", 10);
    return isFinite(v) ? v : null;
  };
  const checkedIn = (cell) => {
    const box = cell.querySelector("input[type=checkbox]");
    if (box) return !!box.checked;
    const aria = cell.querySelector("[role=switch][aria-checked], [role=checkbox][aria-checked]");
    return aria ? aria.getAttribute("aria-checked") === "true" : null;
  };

  const container = q(document, sel.container);
  const out = {
    url: location.href,
    container_found: !!container,
    tables: [],
    texts: [],
    count_texts: [],
    next_present: false,
    next_enabled: false,
    empty_state: false,
    loading: false,
    needles_found: [],
  };
  if (!container) return out;

  const rowSel = joined(sel.row);
  const cellSel = joined(sel.cell);
  const headerSel = joined(sel.header_cell);
  const tableSel = joined(sel.table);
  const candidates = Array.from(container.querySelectorAll(tableSel)).filter(
    (t) => !["presentation", "none"].includes(t.getAttribute("role") || "") && shown(t)
  );
  // Outermost tables only: a table nested in another one's cell is part of that cell.
  const tables = candidates.filter((t) => !candidates.some((o) => o !== t && o.contains(t)));
  const ownedBy = (el, table) => el.closest(tableSel) === table;

  for (const table of tables) {
    const rows = Array.from(table.querySelectorAll(rowSel)).filter((r) => ownedBy(r, table) && shown(r));
    const cellsOf = (row) => Array.from(row.querySelectorAll(cellSel)).filter(
      (c) => c.closest(rowSel) === row && ownedBy(c, table) && shown(c)
    );
    let headerRow = null;
    for (const row of rows) {
      const cells = cellsOf(row);
      const inHead = row.parentElement && row.parentElement.tagName === "THEAD";
      if (cells.length && (inHead || cells.every((c) => c.matches(headerSel)))) { headerRow = row; break; }
    }
    // The section a table belongs to: its caption or label, else the nearest heading before it.
    let section = table.getAttribute("aria-label") || (table.querySelector("caption") || {}).textContent || null;
    if (!section) {
      const headings = Array.from(container.querySelectorAll("h1, h2, h3, h4, h5, h6, [role=heading]")).filter(
        (h) => shown(h) && (h.compareDocumentPosition(table) & Node.DOCUMENT_POSITION_FOLLOWING)
      );
      section = headings.length ? headings[headings.length - 1].textContent : null;
    }
    const entry = {
      section: section ? section.replace(/\s+/g, " ").trim() : null,
      headers: headerRow
        ? cellsOf(headerRow).map((c) => ({
            tokens: tokens(c).map((t) => t.t),
            colspan: numberAttr(c, "colspan") || 1,
            colindex: numberAttr(c, "aria-colindex"),
          }))
        : [],
      rows: [],
      busy: table.getAttribute("aria-busy") === "true",
    };
    for (const row of rows) {
      if (row === headerRow || (row.parentElement && row.parentElement.tagName === "THEAD")) continue;
      const cells = cellsOf(row);
      if (!cells.length) continue;
      entry.rows.push({
        data_email: row.getAttribute("data-email"),
        self_css: !!q(row, sel.self_marker),
        invoice_admin_css: !!(q(row, sel.invoice_admin_badge) && shown(q(row, sel.invoice_admin_badge))),
        cells: cells.map((cell) => {
          const mailto = Array.from(cell.querySelectorAll(joined(sel.email_link))).filter(shown).map((a) => {
            try { return decodeURIComponent(a.getAttribute("href").slice(7).split("?")[0]); } catch (e) { return a.getAttribute("href").slice(7); }
          });
          const emailEl = q(cell, sel.email_text);
          const nameEl = q(cell, sel.name_text);
          return {
            tokens: tokens(cell),
            mailto,
            email_text: emailEl && shown(emailEl) ? tokens(emailEl).map((t) => t.t) : null,
            // Names keep their inner spacing: they are data, compared exactly.
            name_text: nameEl && shown(nameEl) ? (nameEl.textContent || "").trim() : null,
            checked: checkedIn(cell),
            colspan: numberAttr(cell, "colspan") || 1,
            colindex: numberAttr(cell, "aria-colindex"),
            header: cell.matches(headerSel),
          };
        }),
      });
    }
    out.tables.push(entry);
  }

  // Short texts outside the member tables: counts ("237 members") and pagination status
  // ("Page 2 of 5", "51–100 of 120") are read from these by pattern, wherever they moved.
  const inTables = (el) => tables.some((t) => t.contains(el));
  for (const el of container.querySelectorAll("*")) {
    if (SKIP.has(el.tagName) || inTables(el) || !shown(el)) continue;
    const text = (el.textContent || "").replace(/\s+/g, " ").trim();
    if (text && text.length <= 120) out.texts.push(text);
  }
  for (const s of sel.member_count) {
    for (const el of document.querySelectorAll(s)) {
      if (shown(el)) out.count_texts.push((el.textContent || "").replace(/\s+/g, " ").trim());
    }
  }

  // Next: by its known ids first, then by what it says (aria-label or text).
  let next = q(container, sel.next_button);
  if (!next) {
    const wanted = sel.next_labels.map((l) => l.toLowerCase());
    next = Array.from(container.querySelectorAll("button, a, [role=button]")).find((b) => {
      if (!shown(b) || inTables(b)) return false;
      const name = (b.getAttribute("aria-label") || b.textContent || "").replace(/\s+/g, " ").trim().toLowerCase();
      return wanted.includes(name);
    }) || null;
  }
  out.next_present = !!next && shown(next);
  out.next_enabled = out.next_present && !next.disabled && next.getAttribute("aria-disabled") !== "true";
  out.empty_state = !!q(container, sel.empty_state);
  out.loading = sel.loading.some((s) => Array.from(container.querySelectorAll(s)).some(shown));

  // Which of the emails asked about appear anywhere in the list's visible text: the proof that
  // a member is really gone is that their address is nowhere on the page, not only "no row read".
  if (sel.needles && sel.needles.length) {
    // An occurrence counts unless it is the tail of a longer address (a@x.com in aa@x.com);
    // text run on after it still counts (a@x.com2fa is a@x.com with a badge glued on).
    const visible = (container.innerText || "").toLowerCase();
    const localChar = /[a-z0-9.!#$%&'*+/=?^_`{|}~-]/;
    out.needles_found = sel.needles.filter((n) => {
      for (let at = visible.indexOf(n); at !== -1; at = visible.indexOf(n, at + 1)) {
        if (at === 0 || !localChar.test(visible[at - 1])) return true;
      }
      return false;
    });
  }
  return out;
}

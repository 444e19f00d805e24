// Read one page of the member list in a single round trip. Returns plain data; Python validates
// it. Text comes from textContent, so names are never interpreted as markup.
(sel) => {
  const first = (list, root) => {
    for (const s of list) { const el = root.querySelector(s); if (el) return el; }
    return null;
  };
  const all = (list, root) => {
    for (const s of list) { const els = root.querySelectorAll(s); if (els.length) return Array.from(els); }
    return [];
  };
  const clean = (s) => (s || "").replace(/\s+/g, " ").trim();
  const text = (el) => clean(el ? el.textContent : "");
  const stripped = (cell) => {
    // The cell's own text without badges and the "(You)" marker, which are read separately.
    const copy = cell.cloneNode(true);
    for (const group of [sel.invoice_admin_badge, sel.self_marker]) {
      for (const s of group) copy.querySelectorAll(s).forEach((el) => el.remove());
    }
    return text(copy);
  };
  const next = first(sel.next_button, document);
  const out = {
    url: location.href,
    table_found: false,
    headers: [],
    rows: [],
    member_count_text: first(sel.member_count, document) ? text(first(sel.member_count, document)) : null,
    page_status_text: first(sel.page_status, document) ? text(first(sel.page_status, document)) : null,
    next_present: !!next,
    next_enabled: !!next && !next.disabled && next.getAttribute("aria-disabled") !== "true",
    empty_state: !!first(sel.empty_state, document),
  };
  const table = first(sel.table, document);
  if (!table) return out;
  out.table_found = true;
  out.headers = all(sel.header_cell, table).map(text);
  out.rows = all(sel.row, table).map((row) => ({
    cells: all(sel.cell, row).map((cell) => {
      const name = first(sel.name_text, cell);
      const select = first(sel.role_select, cell);
      const option = select && select.selectedOptions && select.selectedOptions[0];
      return {
        text: stripped(cell),
        // Names keep their inner spacing: they are data, compared exactly.
        name_text: name ? (name.textContent || "").trim() : null,
        select_text: option ? text(option) : null,
      };
    }),
    invoice_admin: !!first(sel.invoice_admin_badge, row),
    self_marker: !!first(sel.self_marker, row),
  }));
  return out;
}

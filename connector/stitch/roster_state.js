// Is the member list settled? Evaluated by page.wait_for_function, which re-runs it after
// navigations. Returns null while loading; otherwise {state, signature, text}. With
// arg.diagnose it never returns null: {state: "waiting", text, element} says what it waits for.
// Never looks at the spinner alone: "spinner gone" is not "rows loaded".
(arg) => {
  const sel = arg.sel;
  const first = (list, root) => {
    for (const s of list) { const el = root.querySelector(s); if (el) return el; }
    return null;
  };
  const shown = (el) => !!el && el.getAttribute("aria-hidden") !== "true" && el.getClientRects().length > 0;
  const text = (el) => (el ? el.textContent : "").replace(/\s+/g, " ").trim();
  const waiting = (why, element) => (arg.diagnose ? { state: "waiting", text: why, element } : null);

  if (arg.app_origin && location.origin !== arg.app_origin) return { state: "signin" };
  for (const s of arg.signin) {
    if (Array.from(document.querySelectorAll(s)).some(shown)) return { state: "signin" };
  }
  const container = first(arg.container, document);
  if (!container) return waiting("the members area is not on the page", "members_container");
  for (const s of sel.loading) {
    const busy = Array.from(container.querySelectorAll(s)).find(shown);
    if (busy) return waiting(`still loading (${s} is shown)`, "extract.loading");
  }
  const error = first(sel.load_error, container);
  if (shown(error)) return { state: "error", text: text(error) };

  const tables = Array.from(container.querySelectorAll(sel.table.join(", "))).filter(shown);
  const rows = [];
  for (const table of tables) {
    for (const row of table.querySelectorAll(sel.row.join(", "))) {
      if (!shown(row) || row.closest(sel.table.join(", ")) !== table) continue;
      const cells = row.querySelectorAll(sel.cell.join(", "));
      if (!cells.length || (row.parentElement && row.parentElement.tagName === "THEAD")) continue;
      if (Array.from(cells).every((c) => c.matches(sel.header_cell.join(", ")))) continue;
      rows.push(row);
    }
  }
  if (rows.length === 0 && !first(sel.empty_state, container)) {
    return waiting(tables.length ? "no member rows in the list" : "no table in the members area", tables.length ? "extract.row" : "extract.table");
  }
  // A row with no words (nothing, "Loading…", or only shade blocks) is a loading placeholder,
  // whatever its classes say.
  const placeholder = (r) => {
    const t = text(r);
    return (!/[\p{L}\p{N}]/u.test(t) || /^loading\b/i.test(t)) && !r.querySelector("select, input");
  };
  if (rows.some(placeholder)) {
    return waiting("rows without text (loading placeholders) are still shown", "extract.loading");
  }
  if (sel.text.require_member_count) {
    const css = Array.from(document.querySelectorAll(sel.member_count.join(", "))).some((el) => /\d/.test(text(el)));
    const body = container.innerText || "";
    const stated = css || arg.count_patterns.some((p) => new RegExp(p, "im").test(body));
    if (!stated) return waiting("no member count is shown", "extract.member_count");
  }
  const signature = [
    location.pathname + location.search,
    rows.length,
    rows.length ? text(rows[0]) : "",
    rows.length ? text(rows[rows.length - 1]) : "",
    text(first(sel.page_status, document)),
  ].join("\u241f");
  if (arg.previous !== null && signature === arg.previous) return waiting("the page did not change", "extract.next_button");
  return { state: "ready", signature };
}

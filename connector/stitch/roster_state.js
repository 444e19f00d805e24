// Is the member list settled? Evaluated by page.wait_for_function, which re-runs it after
// navigations. Returns null while loading; otherwise {state, signature, text}.
// Never looks at the spinner alone: "spinner gone" is not "rows loaded".
(arg) => {
  const sel = arg.sel;
  const first = (list, root) => {
    for (const s of list) { const el = root.querySelector(s); if (el) return el; }
    return null;
  };
  const rowsIn = (root) => {
    for (const s of sel.row) { const els = root.querySelectorAll(s); if (els.length) return els; }
    return [];
  };
  const shown = (el) => !!el && el.getClientRects().length > 0;
  const text = (el) => (el ? el.textContent : "").replace(/\s+/g, " ").trim();

  if (arg.app_origin && location.origin !== arg.app_origin) return { state: "signin" };
  for (const s of arg.signin) { if (document.querySelector(s)) return { state: "signin" }; }
  if (!first(arg.container, document)) return null;
  if (shown(first(sel.spinner, document))) return null;
  const error = first(sel.load_error, document);
  if (shown(error)) return { state: "error", text: text(error) };
  const table = first(sel.table, document);
  const rows = table ? rowsIn(table) : [];
  if (rows.length === 0 && !first(sel.empty_state, document)) return null;
  const signature = [
    location.pathname + location.search,
    rows.length,
    rows.length ? text(rows[0]) : "",
    rows.length ? text(rows[rows.length - 1]) : "",
    text(first(sel.page_status, document)),
  ].join("\u241f");
  if (arg.previous !== null && signature === arg.previous) return null;
  return { state: "ready", signature };
}

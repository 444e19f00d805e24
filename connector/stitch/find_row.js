// Which member rows show exactly this email? Returns their indices among the members area's
// row elements (document order, as Playwright's locator(...).nth() counts them). A row shows it
// when one of its elements' whole visible text is the address, or a mailto: link points to it.
(arg) => {
  const sel = arg.sel;
  const container = arg.container.map((s) => document.querySelector(s)).find((el) => el);
  if (!container) return [];
  const rowSel = sel.row.join(", ");
  const email = arg.email.toLowerCase();
  const shown = (el) => el.getAttribute("aria-hidden") !== "true" && el.getClientRects().length > 0;
  const all = Array.from(container.querySelectorAll(rowSel));
  const hits = [];
  all.forEach((row, index) => {
    if (!shown(row) || row.querySelector(rowSel)) return; // the innermost row only
    const texts = Array.from(row.querySelectorAll("*")).some(
      (el) => shown(el) && (el.textContent || "").replace(/\s+/g, " ").trim().toLowerCase() === email
    );
    const links = Array.from(row.querySelectorAll(sel.email_link.join(", "))).some((a) => {
      let target = (a.getAttribute("href") || "").slice(7).split("?")[0];
      try { target = decodeURIComponent(target); } catch (e) { /* keep it raw */ }
      return target.toLowerCase() === email;
    });
    if (texts || links) hits.push(index);
  });
  return hits;
}

/* The drift corpus ([P] entirely; docs/sandbox-dom.md "Drift corpus"): invented UI releases applied
 * on top of the sandbox's pages. Loaded (before sandbox.js) only while a mutation or a
 * --mutation-script is active; the active names are in <body data-mutations="...">.
 *
 * window.StitchMutations.register(name, transforms) adds a user's own mutation (a --mutation-script
 * file calls it); it is always active. `transforms` may hold, each optional:
 *   list(ctx)              after every render of the member list (count, rows and pagination drawn)
 *   listTiming(ctx, draw)  replaces when the list is drawn: call draw() later, or never
 *   dialog(ctx)            right after the confirm dialog (ctx.kind "deactivate" |
 *                          "cancel-invitation") or the row menu (ctx.kind "menu") is built
 *   app(ctx)               on every signed-in page, once loaded
 *   signin(ctx)            on every sign-in page (both origins), once loaded
 * Member data is untrusted: transforms only use textContent and setAttribute, never innerHTML.
 */
(function () {
  "use strict";

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        if (attrs[name] !== null && attrs[name] !== undefined) node.setAttribute(name, attrs[name]);
      });
    }
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function slice(list) {
    return Array.prototype.slice.call(list);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function remove(node) {
    if (node && node.parentNode) node.parentNode.removeChild(node);
  }

  function moveChildren(from, to) {
    while (from.firstChild) to.appendChild(from.firstChild);
    return to;
  }

  function hash(text) { // djb2, base36: stable "CSS module" names
    var h = 5381;
    for (var i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
    return h.toString(36);
  }

  function removeWith(node) { // an inline marker and the space before it
    if (!node) return;
    var before = node.previousSibling;
    if (before && before.nodeType === 3 && !before.textContent.trim()) remove(before);
    remove(node);
  }

  function setCookie(name, value, maxAge) {
    document.cookie = name + "=" + value + "; path=/; samesite=lax" + (maxAge ? "; max-age=" + maxAge : "");
  }

  // ------------------------------------------------------------------ the member table, any markup

  var KEYS = { name: /^name$/i, email: /^email/i, role: /^role$/i, status: /^status$/i };

  // The rendered list as rows of cells, for the div grid (current) and <table> (rbac2022, legacy).
  function shape(ctx) {
    var table = ctx.table;
    var s;
    if (table.tagName === "TABLE") {
      s = { table: table, grid: false, head: table.tHead, headRow: table.tHead.rows[0], body: table.tBodies[0] };
    } else {
      s = { table: table, grid: true, head: table.children[0], headRow: table.children[0].children[0], body: table.children[1] };
    }
    s.rows = slice(s.body.children);
    s.members = ctx.data.members;
    s.variant = ctx.variant;
    return s;
  }

  function headers(s) {
    return slice(s.headRow.children);
  }

  function col(s, key) {
    var cells = headers(s);
    if (key === "actions") return cells.length - 1;
    for (var i = 0; i < cells.length; i++) if (KEYS[key].test(cells[i].textContent.trim())) return i;
    return -1;
  }

  function cell(s, row, key) {
    return row.children[col(s, key)];
  }

  function newCell(s, head) {
    if (!s.grid) return head ? el("th", { scope: "col" }) : el("td");
    return el("div", { "class": head ? "rt-th" : "rt-td", role: head ? "columnheader" : "cell" });
  }

  function widenGrid(s) {
    if (!s.grid) return;
    var n = s.headRow.children.length;
    [s.headRow].concat(s.rows).forEach(function (row) {
      row.style.gridTemplateColumns = "repeat(" + (n - 1) + ", minmax(0, 1fr)) 48px";
    });
  }

  // A new column at `at`: its header holds `head` (a node or a text), each row `fn(member, index)`.
  function addColumn(s, at, head, fn) {
    var th = newCell(s, true);
    if (typeof head === "string") th.textContent = head; else th.appendChild(head);
    s.headRow.insertBefore(th, s.headRow.children[at] || null);
    s.rows.forEach(function (row, index) {
      var td = newCell(s, false);
      var content = fn(s.members[index], index);
      if (content) td.appendChild(content);
      row.insertBefore(td, row.children[at] || null);
    });
    widenGrid(s);
  }

  function firstElement(node) {
    return node ? node.firstElementChild : null;
  }

  function emailSpan(s, row) {
    return firstElement(cell(s, row, "email"));
  }

  function statusSpan(s, row) {
    return firstElement(cell(s, row, "status"));
  }

  function invoiceMarker(roleCell) {
    return slice(roleCell.children).filter(function (node) { return node.textContent === "Invoice Admin"; })[0] || null;
  }

  function youMarker(nameCell) {
    return slice(nameCell.children).filter(function (node) { return node.textContent === "(You)"; })[0] || null;
  }

  // Nothing on a row may still carry the full email where a person cannot see it.
  function stripEmailHints(s) {
    s.rows.forEach(function (row) {
      row.removeAttribute("data-email");
      slice(row.querySelectorAll("[aria-label]")).forEach(function (node) {
        if (node.tagName === "SELECT") node.setAttribute("aria-label", "Role");
        else node.setAttribute("aria-label", "Row actions");
      });
    });
  }

  function rowClass(s) {
    return s.rows.length ? s.rows[0].getAttribute("class") : (s.grid ? "rt-tr st-table__row--body" : "st-table__row--body");
  }

  // A table built with the same component as the member list (same classes), for other data.
  function lookalikeTable(s, label, heads, rows) {
    var table, headRow, body;
    if (s.grid) {
      table = el("div", { "class": s.table.getAttribute("class"), role: "table", "aria-label": label });
      var thead = el("div", { "class": s.head.getAttribute("class"), role: "rowgroup" });
      headRow = el("div", { "class": s.headRow.getAttribute("class"), role: "row" });
      body = el("div", { "class": s.body.getAttribute("class"), role: "rowgroup" });
      table.appendChild(thead).appendChild(headRow);
      table.appendChild(body);
    } else {
      table = el("table", { "class": s.table.getAttribute("class") });
      headRow = el("tr");
      table.appendChild(el("thead")).appendChild(headRow);
      body = table.appendChild(el("tbody"));
    }
    var shapeOf = { grid: s.grid };
    heads.forEach(function (text) { headRow.appendChild(newCell(shapeOf, true)).textContent = text; });
    rows.forEach(function (values) {
      var row = s.grid ? el("div", { "class": rowClass(s), role: "row" }) : el("tr", { "class": rowClass(s) });
      values.forEach(function (text) { row.appendChild(newCell(shapeOf, false)).textContent = text; });
      body.appendChild(row);
    });
    return table;
  }

  // Placeholder rows in the list's own markup: the rows' class, grey bars instead of data.
  function skeleton(ctx, n) {
    clear(ctx.root);
    ctx.root.setAttribute("aria-busy", "true");
    ctx.count.textContent = "";
    var heads = ctx.variant === "legacy" ? ["Name", "Email Address", "Role", "Status", ""] : ["Name", "Email", "Role", "Status", ""];
    var grid = ctx.variant === "current";
    var table, headRow, body;
    if (grid) {
      table = el("div", { "class": "rt-table st-member-table", role: "table", "aria-label": "Team members", "aria-busy": "true" });
      headRow = el("div", { "class": "rt-tr", role: "row" });
      table.appendChild(el("div", { "class": "rt-thead", role: "rowgroup" })).appendChild(headRow);
      body = table.appendChild(el("div", { "class": "rt-tbody", role: "rowgroup" }));
    } else {
      table = el("table", { "class": ctx.variant === "legacy" ? "st-table st-team-table" : "st-table", "aria-busy": "true" });
      headRow = el("tr");
      table.appendChild(el("thead")).appendChild(headRow);
      body = table.appendChild(el("tbody"));
    }
    heads.forEach(function (text) { headRow.appendChild(newCell({ grid: grid }, true)).textContent = text; });
    for (var i = 0; i < n; i++) {
      var row = grid ? el("div", { "class": "rt-tr st-table__row--body", role: "row", "aria-hidden": "true" })
        : el("tr", { "class": "st-table__row--body", "aria-hidden": "true" });
      heads.forEach(function (text, index) {
        var c = row.appendChild(newCell({ grid: grid }, false));
        if (index < 4) c.appendChild(el("span", { "class": "mut-skel" }));
      });
      body.appendChild(row);
    }
    ctx.root.appendChild(table);
  }

  function daysAgo(email) {
    var n = parseInt(hash(email), 36) % 27 + 2;
    return n + " days ago";
  }

  // ------------------------------------------------------------------ the built-in corpus

  var BUILTIN = {};

  // ---- sign-in and app interruptions (markup rendered by the server; see app.py) ----

  BUILTIN["signin-cookie-consent"] = {
    signin: function () {
      var overlay = document.getElementById("mut-cookie-consent");
      if (!overlay) return;
      var prefs = overlay.querySelector(".mut-consent__prefs");
      function choose(value) {
        setCookie("st_cookie_consent", value, 31536000);
        remove(overlay);
      }
      slice(overlay.querySelectorAll("[data-consent]")).forEach(function (button) {
        button.addEventListener("click", function () {
          var what = button.getAttribute("data-consent");
          if (what === "manage") prefs.hidden = !prefs.hidden;
          else choose(what === "accept" ? "all" : what === "reject" ? "necessary" : "custom");
        });
      });
    }
  };

  BUILTIN["app-whats-new"] = {
    app: function () {
      var overlay = document.getElementById("mut-whats-new");
      if (!overlay) return;
      function dismiss() {
        setCookie("st_whats_new_seen", "1", 0); // until the browser closes: once per session
        remove(overlay);
      }
      slice(overlay.querySelectorAll("[data-whats-new]")).forEach(function (button) {
        button.addEventListener("click", dismiss);
      });
    }
  };

  // signin-ids-renamed, signin-button-relabelled, signin-stay-signed-in: server-side only.

  // ---- the member list: exact ----

  BUILTIN["list-hashed-class-names"] = {
    list: function (ctx) {
      var s = shape(ctx);
      [ctx.root].concat(slice(ctx.root.querySelectorAll("[class]"))).forEach(function (node) {
        var classes = (node.getAttribute("class") || "").split(/\s+/).filter(Boolean);
        if (!classes.length) return;
        if (classes.indexOf("rt-tr") >= 0) { // keep the look: the module's CSS would do this
          node.style.display = "grid";
          node.style.gridTemplateColumns = "2fr 2.2fr 1.8fr 1.2fr 48px";
          node.style.borderBottom = "1px solid #dcdfe3";
        }
        node.setAttribute("class", classes.map(function (name) {
          return "_" + name.replace(/[^A-Za-z]/g, "").slice(0, 6) + "_" + hash(name).slice(0, 5);
        }).join(" "));
      });
      s.rows.forEach(function (row) {
        slice(row.querySelectorAll("[id^='st-t-']")).forEach(function (node) { node.removeAttribute("id"); });
      });
    }
  };

  BUILTIN["list-selection-checkbox-column"] = {
    list: function (ctx) {
      var s = shape(ctx);
      addColumn(s, 0, el("input", { type: "checkbox", "aria-label": "Select all members" }), function (member) {
        return el("input", { type: "checkbox", "aria-label": "Select " + member.email });
      });
    }
  };

  BUILTIN["list-last-signin-column"] = {
    list: function (ctx) {
      var s = shape(ctx);
      addColumn(s, col(s, "actions"), "Last sign-in", function (member) {
        var text = member.is_viewer ? "Just now" : member.status === "pending" ? "Never" : daysAgo(member.email);
        return el("span", { "class": "mut-last-signin" }, text);
      });
    }
  };

  BUILTIN["list-columns-reordered"] = {
    list: function (ctx) {
      var s = shape(ctx);
      var order = ["status", "name", "role", "email", "actions"].map(function (key) { return col(s, key); });
      [s.headRow].concat(s.rows).forEach(function (row) {
        var cells = slice(row.children);
        order.forEach(function (index) { row.appendChild(cells[index]); });
      });
    }
  };

  BUILTIN["list-headers-uppercase-icon"] = {
    list: function (ctx) {
      var s = shape(ctx);
      headers(s).forEach(function (th) {
        if (th.querySelector(".st-sr-only") || !th.textContent.trim()) return;
        th.textContent = th.textContent.trim().toUpperCase();
        th.appendChild(el("span", { "class": "mut-icon", "aria-hidden": "true", title: "About this column" }, "\u24d8"));
      });
    }
  };

  BUILTIN["list-status-dot"] = {
    list: function (ctx) {
      var s = shape(ctx);
      s.rows.forEach(function (row, index) {
        var span = statusSpan(s, row);
        var pending = s.members[index].status === "pending";
        span.insertBefore(document.createTextNode(" "), span.firstChild);
        span.insertBefore(el("span", { "class": "mut-dot" + (pending ? " mut-dot--pending" : ""), "aria-hidden": "true" }, "\u25cf"), span.firstChild);
      });
    }
  };

  BUILTIN["list-you-chip"] = {
    list: function (ctx) {
      var s = shape(ctx);
      s.rows.forEach(function (row) {
        var marker = youMarker(cell(s, row, "name"));
        if (!marker) return;
        var parent = marker.parentNode;
        var next = marker.nextSibling;
        removeWith(marker); // and the space before it: the chip is glued to the name
        parent.insertBefore(el("span", { "class": "mut-chip" }, "You"), next);
      });
    }
  };

  BUILTIN["list-email-mailto-copy"] = {
    list: function (ctx) {
      var s = shape(ctx);
      s.rows.forEach(function (row, index) {
        var email = s.members[index].email;
        var span = emailSpan(s, row);
        var link = el("a", { href: "mailto:" + email }, email);
        var copy = el("button", { type: "button", "class": "mut-icon-button", "aria-label": "Copy email address", title: "Copy" });
        copy.appendChild(el("span", { "aria-hidden": "true" }, "\u29c9"));
        span.parentNode.insertBefore(link, span);
        span.parentNode.insertBefore(copy, span);
        remove(span);
      });
    }
  };

  BUILTIN["list-email-new-chip"] = {
    list: function (ctx) {
      var s = shape(ctx);
      s.rows.forEach(function (row, index) {
        var member = s.members[index];
        if (member.is_viewer || member.status !== "active" || index % 4 !== 1) return;
        var span = emailSpan(s, row);
        span.parentNode.insertBefore(el("span", { "class": "mut-chip mut-chip--new" }, "New"), span.nextSibling);
      });
    }
  };

  BUILTIN["list-cell-wrappers"] = {
    list: function (ctx) {
      var s = shape(ctx);
      var actions = col(s, "actions");
      s.rows.forEach(function (row) {
        slice(row.children).forEach(function (td, index) {
          if (index === actions) return;
          var text = td.textContent.replace(/\s+/g, " ").trim();
          var outer = el("div", { "class": "mut-cell" });
          var inner = outer.appendChild(el("div", { "class": "mut-cell__inner" }));
          var truncate = inner.appendChild(el("span", { "class": "mut-truncate", title: text }));
          moveChildren(td, truncate);
          outer.appendChild(el("span", { role: "tooltip", hidden: "" }, text));
          td.appendChild(outer);
        });
      });
    }
  };

  function rebuild(ctx, build) {
    var s = shape(ctx);
    var parts = build(s);
    var moveRow = function (row, makeRow, makeCell) {
      var out = makeRow(row);
      slice(row.children).forEach(function (c) { out.appendChild(moveChildren(c, makeCell())); });
      return out;
    };
    parts.container.appendChild(moveRow(s.headRow, parts.headRow, parts.headCell));
    s.rows.forEach(function (row) { parts.body.appendChild(moveRow(row, parts.row, parts.cell)); });
    s.table.parentNode.replaceChild(parts.container, s.table);
  }

  BUILTIN["list-aria-grid"] = {
    list: function (ctx) {
      rebuild(ctx, function (s) {
        var grid = el("div", { role: "grid", "aria-label": "Team members", "aria-rowcount": String(s.rows.length + 1), "class": "mut-grid" });
        return {
          container: grid, body: grid,
          headRow: function () { return el("div", { role: "row", "aria-rowindex": "1", "class": "mut-grid__row mut-grid__head" }); },
          headCell: function () { return el("div", { role: "columnheader" }); },
          row: function (row) {
            return el("div", { role: "row", "class": "mut-grid__row", "data-member-id": row.getAttribute("data-member-id") });
          },
          cell: function () { return el("div", { role: "gridcell" }); }
        };
      });
    }
  };

  BUILTIN["list-ul-rows"] = {
    list: function (ctx) {
      rebuild(ctx, function () {
        var list = el("ul", { role: "table", "aria-label": "Team members", "class": "mut-list" });
        return {
          container: list, body: list,
          headRow: function () { return el("li", { role: "row", "class": "mut-list__row mut-list__head" }); },
          headCell: function () { return el("span", { role: "columnheader" }); },
          row: function (row) { return el("li", { role: "row", "class": "mut-list__row", "data-member-id": row.getAttribute("data-member-id") }); },
          cell: function () { return el("span", { role: "cell" }); }
        };
      });
    }
  };

  BUILTIN["list-hidden-mobile-cards"] = {
    list: function (ctx) {
      var s = shape(ctx);
      var cards = el("div", { "class": "mut-cards", style: "display:none" });
      s.rows.forEach(function (row, index) {
        var member = s.members[index];
        var card = cards.appendChild(el("div", { "class": "mut-card", "data-member-id": member.id, "data-email": member.email }));
        card.appendChild(el("div", { "class": "mut-card__name" }, member.name || "\u2014"));
        card.appendChild(el("div", { "class": "mut-card__email" }, member.email));
        card.appendChild(el("div", { "class": "mut-card__role" }, cell(s, row, "role").textContent.trim()));
        card.appendChild(el("div", { "class": "mut-card__status" }, cell(s, row, "status").textContent.trim()));
      });
      s.table.parentNode.insertBefore(cards, s.table);
    }
  };

  BUILTIN["list-api-keys-table"] = {
    list: function (ctx) {
      var s = shape(ctx);
      var title = el("h3", { "class": "mut-section-title" }, "API keys");
      var keys = lookalikeTable(s, "API keys", ["Key", "Description", "Created", "Status"], [
        ["\u20267c1e", "Nightly export", "Mar 30, 2019", "Enabled"],
        ["\u2026a94f", "dbt Cloud", "Jan 12, 2024", "Revoked"]
      ]);
      s.table.parentNode.insertBefore(keys, s.table.nextSibling);
      s.table.parentNode.insertBefore(title, keys);
    }
  };

  BUILTIN["list-invited-section"] = {
    list: function (ctx) {
      var s = shape(ctx);
      var pending = s.rows.filter(function (row, index) { return s.members[index].status === "pending"; });
      if (!pending.length) return;
      var table = s.table.cloneNode(false);
      if (s.grid) table.setAttribute("aria-label", "Invitations");
      table.appendChild(s.head.cloneNode(true));
      var body = table.appendChild(s.body.cloneNode(false));
      pending.forEach(function (row) { body.appendChild(row); });
      var title = el("h3", { "class": "mut-section-title" }, "Invited \u2014 awaiting acceptance");
      s.table.parentNode.insertBefore(table, s.table.nextSibling);
      s.table.parentNode.insertBefore(title, table);
    }
  };

  BUILTIN["list-aria-busy-placeholders"] = {
    listTiming: function (ctx, draw) {
      skeleton(ctx, 6);
      window.setTimeout(draw, 1000);
    }
  };

  BUILTIN["list-count-late"] = {
    list: function (ctx) {
      var count = ctx.count;
      var text = count.textContent;
      var token = {};
      count.textContent = "";
      count.mutCountToken = token;
      window.setTimeout(function () {
        if (count.mutCountToken === token) count.textContent = text;
      }, 800);
    }
  };

  BUILTIN["list-range-status"] = {
    list: function (ctx) {
      var status = document.getElementById("st-t-pagination-status");
      if (!status) return;
      var data = ctx.data;
      var first = (data.page - 1) * data.page_size + 1;
      var last = Math.min(data.page * data.page_size, data.total);
      var label = el("span", { role: "status" }, "Showing " + first + "\u2013" + last + " of " + data.total + " members");
      status.parentNode.replaceChild(label, status);
    }
  };

  BUILTIN["list-next-chevron-link"] = {
    list: function (ctx) {
      [["st-t-pagination-button-previous", "Previous page", "\u2039"], ["st-t-pagination-button-next", "Next page", "\u203a"]]
        .forEach(function (spec) {
          var button = document.getElementById(spec[0]);
          if (!button) return;
          var link = el("a", { href: "#", role: "button", "aria-label": spec[1], "class": "mut-pager-link" }, spec[2]);
          if (button.disabled) link.setAttribute("aria-disabled", "true");
          link.addEventListener("click", function (event) {
            event.preventDefault();
            if (!button.disabled) button.click(); // the old button's handler, detached
          });
          button.parentNode.replaceChild(link, button);
        });
    }
  };

  BUILTIN["list-invoice-admin-column"] = {
    list: function (ctx) {
      var s = shape(ctx);
      s.rows.forEach(function (row) { removeWith(invoiceMarker(cell(s, row, "role"))); });
      addColumn(s, col(s, "role") + 1, "Invoice Admin", function (member) {
        return member.invoice_admin ? el("span", { role: "img", "aria-label": "Yes", title: "Invoice Admin" }, "\u2713") : null;
      });
    }
  };

  BUILTIN["list-invoice-admin-switch"] = {
    list: function (ctx) {
      var s = shape(ctx);
      s.rows.forEach(function (row) { removeWith(invoiceMarker(cell(s, row, "role"))); });
      addColumn(s, col(s, "status"), "Invoice Admin", function (member) {
        return el("button", {
          type: "button", role: "switch", "class": "mut-switch",
          "aria-checked": member.invoice_admin ? "true" : "false", "aria-label": "Invoice Admin"
        });
      });
    }
  };

  BUILTIN["list-role-listbox"] = {
    list: function (ctx) {
      var s = shape(ctx);
      s.rows.forEach(function (row) {
        var select = cell(s, row, "role").querySelector("select");
        if (!select) return;
        var current = select.options[select.selectedIndex].textContent;
        var wrap = el("span", { "class": "mut-role-picker", style: "position:relative" });
        var button = wrap.appendChild(el("button", {
          type: "button", "class": "mut-role-button", "aria-haspopup": "listbox", "aria-expanded": "false",
          "aria-label": select.getAttribute("aria-label")
        }, current));
        button.appendChild(el("span", { "aria-hidden": "true" }, " \u25be"));
        var listbox = wrap.appendChild(el("ul", { role: "listbox", "class": "mut-listbox", hidden: "" }));
        slice(select.options).forEach(function (option) {
          listbox.appendChild(el("li", { role: "option", "aria-selected": option.selected ? "true" : "false" }, option.textContent));
        });
        button.addEventListener("click", function () {
          listbox.hidden = !listbox.hidden;
          button.setAttribute("aria-expanded", listbox.hidden ? "false" : "true");
        });
        select.parentNode.replaceChild(wrap, select);
      });
    }
  };

  BUILTIN["list-email-under-name"] = {
    list: function (ctx) {
      var s = shape(ctx);
      s.rows.forEach(function (row, index) {
        cell(s, row, "name").appendChild(el("span", { "class": "mut-sub" }, s.members[index].email));
      });
    }
  };

  BUILTIN["list-status-pending-short"] = {
    list: function (ctx) {
      var s = shape(ctx);
      s.rows.forEach(function (row, index) {
        if (s.members[index].status === "pending") statusSpan(s, row).textContent = "Pending";
      });
    }
  };

  // ---- the member list: loud ----

  BUILTIN["list-email-ellipsis"] = {
    list: function (ctx) {
      var s = shape(ctx);
      stripEmailHints(s);
      s.rows.forEach(function (row) {
        var span = emailSpan(s, row);
        var email = span.textContent;
        if (email.length > 18) span.textContent = email.slice(0, 17) + "\u2026";
      });
    }
  };

  BUILTIN["list-email-role-suffix"] = {
    list: function (ctx) {
      var s = shape(ctx);
      stripEmailHints(s);
      s.rows.forEach(function (row, index) {
        if (s.members[index].role === "Administrator") emailSpan(s, row).textContent = s.members[index].email + "ADMIN";
      });
    }
  };

  BUILTIN["list-emails-masked"] = {
    list: function (ctx) {
      var s = shape(ctx);
      stripEmailHints(s);
      s.rows.forEach(function (row, index) {
        var parts = s.members[index].email.split("@");
        emailSpan(s, row).textContent = parts[0].slice(0, 1) + "\u2022\u2022\u2022\u2022\u2022@" + parts.slice(1).join("@");
      });
    }
  };

  BUILTIN["list-invoice-marker-renamed"] = {
    list: function (ctx) {
      var s = shape(ctx);
      s.rows.forEach(function (row) {
        var marker = invoiceMarker(cell(s, row, "role"));
        if (marker) marker.textContent = "Tier 2";
      });
    }
  };

  BUILTIN["list-invoice-marker-every-row"] = {
    list: function (ctx) {
      var s = shape(ctx);
      var pillClass = s.variant === "legacy" ? "st-role st-role--invoice" : "st-pill st-pill--invoice-admin";
      s.rows.forEach(function (row) {
        var roleCell = cell(s, row, "role");
        if (invoiceMarker(roleCell)) return;
        roleCell.appendChild(document.createTextNode(" "));
        roleCell.appendChild(el("span", { "class": pillClass }, "Invoice Admin"));
      });
    }
  };

  BUILTIN["list-status-icons-only"] = {
    list: function (ctx) {
      var s = shape(ctx);
      var glyphs = { active: "\u25cf", pending: "\u25d0", deactivated: "\u25cb" };
      s.rows.forEach(function (row, index) {
        var span = statusSpan(s, row);
        span.textContent = glyphs[s.members[index].status] || "\u25cc";
        span.setAttribute("class", "mut-status-icon");
      });
    }
  };

  BUILTIN["list-count-removed"] = {
    list: function (ctx) {
      remove(ctx.count);
    }
  };

  BUILTIN["list-count-mismatch"] = {
    list: function (ctx) {
      var total = ctx.data.total + 7;
      var noun = ctx.variant === "legacy" ? " team members" : " members";
      ctx.count.textContent = total.toLocaleString("en-US") + noun;
    }
  };

  BUILTIN["list-header-row-removed"] = {
    list: function (ctx) {
      var s = shape(ctx);
      remove(s.head);
    }
  };

  BUILTIN["list-roles-owner-member"] = {
    list: function (ctx) {
      var s = shape(ctx);
      var names = { "Administrator": "Owner", "SSO Admin": "Owner", "General User": "Member" };
      s.rows.forEach(function (row) {
        slice(cell(s, row, "role").querySelectorAll("span, option")).forEach(function (node) {
          var text = node.textContent;
          if (Object.prototype.hasOwnProperty.call(names, text)) node.textContent = names[text];
        });
      });
    }
  };

  BUILTIN["list-virtualised-first-20"] = {
    list: function (ctx) {
      var s = shape(ctx);
      var hidden = s.rows.slice(20);
      if (!hidden.length) return;
      hidden.forEach(remove);
      s.table.setAttribute("aria-rowcount", String(s.rows.length + 1));
      var spacer = el("div", { "class": "mut-spacer", "aria-hidden": "true", style: "height:" + hidden.length * 37 + "px" });
      s.table.parentNode.insertBefore(spacer, s.table.nextSibling);
    }
  };

  BUILTIN["list-skeleton-forever"] = {
    listTiming: function (ctx) {
      skeleton(ctx, 6); // and never draw()
    }
  };

  BUILTIN["list-you-on-two-rows"] = {
    list: function (ctx) {
      var s = shape(ctx);
      var marker = null;
      s.rows.forEach(function (row) { marker = marker || youMarker(cell(s, row, "name")); });
      var other = s.rows.filter(function (row, index) { return !s.members[index].is_viewer; })[0];
      if (!other) return;
      var copy = marker ? marker.cloneNode(true) : el("span", { "class": "st-member-name__you" }, "(You)");
      var nameCell = cell(s, other, "name");
      nameCell.appendChild(document.createTextNode(" "));
      nameCell.appendChild(copy);
    }
  };

  // ---- write dialogs and row menus ----

  BUILTIN["dialog-email-omitted"] = {
    dialog: function (ctx) {
      if (ctx.kind === "menu") return;
      var deactivate = ctx.kind === "deactivate";
      ctx.title.textContent = deactivate ? "Deactivate this team member?" : "Cancel this invitation?";
      clear(ctx.body);
      ctx.body.appendChild(el("p", null, deactivate
        ? "They will lose access to this Stitch account. You can re-add them later."
        : "The invitation link will stop working."));
    }
  };

  function relabelDeactivate(nodes) {
    nodes.forEach(function (node) {
      if (node.textContent.trim() === "Deactivate") node.textContent = "Remove user";
    });
  }

  BUILTIN["dialog-deactivate-relabelled"] = {
    dialog: function (ctx) {
      if (ctx.kind === "menu") relabelDeactivate(slice(ctx.menu.querySelectorAll("[role=menuitem]")));
    },
    list: function (ctx) { // legacy: the Deactivate buttons sit on the rows
      relabelDeactivate(slice(ctx.root.querySelectorAll("button[id^='st-t-deactivate-']")));
    }
  };

  BUILTIN["dialog-buttons-reversed"] = {
    dialog: function (ctx) {
      if (ctx.kind === "menu") return;
      ctx.confirm.textContent = ctx.kind === "deactivate" ? "Yes, deactivate" : "Yes, cancel invitation";
      ctx.dismiss.parentNode.insertBefore(ctx.confirm, ctx.dismiss);
    }
  };

  BUILTIN["dialog-type-to-confirm"] = {
    dialog: function (ctx) {
      if (ctx.kind === "menu") return;
      var email = ctx.member.email;
      var inputId = ctx.dialog.id + "-typed";
      ctx.body.appendChild(el("label", { "for": inputId }, "Type " + email + " to confirm"));
      var input = ctx.body.appendChild(el("input", { id: inputId, type: "text", autocomplete: "off", spellcheck: "false" }));
      ctx.confirm.disabled = true;
      input.addEventListener("input", function () {
        ctx.confirm.disabled = input.value.trim().toLowerCase() !== email.toLowerCase();
      });
    }
  };

  // ------------------------------------------------------------------ the engine

  var USER = []; // [name, transforms] from a --mutation-script: always active

  function active() {
    var names = ((document.body && document.body.getAttribute("data-mutations")) || "").split(/\s+/).filter(Boolean);
    var out = [];
    names.forEach(function (name) { if (BUILTIN[name]) out.push([name, BUILTIN[name]]); });
    return out.concat(USER);
  }

  function call(name, fn, args) {
    try {
      fn.apply(null, args);
    } catch (error) { // a broken transform must not stop the page: report it and go on
      if (window.console) window.console.error("mutation " + name + " failed:", error);
    }
  }

  window.StitchMutations = {
    register: function (name, transforms) {
      USER.push([String(name), transforms || {}]);
    },
    names: function () {
      return active().map(function (entry) { return entry[0]; });
    },
    run: function (area, ctx) {
      ctx.el = el;
      active().forEach(function (entry) {
        if (typeof entry[1][area] === "function") call(entry[0], entry[1][area], [ctx]);
      });
    },
    listTiming: function (ctx, draw) {
      ctx.el = el;
      var timing = active().filter(function (entry) { return typeof entry[1].listTiming === "function"; })[0];
      if (timing) call(timing[0], timing[1].listTiming, [ctx, draw]);
      else draw();
    },
    helpers: { el: el, clear: clear, remove: remove, hash: hash }
  };
})();

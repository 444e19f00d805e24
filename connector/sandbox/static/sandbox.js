/* The sandbox's only script: the user menu and the client-side member list (docs/sandbox-dom.md).
 * Member data is untrusted (any Unicode, markup, quotes), so it only ever goes in via textContent
 * and setAttribute: never innerHTML.
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

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // ------------------------------------------------------------------ user menu

  function initUserMenu() {
    var trigger = document.querySelector("[aria-controls='st-t-user-menu-dropdown']");
    var menu = document.getElementById("st-t-user-menu-dropdown");
    if (!trigger || !menu) return;

    function setOpen(open) {
      menu.hidden = !open;
      trigger.setAttribute("aria-expanded", open ? "true" : "false");
    }

    trigger.addEventListener("click", function (event) {
      event.preventDefault(); // the legacy trigger is an <a href="#">
      setOpen(menu.hidden);
      if (!menu.hidden) {
        var first = menu.querySelector("[role=menuitem]");
        if (first) first.focus();
      }
    });
    document.addEventListener("click", function (event) {
      if (!menu.hidden && !menu.contains(event.target) && !trigger.contains(event.target)) setOpen(false);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !menu.hidden) {
        setOpen(false);
        trigger.focus();
      }
    });
  }

  // ------------------------------------------------------------------ member list

  // [P] labels except the role names (docs/sandbox-dom.md drift table).
  var LABELS = {
    current: { admin: "Administrator", status: { active: "Active", pending: "Invitation pending", deactivated: "Deactivated" } },
    rbac2022: { admin: "Administrator", status: { active: "Active", pending: "Invitation pending", deactivated: "Deactivated" } },
    legacy: { admin: "SSO Admin", status: { active: "Active", pending: "Invited", deactivated: "Deactivated" } }
  };
  var ROLES = ["Administrator", "General User"];

  function readPageFromUrl() {
    var raw = new URL(window.location.href).searchParams.get("page");
    var page = raw === null ? 1 : parseInt(raw, 10);
    return isFinite(page) && page >= 1 ? page : 1;
  }

  function goToSignIn(page) {
    var target = window.location.pathname + "?page=" + page;
    window.location.assign("/session/create?redirect=" + encodeURIComponent(target));
  }

  function formatCount(total, variant) {
    var noun = variant === "legacy" ? "team member" : "member";
    return total.toLocaleString("en-US") + " " + noun + (total === 1 ? "" : "s");
  }

  // The content of each cell, shared by the three markups.
  function nameCell(member, variant) {
    var nodes = [el("span", { "class": "st-member-name__text" }, member.name ? member.name : "\u2014")];
    if (member.is_viewer) {
      nodes.push(document.createTextNode(" "));
      nodes.push(variant === "legacy"
        ? el("em", { "class": "st-you" }, "(You)")
        : el("span", { "class": "st-member-name__you" }, "(You)"));
    }
    return nodes;
  }

  function emailCell(member) {
    return [el("span", { id: "st-t-member-email-" + member.id }, member.email)];
  }

  function roleCell(member, variant, viewerIsAdmin) {
    var labels = LABELS[variant];
    var nodes = [];
    if (variant === "legacy") {
      nodes.push(el("span", { "class": "st-role" }, member.role === "Administrator" ? labels.admin : member.role));
    } else if (viewerIsAdmin && !member.is_viewer) {
      var select = el("select", { id: "st-t-member-role-" + member.id, "aria-label": "Role for " + member.email });
      ROLES.forEach(function (role) {
        var option = el("option", { value: role }, role);
        if (role === member.role) option.selected = true;
        select.appendChild(option);
      });
      nodes.push(select);
    } else {
      nodes.push(el("span", { "class": "st-member-role" }, member.role)); // the viewer's own role: plain text
    }
    if (member.invoice_admin) {
      nodes.push(document.createTextNode(" "));
      nodes.push(variant === "legacy"
        ? el("span", { "class": "st-role st-role--invoice" }, "Invoice Admin")
        : el("span", { "class": "st-pill st-pill--invoice-admin" }, "Invoice Admin"));
    }
    return nodes;
  }

  function statusCell(member, variant) {
    var label = LABELS[variant].status[member.status] || member.status;
    return [el("span", { id: "st-t-member-status-" + member.id, "class": "st-status st-status--" + member.status }, label)];
  }

  // Inert for now: the write flows (Deactivate) come later.
  function actionsCell(member, variant, viewerIsAdmin) {
    if (member.is_viewer) return [];
    if (variant === "legacy") {
      return [el("button", { type: "button", "class": "st-button st-button--danger", id: "st-t-deactivate-" + member.id }, "Deactivate")];
    }
    if (!viewerIsAdmin) return [];
    return [el("button", {
      type: "button", "class": "st-kebab", id: "st-t-member-menu-" + member.id,
      "aria-label": "Actions for " + member.email, "aria-haspopup": "menu"
    }, "\u22ee")];
  }

  function cellsFor(member, variant, viewerIsAdmin) {
    return [
      nameCell(member, variant),
      emailCell(member),
      roleCell(member, variant, viewerIsAdmin),
      statusCell(member, variant),
      actionsCell(member, variant, viewerIsAdmin)
    ];
  }

  function fill(parent, nodes) {
    nodes.forEach(function (node) { parent.appendChild(node); });
    return parent;
  }

  function headerLabels(variant) {
    return variant === "legacy" ? ["Name", "Email Address", "Role", "Status"] : ["Name", "Email", "Role", "Status"];
  }

  function renderGrid(data) { // current: react-table divs
    var viewerIsAdmin = data.viewer.is_admin;
    var table = el("div", { "class": "rt-table st-member-table", role: "table", "aria-label": "Team members" });
    var thead = el("div", { "class": "rt-thead", role: "rowgroup" });
    var headRow = el("div", { "class": "rt-tr", role: "row" });
    headerLabels("current").forEach(function (label) {
      headRow.appendChild(el("div", { "class": "rt-th", role: "columnheader" }, label));
    });
    headRow.appendChild(fill(el("div", { "class": "rt-th", role: "columnheader" }), [el("span", { "class": "st-sr-only" }, "Actions")]));
    thead.appendChild(headRow);
    table.appendChild(thead);
    var tbody = el("div", { "class": "rt-tbody", role: "rowgroup" });
    data.members.forEach(function (member) {
      var row = el("div", { "class": "rt-tr st-table__row--body", role: "row", "data-member-id": member.id, "data-email": member.email });
      cellsFor(member, "current", viewerIsAdmin).forEach(function (nodes) {
        row.appendChild(fill(el("div", { "class": "rt-td", role: "cell" }), nodes));
      });
      tbody.appendChild(row);
    });
    table.appendChild(tbody);
    return table;
  }

  function renderTable(data, variant) { // rbac2022 and legacy: a real <table>
    var viewerIsAdmin = data.viewer.is_admin;
    var table = el("table", { "class": variant === "legacy" ? "st-table st-team-table" : "st-table" });
    var headRow = el("tr");
    headerLabels(variant).forEach(function (label) { headRow.appendChild(el("th", { scope: "col" }, label)); });
    var actions = el("th", { scope: "col" });
    if (variant !== "legacy") actions.appendChild(el("span", { "class": "st-sr-only" }, "Actions"));
    headRow.appendChild(actions);
    table.appendChild(fill(el("thead"), [headRow]));
    var tbody = el("tbody");
    data.members.forEach(function (member) {
      var row = el("tr", { "class": "st-table__row--body", "data-member-id": member.id, "data-email": member.email });
      cellsFor(member, variant, viewerIsAdmin).forEach(function (nodes) { row.appendChild(fill(el("td"), nodes)); });
      tbody.appendChild(row);
    });
    table.appendChild(tbody);
    return table;
  }

  function initMembers() {
    var root = document.getElementById("st-t-members-root");
    var section = root && root.closest("[data-members-api]");
    if (!section) return;
    var api = section.getAttribute("data-members-api");
    var variant = section.getAttribute("data-variant") || "current";
    var count = document.getElementById("st-t-member-count");
    var requestSeq = 0; // only the newest request may draw: clicks can overtake each other

    function showSpinner() {
      clear(root);
      root.setAttribute("aria-busy", "true");
      root.appendChild(el("div", { "class": "st-spinner", role: "progressbar", "aria-label": "Loading members" }));
    }

    function showError() {
      clear(root);
      root.removeAttribute("aria-busy");
      // [P] text; no automatic retry: reloading the page tries again.
      root.appendChild(el("div", { "class": "st-alert st-alert--error", role: "alert" }, "Something went wrong. Please try again."));
    }

    function keepPageInUrl(page) {
      var url = new URL(window.location.href);
      if (page === 1 && !url.searchParams.has("page")) return;
      url.searchParams.set("page", String(page));
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    }

    function render(data) {
      clear(root);
      root.removeAttribute("aria-busy");
      count.textContent = formatCount(data.total, variant);
      root.appendChild(variant === "current" ? renderGrid(data) : renderTable(data, variant));
      if (data.total === 1) {
        root.appendChild(el("p", { id: "st-t-members-empty" }, "You're the only member of this account.")); // [P]
      }
      if (data.total > data.page_size) {
        var status = el("span", { id: "st-t-pagination-status" }, "Page " + data.page + " of " + data.page_count); // [P]
        var previous = el("button", { type: "button", id: "st-t-pagination-button-previous" }, "Previous"); // [P]
        var next = el("button", { type: "button", id: "st-t-pagination-button-next" }, "Next"); // [S] id
        previous.disabled = data.page <= 1;
        next.disabled = data.page >= data.page_count;
        previous.addEventListener("click", function () { load(data.page - 1); });
        next.addEventListener("click", function () { load(data.page + 1); });
        root.appendChild(fill(el("div", { "class": "st-pagination" }), [status, previous, next]));
      }
      keepPageInUrl(data.page);
    }

    function load(page) {
      var seq = ++requestSeq;
      showSpinner();
      fetch(api + "?page=" + page, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (seq !== requestSeq) return null;
          if (response.status === 401) {
            goToSignIn(page);
            return null;
          }
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json().then(function (data) {
            if (seq === requestSeq) render(data);
          });
        })
        .catch(function () {
          if (seq === requestSeq) showError();
        });
    }

    load(readPageFromUrl());
  }

  function init() {
    initUserMenu();
    initMembers();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

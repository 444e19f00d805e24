/* The sandbox's only script: the user menu, the client-side member list and its write flows
 * (Deactivate, Cancel/Resend invitation, Add a Team Member, role changes, Reactivate;
 * docs/sandbox-dom.md "Write flows" and "Member lifecycle").
 * Member data is untrusted (any Unicode, markup, quotes), so it only ever goes in via textContent
 * and setAttribute: never innerHTML.
 */
(function () {
  "use strict";

  // The drift corpus (mutations.js, docs/sandbox-dom.md "Drift corpus"): only loaded while a
  // mutation or a --mutation-script is active; without it every code path below is unchanged.
  var MUTATIONS = window.StitchMutations || null;

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
  // The server's check (connector/sandbox/options.py EMAIL_RE): loose, it only rejects typos and markup.
  var EMAIL_RE = /^[^@\s<>"`]+@[^@\s<>"`]+\.[^@\s<>"`]+$/;

  // --drift ([P], an invented release; docs/sandbox-dom.md "Drift"): renamed row and name classes,
  // the columns reordered (headers and cells together), the Deactivate controls relabelled.
  // Every id stays as it is.
  var DRIFT = {
    rowClass: "st-members__row",
    nameClass: "st-member-name__label",
    columns: [1, 0, 3, 2, 4], // Email, Name, Status, Role, then the actions column
    deactivate: { menu: "Remove from account", row: "Remove", confirm: "Remove" }
  };
  var LOOK = {
    rowClass: "st-table__row--body",
    nameClass: "st-member-name__text",
    columns: [0, 1, 2, 3, 4], // Name, Email, Role, Status, then the actions column
    deactivate: { menu: "Deactivate", row: "Deactivate", confirm: "Deactivate" }
  };

  function reorder(items, look) {
    return look.columns.filter(function (index) { return index < items.length; })
      .map(function (index) { return items[index]; });
  }

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
  function nameCell(member, variant, look) {
    var nodes = [el("span", { "class": look.nameClass }, member.name ? member.name : "\u2014")];
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

  function roleCell(member, variant, viewerIsAdmin, hooks) {
    var labels = LABELS[variant];
    var nodes = [];
    if (variant === "legacy") {
      nodes.push(el("span", { "class": "st-role" }, member.role === "Administrator" ? labels.admin : member.role));
    } else if (viewerIsAdmin && !member.is_viewer && member.status !== "deactivated") {
      var select = el("select", { id: "st-t-member-role-" + member.id, "aria-label": "Role for " + member.email });
      ROLES.forEach(function (role) {
        var option = el("option", { value: role }, role);
        if (role === member.role) option.selected = true;
        select.appendChild(option);
      });
      select.addEventListener("change", function () { hooks.changeRole(member, select); });
      nodes.push(select);
    } else {
      nodes.push(el("span", { "class": "st-member-role" }, member.role)); // own row, deactivated rows, General-User viewers: plain text
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

  // ------------------------------------------------------------------ row actions (write flows)

  // [P] everything here except "The user was deactivated!" ([S-old], the same in every variant) and
  // the Deactivate label [S]. Texts and ids: docs/sandbox-dom.md "Write flows".
  var GENERIC_ERROR = "Something went wrong. Please try again.";
  var ACTIONS = {
    deactivate: {
      label: "Deactivate", legacyId: "st-t-deactivate-", danger: true,
      success: "The user was deactivated!", confirm: "deactivate"
    },
    resend_invitation: {
      label: "Resend invitation", legacyId: "st-t-resend-invitation-", danger: false,
      success: "Invitation re-sent.", confirm: null
    },
    cancel_invitation: {
      label: "Cancel invitation", legacyId: "st-t-cancel-invitation-", danger: true,
      success: "Invitation cancelled.", confirm: "cancel-invitation"
    },
    reactivate: { // [P] label and banner (mirrors the [S-old] deactivation banner), no dialog
      label: "Reactivate", legacyId: "st-t-reactivate-", danger: false,
      success: "The user was reactivated!", confirm: null
    }
  };
  var ROLE_UPDATED = "Role updated."; // [P]

  function actionsFor(member) {
    if (member.is_viewer) return [];
    if (member.status === "active") return ["deactivate"];
    if (member.status === "pending") return ["resend_invitation", "cancel_invitation"];
    if (member.status === "deactivated") return ["reactivate"]; // only listed with --keep-deactivated
    return [];
  }

  // legacy: buttons on the row, shown to every viewer (the server refuses non-Administrators);
  // current/rbac2022: a ⋮ menu, for Administrator viewers only.
  function actionsCell(member, variant, viewerIsAdmin, hooks, look) {
    var actions = actionsFor(member);
    if (!actions.length) return [];
    if (variant === "legacy") {
      return actions.map(function (key) {
        var spec = ACTIONS[key];
        var button = el("button", {
          type: "button", id: spec.legacyId + member.id,
          "class": "st-button st-row-action" + (spec.danger ? " st-button--danger" : "")
        }, key === "deactivate" ? look.deactivate.row : spec.label);
        button.addEventListener("click", function () { hooks.act(key, member, button); });
        return button;
      });
    }
    if (!viewerIsAdmin) return [];
    var kebab = el("button", {
      type: "button", "class": "st-kebab", id: "st-t-member-menu-" + member.id,
      "aria-label": "Actions for " + member.email, "aria-haspopup": "menu", "aria-expanded": "false"
    }, "\u22ee");
    kebab.addEventListener("click", function () { hooks.toggleMenu(kebab, member, actions); });
    return [kebab];
  }

  function cellsFor(member, variant, viewerIsAdmin, hooks, look) {
    return reorder([
      nameCell(member, variant, look),
      emailCell(member),
      roleCell(member, variant, viewerIsAdmin, hooks),
      statusCell(member, variant),
      actionsCell(member, variant, viewerIsAdmin, hooks, look)
    ], look);
  }

  function fill(parent, nodes) {
    nodes.forEach(function (node) { parent.appendChild(node); });
    return parent;
  }

  function headerLabels(variant, look) {
    return reorder(variant === "legacy" ? ["Name", "Email Address", "Role", "Status"] : ["Name", "Email", "Role", "Status"], look);
  }

  function renderGrid(data, hooks, look) { // current: react-table divs
    var viewerIsAdmin = data.viewer.is_admin;
    var table = el("div", { "class": "rt-table st-member-table", role: "table", "aria-label": "Team members" });
    var thead = el("div", { "class": "rt-thead", role: "rowgroup" });
    var headRow = el("div", { "class": "rt-tr", role: "row" });
    headerLabels("current", look).forEach(function (label) {
      headRow.appendChild(el("div", { "class": "rt-th", role: "columnheader" }, label));
    });
    headRow.appendChild(fill(el("div", { "class": "rt-th", role: "columnheader" }), [el("span", { "class": "st-sr-only" }, "Actions")]));
    thead.appendChild(headRow);
    table.appendChild(thead);
    var tbody = el("div", { "class": "rt-tbody", role: "rowgroup" });
    data.members.forEach(function (member) {
      var row = el("div", { "class": "rt-tr " + look.rowClass, role: "row", "data-member-id": member.id, "data-email": member.email });
      cellsFor(member, "current", viewerIsAdmin, hooks, look).forEach(function (nodes, index) {
        row.appendChild(fill(el("div", { "class": "rt-td" + (index === 4 ? " st-actions" : ""), role: "cell" }), nodes));
      });
      tbody.appendChild(row);
    });
    table.appendChild(tbody);
    return table;
  }

  function renderTable(data, variant, hooks, look) { // rbac2022 and legacy: a real <table>
    var viewerIsAdmin = data.viewer.is_admin;
    var table = el("table", { "class": variant === "legacy" ? "st-table st-team-table" : "st-table" });
    var headRow = el("tr");
    headerLabels(variant, look).forEach(function (label) { headRow.appendChild(el("th", { scope: "col" }, label)); });
    var actions = el("th", { scope: "col" });
    if (variant !== "legacy") actions.appendChild(el("span", { "class": "st-sr-only" }, "Actions"));
    headRow.appendChild(actions);
    table.appendChild(fill(el("thead"), [headRow]));
    var tbody = el("tbody");
    data.members.forEach(function (member) {
      var row = el("tr", { "class": look.rowClass, "data-member-id": member.id, "data-email": member.email });
      cellsFor(member, variant, viewerIsAdmin, hooks, look).forEach(function (nodes, index) {
        row.appendChild(fill(el("td", index === 4 ? { "class": "st-actions" } : null), nodes));
      });
      tbody.appendChild(row);
    });
    table.appendChild(tbody);
    return table;
  }

  // The focusable controls of a container, for the dialog's focus trap.
  function focusables(container) {
    return Array.prototype.filter.call(
      container.querySelectorAll("button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])"),
      function (node) { return !node.disabled; }
    );
  }

  function initMembers() {
    var root = document.getElementById("st-t-members-root");
    var section = root && root.closest("[data-members-api]");
    if (!section) return;
    var api = section.getAttribute("data-members-api");
    var invitationsApi = section.getAttribute("data-invitations-api");
    var variant = section.getAttribute("data-variant") || "current";
    var confirmDialog = section.getAttribute("data-confirm-dialog") !== "off";
    var successBanner = section.getAttribute("data-success-banner") !== "off";
    var look = section.getAttribute("data-drift") === "on" ? DRIFT : LOOK;
    var count = document.getElementById("st-t-member-count");
    var flash = document.getElementById("st-t-flash");
    var requestSeq = 0; // only the newest request may draw: clicks can overtake each other
    var currentPage = readPageFromUrl();
    var inFlight = {}; // member id -> true while a write for that row awaits its answer
    var openMenu = null; // { menu, trigger } of the open row menu
    var hooks = { act: act, toggleMenu: toggleMenu, changeRole: changeRole };
    var addButton = section.querySelector("#st-t-add-team-member, .st-add-member");
    var addTitle = variant === "legacy" ? "Add a Team Member" : null; // the title while seats are free

    // ---------------------------------------------------------------- banners

    function clearFlash() {
      if (flash) clear(flash);
    }

    function showBanner(kind, text) { // one banner at a time
      if (!flash) return;
      clear(flash);
      flash.appendChild(kind === "success"
        ? el("div", { "class": "st-alert st-alert--success", role: "status" }, text)
        : el("div", { "class": "st-alert st-alert--error", role: "alert" }, text));
    }

    // ---------------------------------------------------------------- the list

    function showSpinner() {
      closeMenu(false);
      clear(root);
      root.setAttribute("aria-busy", "true");
      root.appendChild(el("div", { "class": "st-spinner", role: "progressbar", "aria-label": "Loading members" }));
    }

    function showError() {
      clear(root);
      root.removeAttribute("aria-busy");
      // [P] text; no automatic retry: reloading the page tries again.
      root.appendChild(el("div", { "class": "st-alert st-alert--error", role: "alert" }, GENERIC_ERROR));
    }

    function keepPageInUrl(page) {
      var url = new URL(window.location.href);
      if (page === 1 && !url.searchParams.has("page")) return;
      url.searchParams.set("page", String(page));
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    }

    function render(data) {
      if (!MUTATIONS) {
        draw(data);
        return;
      }
      var seq = requestSeq; // a transform may draw late: never over a newer page
      MUTATIONS.listTiming({ root: root, section: section, count: count, data: data, variant: variant }, function () {
        if (seq === requestSeq) draw(data);
      });
    }

    function draw(data) {
      clear(root);
      root.removeAttribute("aria-busy");
      currentPage = data.page;
      count.textContent = formatCount(data.total, variant);
      var table = variant === "current" ? renderGrid(data, hooks, look) : renderTable(data, variant, hooks, look);
      root.appendChild(table);
      Object.keys(inFlight).forEach(function (id) { setRowBusy(id, true); });
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
      updateAddButton(data.seats);
      if (MUTATIONS) {
        MUTATIONS.run("list", { root: root, section: section, count: count, table: table, data: data, variant: variant });
      }
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

    // ---------------------------------------------------------------- the row menu

    function closeMenu(focusTrigger) {
      if (!openMenu) return;
      var closing = openMenu;
      openMenu = null;
      if (closing.menu.parentNode) closing.menu.parentNode.removeChild(closing.menu);
      closing.trigger.setAttribute("aria-expanded", "false");
      closing.trigger.removeAttribute("aria-controls");
      if (focusTrigger && document.body.contains(closing.trigger)) closing.trigger.focus();
    }

    function toggleMenu(trigger, member, actions) {
      if (openMenu && openMenu.trigger === trigger) {
        closeMenu(true);
        return;
      }
      closeMenu(false);
      var menu = el("div", {
        role: "menu", id: "st-t-member-menu-list-" + member.id, "class": "st-row-menu",
        "aria-label": "Actions for " + member.email
      });
      actions.forEach(function (key) {
        var spec = ACTIONS[key];
        var item = el("button", {
          type: "button", role: "menuitem", tabindex: "-1",
          "class": "st-row-menu__item" + (spec.danger ? " st-row-menu__item--danger" : "")
        }, key === "deactivate" ? look.deactivate.menu : spec.label);
        item.addEventListener("click", function () {
          closeMenu(false);
          act(key, member, trigger);
        });
        menu.appendChild(item);
      });
      if (MUTATIONS) MUTATIONS.run("dialog", { kind: "menu", menu: menu, member: member, variant: variant });
      menu.addEventListener("keydown", function (event) {
        var items = Array.prototype.slice.call(menu.querySelectorAll("[role=menuitem]"));
        var index = items.indexOf(document.activeElement);
        var target = null;
        if (event.key === "ArrowDown") target = items[(index + 1) % items.length];
        else if (event.key === "ArrowUp") target = items[(index - 1 + items.length) % items.length];
        else if (event.key === "Home") target = items[0];
        else if (event.key === "End") target = items[items.length - 1];
        else if (event.key === "Tab") closeMenu(false);
        if (target) {
          event.preventDefault();
          target.focus();
        }
      });
      trigger.parentNode.appendChild(menu);
      trigger.setAttribute("aria-expanded", "true");
      trigger.setAttribute("aria-controls", menu.id);
      openMenu = { menu: menu, trigger: trigger };
      menu.querySelector("[role=menuitem]").focus();
    }

    document.addEventListener("click", function (event) {
      if (openMenu && !openMenu.menu.contains(event.target) && !openMenu.trigger.contains(event.target)) {
        closeMenu(false);
      }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && openMenu) closeMenu(true);
    });

    // ---------------------------------------------------------------- the confirm dialog ([P])

    function confirmThen(key, member, trigger, proceed) {
      var kind = ACTIONS[key].confirm; // "deactivate" | "cancel-invitation"
      var dialogId = "st-t-confirm-" + kind;
      var title, lines, confirmLabel;
      if (kind === "deactivate") {
        title = "Deactivate " + (member.name && member.name.trim() ? member.name : member.email) + "?";
        lines = [member.email + " will lose access to this Stitch account. You can re-add them later."];
        if (member.invoice_admin) {
          lines.push("This user receives the account's invoices. Invoices will be sent to the account's Administrators.");
        }
        confirmLabel = look.deactivate.confirm;
      } else {
        title = "Cancel the invitation for " + member.email + "?";
        lines = ["The invitation link sent to " + member.email + " will stop working."];
        confirmLabel = "Cancel invitation";
      }
      var backdrop = el("div", { "class": "st-modal-backdrop" });
      var dialog = el("div", {
        role: "dialog", "aria-modal": "true", id: dialogId, "class": "st-modal",
        "aria-labelledby": dialogId + "-title", "aria-describedby": dialogId + "-body"
      });
      dialog.appendChild(el("h2", { id: dialogId + "-title" }, title)); // textContent: names are untrusted
      var body = el("div", { id: dialogId + "-body" });
      lines.forEach(function (line) { body.appendChild(el("p", null, line)); });
      dialog.appendChild(body);
      var dismiss = el("button", { type: "button", id: "st-t-confirm-dismiss-button", "class": "st-button" }, "Cancel");
      var confirm = el("button", { type: "button", id: dialogId + "-button", "class": "st-button st-button--danger" }, confirmLabel);
      dialog.appendChild(fill(el("div", { "class": "st-modal__actions" }), [dismiss, confirm]));
      backdrop.appendChild(dialog);
      if (MUTATIONS) {
        MUTATIONS.run("dialog", {
          kind: kind, dialog: dialog, backdrop: backdrop, title: dialog.firstChild, body: body,
          confirm: confirm, dismiss: dismiss, member: member, variant: variant
        });
      }

      function close(focusTrigger) {
        document.removeEventListener("keydown", onKey, true);
        if (backdrop.parentNode) backdrop.parentNode.removeChild(backdrop);
        if (focusTrigger && document.body.contains(trigger)) trigger.focus();
      }
      function onKey(event) {
        if (event.key === "Escape") {
          event.preventDefault();
          event.stopPropagation();
          close(true);
        } else if (event.key === "Tab") { // keep focus inside the dialog
          var nodes = focusables(dialog);
          var index = nodes.indexOf(document.activeElement);
          var nextIndex = event.shiftKey ? (index <= 0 ? nodes.length - 1 : index - 1) : (index + 1) % nodes.length;
          event.preventDefault();
          nodes[nextIndex].focus();
        }
      }
      dismiss.addEventListener("click", function () { close(true); });
      confirm.addEventListener("click", function () {
        close(false);
        proceed();
      });
      backdrop.addEventListener("click", function (event) {
        if (event.target === backdrop) close(true);
      });
      document.addEventListener("keydown", onKey, true);
      document.body.appendChild(backdrop);
      confirm.focus();
    }

    // ---------------------------------------------------------------- the requests

    function setRowBusy(id, busy) {
      Array.prototype.forEach.call(root.querySelectorAll("[data-member-id]"), function (row) {
        if (row.getAttribute("data-member-id") !== id) return;
        if (busy) row.setAttribute("aria-busy", "true");
        else row.removeAttribute("aria-busy");
        Array.prototype.forEach.call(row.querySelectorAll(".st-actions button, select[id^='st-t-member-role-']"), function (control) {
          control.disabled = busy;
        });
      });
    }

    function writeUrl(key, id) {
      var safeId = encodeURIComponent(id);
      if (key === "deactivate" || key === "reactivate") return api + "/" + safeId + "/" + key;
      if (key === "set_role") return api + "/" + safeId + "/role";
      return invitationsApi + "/" + safeId + (key === "cancel_invitation" ? "/cancel" : "/resend");
    }

    // One write request: onDone(null) after a 2xx, onDone(message) after a refusal (the server's
    // text) or a fault/network failure (GENERIC_ERROR, with fault = true). A 401 goes to sign-in.
    function request(method, url, body, onDone) {
      var init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      return fetch(url, init)
        .then(function (response) {
          if (response.status === 401) {
            goToSignIn(currentPage);
            return null;
          }
          if (response.ok) return onDone(null, false);
          if (response.status >= 500) return onDone(GENERIC_ERROR, true);
          return response.json().then(function (answer) {
            return answer && typeof answer.message === "string" && answer.message ? answer.message : GENERIC_ERROR;
          }, function () {
            return GENERIC_ERROR;
          }).then(function (message) { return onDone(message, false); });
        })
        .catch(function () { return onDone(GENERIC_ERROR, true); });
    }

    function act(key, member, trigger) {
      if (inFlight[member.id]) return; // no double submit
      clearFlash(); // a new action clears the previous banner
      if (confirmDialog && ACTIONS[key].confirm) {
        confirmThen(key, member, trigger, function () { send(key, member); });
      } else {
        send(key, member);
      }
    }

    function send(key, member) {
      if (inFlight[member.id]) return;
      inFlight[member.id] = true;
      setRowBusy(member.id, true);
      request("POST", writeUrl(key, member.id), undefined, function (message) {
        if (message === null) {
          if (successBanner) showBanner("success", ACTIONS[key].success);
          load(currentPage); // the row is gone (or shows its new status) after the re-fetch
        } else {
          showBanner("error", message);
        }
      }).then(function () {
        delete inFlight[member.id];
        setRowBusy(member.id, false);
      });
    }

    // ---------------------------------------------------------------- role changes ([P])

    function changeRole(member, select) {
      if (inFlight[member.id]) return;
      clearFlash();
      inFlight[member.id] = true;
      setRowBusy(member.id, true);
      request("PUT", writeUrl("set_role", member.id), { role: select.value }, function (message) {
        if (message === null) {
          if (successBanner) showBanner("success", ROLE_UPDATED);
        } else {
          showBanner("error", message);
        }
        // Either way the list shows the stored role again (a success may move the row).
        delete inFlight[member.id];
        load(currentPage);
      }).then(function () {
        delete inFlight[member.id];
        setRowBusy(member.id, false);
      });
    }

    // ---------------------------------------------------------------- Add a Team Member ([P] dialog)

    function updateAddButton(seats) {
      if (!addButton || !seats) return;
      var full = seats.limit !== null && seats.limit !== undefined && seats.used >= seats.limit;
      addButton.disabled = full;
      if (full) {
        addButton.setAttribute("title", "Your plan includes " + seats.limit + " users. Upgrade to add more team members."); // [P]
      } else if (addTitle) {
        addButton.setAttribute("title", addTitle);
      } else {
        addButton.removeAttribute("title");
      }
    }

    function field(form, id, label, control) {
      form.appendChild(el("label", { "for": id }, label));
      form.appendChild(control);
      return control;
    }

    function inviteForm() {
      var form = el("form", { id: "st-t-invite-form", novalidate: "" });
      var parts = {};
      if (variant === "legacy") { // [S-old] name + email
        parts.name = field(form, "st-t-invite-name", "Name", el("input", { id: "st-t-invite-name", name: "name", type: "text" }));
      }
      parts.email = field(form, "st-t-invite-email", "Email Address", el("input", { id: "st-t-invite-email", name: "email", type: "email" })); // [S] label
      if (variant !== "legacy") { // [P] the role, default General User
        var role = el("select", { id: "st-t-invite-role", name: "role" });
        ROLES.forEach(function (name) {
          var option = el("option", { value: name }, name);
          if (name === "General User") option.selected = true;
          role.appendChild(option);
        });
        parts.role = field(form, "st-t-invite-role", "Role", role);
      }
      parts.error = el("p", { id: "st-t-invite-error", "class": "st-form-error", role: "alert", hidden: "" });
      form.appendChild(parts.error);
      parts.cancel = el("button", { type: "button", id: "st-t-invite-cancel", "class": "st-button" }, "Cancel");
      parts.submit = el("button", { type: "submit", id: "st-t-send-invitation", "class": "st-button st-button--primary" }, "Send Invitation"); // [S] label
      form.appendChild(fill(el("div", { "class": "st-modal__actions" }), [parts.cancel, parts.submit]));
      parts.form = form;
      return parts;
    }

    function openInvite() {
      if (document.getElementById("st-t-invite-dialog")) return;
      clearFlash();
      var parts = inviteForm();
      var backdrop = el("div", { "class": "st-modal-backdrop" });
      var dialog = el("div", {
        role: "dialog", "aria-modal": "true", id: "st-t-invite-dialog", "class": "st-modal",
        "aria-labelledby": "st-t-invite-title"
      });
      dialog.appendChild(el("h2", { id: "st-t-invite-title" }, "Add a Team Member")); // [S]
      dialog.appendChild(parts.form);
      backdrop.appendChild(dialog);
      var sending = false;

      function setError(text) {
        parts.error.textContent = text || "";
        parts.error.hidden = !text;
      }
      function close() {
        document.removeEventListener("keydown", onKey, true);
        if (backdrop.parentNode) backdrop.parentNode.removeChild(backdrop);
        if (addButton && document.body.contains(addButton)) addButton.focus();
      }
      function onKey(event) {
        if (event.key === "Escape" && !sending) {
          event.preventDefault();
          event.stopPropagation();
          close();
        } else if (event.key === "Tab") {
          var nodes = focusables(dialog);
          var index = nodes.indexOf(document.activeElement);
          event.preventDefault();
          nodes[event.shiftKey ? (index <= 0 ? nodes.length - 1 : index - 1) : (index + 1) % nodes.length].focus();
        }
      }
      parts.cancel.addEventListener("click", function () { if (!sending) close(); });
      parts.form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (sending) return;
        var email = parts.email.value.trim();
        if (!email) return setError("Email is required"); // [P], nothing is sent
        if (!EMAIL_RE.test(email)) return setError("Please enter a valid email address"); // [P]
        setError("");
        clearFlash();
        var body = { email: email };
        if (parts.role) body.role = parts.role.value;
        if (parts.name && parts.name.value.trim()) body.name = parts.name.value.trim();
        sending = true;
        parts.submit.disabled = true;
        request("POST", invitationsApi, body, function (message, fault) {
          sending = false;
          parts.submit.disabled = false;
          if (message === null) {
            close();
            if (successBanner) showBanner("success", "Invitation sent to " + email.toLowerCase() + "."); // [P]
            load(currentPage);
          } else if (fault) {
            showBanner("error", message); // the dialog stays open, its error empty
          } else {
            setError(message);
          }
        });
      });
      document.addEventListener("keydown", onKey, true);
      document.body.appendChild(backdrop);
      (parts.name || parts.email).focus();
    }

    if (addButton) addButton.addEventListener("click", openInvite);

    load(currentPage);
  }

  function init() {
    initUserMenu();
    initMembers();
    var kind = document.body.getAttribute("data-page-kind");
    if (MUTATIONS && (kind === "app" || kind === "signin")) {
      var variant = (/st-body--(\S+)/.exec(document.body.className) || [])[1] || "current";
      MUTATIONS.run(kind, { document: document, variant: variant });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

// Stage admin: drag stages by their handle to reorder them (SortableJS). On drop the new
// order of stage ids is POSTed and the server's list replaces ours. Without JavaScript the
// up/down buttons do the same job.
(function () {
  "use strict";

  function csrfToken(list) {
    if (list.dataset.csrf) return list.dataset.csrf;
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function replaceList(list, html) {
    if (window.htmx && typeof window.htmx.swap === "function") {
      window.htmx.swap(list, html, { swapStyle: "outerHTML" });
    } else {
      list.outerHTML = html;
    }
  }

  function saveOrder(list) {
    var body = new URLSearchParams();
    list.querySelectorAll(":scope > [data-stage-id]").forEach(function (row) {
      body.append("stage_id", row.dataset.stageId);
    });
    list.classList.add("saving");
    list.setAttribute("aria-busy", "true");
    return fetch(list.dataset.reorderUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRFToken": csrfToken(list),
        "HX-Request": "true",
        "HX-Target": list.id
      },
      body: body
    }).then(function (response) {
      return response.text().then(function (html) {
        if (response.ok || response.status === 409) {
          replaceList(list, html);
        }
        if (!response.ok) {
          var message = response.headers.get("HX-Trigger");
          try { message = JSON.parse(message)["crm:toast"]; } catch (e) { message = null; }
          if (window.crmToast) window.crmToast(message || document.body.dataset.errorMessage);
          if (response.status !== 409) window.location.reload();
        }
      });
    }).catch(function () {
      if (window.crmToast) window.crmToast(document.body.dataset.errorMessage);
      window.location.reload();
    }).finally(function () {
      list.classList.remove("saving");
      list.removeAttribute("aria-busy");
    });
  }

  function initSortable(root) {
    if (typeof window.Sortable === "undefined") return;
    var lists = [];
    if (root.matches && root.matches("ol[data-reorder-url]")) lists.push(root);
    if (root.querySelectorAll) {
      root.querySelectorAll("ol[data-reorder-url]").forEach(function (el) { lists.push(el); });
    }
    lists.forEach(function (list) {
      if (list._sortable) return;
      list.classList.add("js-sortable");
      list._sortable = window.Sortable.create(list, {
        handle: ".drag-handle",
        draggable: ".stage-row",
        animation: 150,
        ghostClass: "stage-ghost",
        chosenClass: "stage-chosen",
        onEnd: function (event) {
          if (event.oldIndex === event.newIndex) return;
          saveOrder(list);
        }
      });
    });
  }

  function start() {
    initSortable(document);
    if (window.htmx) window.htmx.onLoad(initSortable);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
